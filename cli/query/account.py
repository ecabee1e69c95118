"""`aitbc query account`."""

from __future__ import annotations

import click

from aitbc.units import format_amount
from aitbc.cli.chain_access import resolve_address
from aitbc.cli.context import Context, json_option, pass_ctx
from aitbc.cli.query.show import show


@click.command("account")
@click.argument("who")
@json_option
@pass_ctx
def account(ctx: Context, who: str) -> None:
    """Balance and nonce of an address or key name."""
    show(ctx, f"/account/{resolve_address(ctx, who)}",
         lambda a: f"Address: {a['address']}\nBalance: {format_amount(a['balance'])}\nNonce:   {a['nonce']}")
