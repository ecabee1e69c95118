"""`aitbc query coordinator`."""

from __future__ import annotations

from typing import Any

import click

from aitbc.codes import Code
from aitbc.rpc import QueryFailed
from aitbc.cli.chain_access import chain_query, resolve_address
from aitbc.cli.context import CLIError, Context, json_option, pass_ctx
from aitbc.cli.query.show import record_lines


def registered(ctx: Context, address: str) -> dict[str, Any] | None:
    """The chain's record of a registered coordinator; None when it has none."""
    try:
        return ctx.rpc.query(f"/coordinator/{address}")
    except QueryFailed as err:
        if err.code == Code.NOT_FOUND:
            return None
    except Exception:  # noqa: BLE001 - node down or a bad answer: said below as every query says it
        pass
    return chain_query(ctx, f"/coordinator/{address}")


@click.command("coordinator")
@click.argument("who")
@json_option
@pass_ctx
def coordinator(ctx: Context, who: str) -> None:
    """A coordinator's record: url, bond, open jobs (WHO: an address or a key name).

    The genesis coordinator has no record on chain; it is shown with genesis: true and no bond."""
    address = resolve_address(ctx, who)
    genesis = chain_query(ctx, "/params")["coordinator"]
    record = registered(ctx, address)
    if record is None:
        if address != genesis:
            raise CLIError(f"{address} is not a coordinator: neither the genesis one nor registered "
                           "(see `aitbc query coordinators`)")
        record = {"address": address, "url": "", "bond": 0}
    record = {**record, "genesis": address == genesis}
    ctx.emit(record, record_lines(record))
