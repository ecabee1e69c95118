"""`aitbc tx register-miner`."""

from __future__ import annotations

import click

from aitbc.cli.chain_access import amount_arg
from aitbc.cli.context import Context, json_option, pass_ctx
from aitbc.cli.tx.broadcast import send
from aitbc.cli.tx.options import FROM, MODE, offer_options


@click.command("register-miner")
@click.option("--stake", callback=amount_arg, default="100", show_default=True)
@offer_options
@FROM
@MODE
@json_option
@pass_ctx
def register_miner(ctx: Context, stake: int, models: tuple[str, ...], price: int, capacity: int, endpoint: str,
                   signer: str, mode: str) -> None:
    """Lock stake and register as a miner."""
    send(ctx, signer, "register_miner", mode, stake=stake, models=list(models), price_per_second=price,
         capacity=capacity, endpoint=endpoint)
