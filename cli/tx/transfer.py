"""`aitbc tx transfer`."""

from __future__ import annotations

import click

from aitbc.cli.chain_access import amount_arg, resolve_address
from aitbc.cli.context import Context, json_option, pass_ctx
from aitbc.cli.tx.broadcast import send
from aitbc.cli.tx.options import FROM, MODE


@click.command("transfer")
@click.argument("to")
@click.argument("amount", callback=amount_arg)
@click.option("--memo", default="")
@FROM
@MODE
@json_option
@pass_ctx
def transfer(ctx: Context, to: str, amount: int, memo: str, signer: str, mode: str) -> None:
    """Send AMOUNT to TO (an address or key name); AMOUNT as 1.5, 1.5aitbc or 1500000uaitbc."""
    send(ctx, signer, "transfer", mode, memo=memo, to=resolve_address(ctx, to), amount=amount)
