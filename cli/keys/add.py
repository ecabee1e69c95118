"""`aitbc keys add NAME`."""

from __future__ import annotations

import click

from aitbc.keyring import KeyError_
from aitbc.cli.context import CLIError, Context, json_option, pass_ctx


@click.command("add")
@click.argument("name")
@click.option("--force", is_flag=True, help="Replace an existing key of that name.")
@json_option
@pass_ctx
def add(ctx: Context, name: str, force: bool) -> None:
    """Create a new key NAME."""
    try:
        key = ctx.keyring.add(name, overwrite=force)
    except KeyError_ as err:
        raise CLIError(str(err)) from None
    ctx.emit({"name": name, "address": key.address, "public_key": key.public_key.hex()},
             f"{name}: {key.address}")
