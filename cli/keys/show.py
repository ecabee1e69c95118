"""`aitbc keys show NAME`."""

from __future__ import annotations

import click

from aitbc.keyring import KeyError_
from aitbc.cli.context import CLIError, Context, json_option, pass_ctx


@click.command("show")
@click.argument("name")
@json_option
@pass_ctx
def show(ctx: Context, name: str) -> None:
    """Show the address and public key of NAME."""
    try:
        key = ctx.keyring.get(name)
    except KeyError_ as err:
        raise CLIError(str(err)) from None
    ctx.emit({"name": name, "address": key.address, "public_key": key.public_key.hex()},
             f"Address:    {key.address}\nPublic key: {key.public_key.hex()}")
