"""`aitbc keys`: local ed25519 keys; one module per command."""

from __future__ import annotations

import click

from aitbc.cli.keys.add import add
from aitbc.cli.keys.list import list_
from aitbc.cli.keys.show import show


@click.group()
def keys() -> None:
    """Manage local keys (stored under $AITBC_HOME/keys, unencrypted: dev use)."""


for _command in (add, list_, show):
    keys.add_command(_command)
