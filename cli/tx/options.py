"""Options shared by the `aitbc tx` commands."""

from __future__ import annotations

import click

from aitbc.cli.chain_access import amount_arg

MODE = click.option("--mode", type=click.Choice(["sync", "commit"]), default="commit", show_default=True,
                    help="broadcast_tx_sync returns after CheckTx; commit waits for the block.")
FROM = click.option("--from", "signer", default="alice", show_default=True, envvar="AITBC_FROM",
                    help="Key name or address that signs [env: AITBC_FROM]")


def offer_options(f):
    """A miner's offer: --model (repeatable), --price, --capacity, --endpoint."""
    for option in reversed([
        click.option("--model", "models", multiple=True, required=True, help="A model served (repeatable)."),
        click.option("--price", callback=amount_arg, default="0.02", show_default=True,
                     help="Price per compute second."),
        click.option("--capacity", default=1, show_default=True, help="Jobs run at once."),
        click.option("--endpoint", default="", help="Where the coordinator pushes assignments."),
    ]):
        f = option(f)
    return f
