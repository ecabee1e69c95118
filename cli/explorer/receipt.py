"""`aitbc explorer receipt IDENT`."""

from __future__ import annotations

import click

from aitbc.cli.context import Context
from aitbc.cli.explorer.decorators import explorer_command
from aitbc.cli.explorer.text import receipt_text
from aitbc.explorer import chain


@explorer_command("receipt")
@click.argument("ident")
def receipt(ctx: Context, ident: str) -> None:
    """A receipt by receipt id or job id, with the tx that recorded it."""
    data = chain.receipt(ctx.rpc, ident)
    ctx.emit(data, receipt_text(data))
