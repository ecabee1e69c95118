"""`aitbc query miner`."""

from __future__ import annotations

import click

from aitbc.cli.chain_access import resolve_address
from aitbc.cli.context import Context, json_option, pass_ctx
from aitbc.cli.query.show import record_lines, show


@click.command("miner")
@click.argument("who")
@json_option
@pass_ctx
def miner(ctx: Context, who: str) -> None:
    """A miner's record: stake, models, price, capacity, reputation."""
    show(ctx, f"/miner/{resolve_address(ctx, who)}", record_lines)
