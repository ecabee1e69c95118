"""`aitbc tx update-miner`."""

from __future__ import annotations

import click

from aitbc.cli.chain_access import amount_arg
from aitbc.cli.context import Context, json_option, pass_ctx
from aitbc.cli.tx.broadcast import send
from aitbc.cli.tx.options import FROM, MODE, offer_options


@click.command("update-miner")
@click.option("--add-stake", callback=amount_arg, default="0", show_default=True)
@offer_options
@FROM
@MODE
@json_option
@pass_ctx
def update_miner(ctx: Context, add_stake: int, models: tuple[str, ...], price: int, capacity: int, endpoint: str,
                 signer: str, mode: str) -> None:
    """Replace the miner's offer; optionally lock more stake."""
    send(ctx, signer, "update_miner", mode, models=list(models), price_per_second=price, capacity=capacity,
         endpoint=endpoint, add_stake=add_stake)
