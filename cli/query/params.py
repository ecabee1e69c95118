"""`aitbc query params`."""

from __future__ import annotations

import click

from aitbc.cli.context import Context, json_option, pass_ctx
from aitbc.cli.query.show import record_lines, show


@click.command("params")
@json_option
@pass_ctx
def params(ctx: Context) -> None:
    """Chain parameters and the coordinator's address."""
    show(ctx, "/params", record_lines)
