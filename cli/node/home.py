"""Where `aitbc node` commands find the node home."""

from __future__ import annotations

from pathlib import Path

import click

from aitbc.keyring import aitbc_home


def default_home() -> Path:
    return aitbc_home() / "node"


HOME = click.option("--home", type=click.Path(path_type=Path), default=None,
                    help="Node home [default: $AITBC_HOME/node].")
