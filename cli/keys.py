"""`aitbc keys`: local ed25519 keys."""

from __future__ import annotations

import click

from aitbc.keyring import KeyError_
from aitbc.cli.context import CLIError, Context, json_option, pass_ctx


@click.group()
def keys() -> None:
    """Manage local keys (stored under $AITBC_HOME/keys, unencrypted: dev use)."""


@keys.command("add")
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


@keys.command("list")
@json_option
@pass_ctx
def list_(ctx: Context) -> None:
    """List stored keys."""
    entries = ctx.keyring.list()
    ctx.emit(entries, "\n".join(f"{e['name']:<14} {e['address']}" for e in entries) or "no keys")


@keys.command("show")
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
