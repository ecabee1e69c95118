"""`aitbc query coordinators`."""

from __future__ import annotations

from typing import Any

import click

from aitbc.units import format_amount
from aitbc.explorer.chain import with_genesis
from aitbc.cli.chain_access import chain_query
from aitbc.cli.context import Context, json_option, pass_ctx
from aitbc.cli.tables import columns


def all_coordinators(ctx: Context) -> list[dict[str, Any]]:
    return with_genesis(chain_query(ctx, "/coordinators") or [], chain_query(ctx, "/params")["coordinator"])


def table(coordinators: list[dict[str, Any]]) -> str:
    rows = [[c["address"], c.get("url") or "-", format_amount(c["bond"]) if c.get("bond") else "-",
             "-" if c.get("open_jobs") is None else str(c["open_jobs"]), "genesis" if c["genesis"] else ""]
            for c in coordinators]
    return columns(["address", "url", "bond", "open jobs", ""], rows) if rows else "no coordinators"


@click.command("coordinators")
@json_option
@pass_ctx
def coordinators(ctx: Context) -> None:
    """All coordinators: the genesis one and the registered ones.

    The genesis coordinator has no bond; submit_job txs naming "" go to it.
    Open jobs count the jobs naming a coordinator that are not final yet (the chain keeps
    no count for the genesis one). --json: the chain's /coordinators records, the genesis
    coordinator added, each with "genesis": true/false."""
    found = all_coordinators(ctx)
    ctx.emit(found, table(found))
