"""`aitbc query coordinators`."""

from __future__ import annotations

from typing import Any

import click

from aitbc.units import format_amount
from aitbc.cli.context import Context, json_option, pass_ctx
from aitbc.cli.query.show import show
from aitbc.cli.tables import columns


def _role(coordinator: dict[str, Any]) -> str:
    if coordinator["genesis"]:
        return "genesis"
    if coordinator.get("leaving_height"):
        return f"leaving since height {coordinator['leaving_height']}"
    return ""


def table(coordinators: list[dict[str, Any]]) -> str:
    """One row per coordinator; the genesis one has no url on chain, no bond and no count of open jobs."""
    rows = [[c["address"], c["url"] or "-", format_amount(c["bond"]) if c["bond"] else "-",
             "-" if c["genesis"] else str(c["open_jobs"]), _role(c)]
            for c in coordinators]
    return columns(["address", "url", "bond", "open jobs", ""], rows) if rows else "no coordinators"


@click.command("coordinators")
@json_option
@pass_ctx
def coordinators(ctx: Context) -> None:
    """All coordinators: the genesis one and the registered ones.

    The genesis coordinator has no bond; submit_job txs naming "" go to it. Open jobs
    count the jobs naming a registered coordinator that are not final yet. One that
    unregistered while some were open is "leaving": no new job may name it, and its
    bond comes back when the last one closes."""
    show(ctx, "/coordinators", table)
