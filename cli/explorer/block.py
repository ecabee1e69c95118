"""`aitbc explorer block HEIGHT`."""

from __future__ import annotations

import click

from aitbc.cli.context import Context
from aitbc.cli.explorer.decorators import explorer_command
from aitbc.cli.explorer.text import block_text
from aitbc.explorer import chain


@explorer_command("block")
@click.argument("height", type=click.IntRange(1))
def block(ctx: Context, height: int) -> None:
    """One block with its txs decoded and their results."""
    data = chain.block(ctx.rpc, height)
    ctx.emit(data, block_text(data))
