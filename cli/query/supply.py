"""`aitbc query supply`."""

from __future__ import annotations

import click

from aitbc.units import format_amount
from aitbc.cli.context import Context, json_option, pass_ctx
from aitbc.cli.query.show import show


@click.command("supply")
@json_option
@pass_ctx
def supply(ctx: Context) -> None:
    """Total supply, escrow, stake and circulating balances."""
    show(ctx, "/supply", lambda s: "\n".join(f"{k + ':':<12} {format_amount(v)}" for k, v in sorted(s.items())))
