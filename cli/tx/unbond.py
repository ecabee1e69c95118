"""`aitbc tx unbond`."""

from __future__ import annotations

import click

from aitbc.cli.context import Context, json_option, pass_ctx
from aitbc.cli.tx.broadcast import send
from aitbc.cli.tx.options import FROM, MODE


@click.command("unbond")
@FROM
@MODE
@json_option
@pass_ctx
def unbond(ctx: Context, signer: str, mode: str) -> None:
    """Return the whole stake and stop offering (refused while jobs are assigned)."""
    send(ctx, signer, "unbond", mode)
