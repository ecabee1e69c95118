"""`aitbc keys list`."""

from __future__ import annotations

import click

from aitbc.cli.context import Context, json_option, pass_ctx


@click.command("list")
@json_option
@pass_ctx
def list_(ctx: Context) -> None:
    """List stored keys."""
    entries = ctx.keyring.list()
    ctx.emit(entries, "\n".join(f"{e['name']:<14} {e['address']}" for e in entries) or "no keys")
