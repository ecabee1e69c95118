"""`aitbc query receipt`."""

from __future__ import annotations

import click

from aitbc.cli.context import Context, json_option, pass_ctx
from aitbc.cli.query.show import record_lines, show


@click.command("receipt")
@click.argument("ident")
@json_option
@pass_ctx
def receipt(ctx: Context, ident: str) -> None:
    """A receipt by receipt id or job id."""
    show(ctx, f"/receipt/{ident}", record_lines)
