"""`aitbc explorer account ADDRESS`."""

from __future__ import annotations

import click

from aitbc.cli.chain_access import resolve_address
from aitbc.cli.context import Context
from aitbc.cli.explorer.decorators import explorer_command
from aitbc.cli.explorer.text import account_text
from aitbc.explorer import chain


@explorer_command("account")
@click.argument("address")
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True, help="History entries.")
def account(ctx: Context, address: str, limit: int) -> None:
    """Balance, nonce, miner record and history of ADDRESS (an address or key name)."""
    address = resolve_address(ctx, address)
    data = chain.account(ctx.rpc, address, limit)
    ctx.emit(data, account_text(data, address))
