"""`aitbc explorer tx HASH`."""

from __future__ import annotations

import click

from aitbc.cli.context import Context
from aitbc.cli.explorer.decorators import explorer_command
from aitbc.cli.explorer.text import human_tx
from aitbc.explorer import chain


@explorer_command("tx")
@click.argument("tx_hash")
def tx(ctx: Context, tx_hash: str) -> None:
    """A transaction by hash, decoded, with its result and events."""
    data = chain.tx(ctx.rpc, tx_hash)
    ctx.emit(data, human_tx(data))
