"""The testnet folder every `aitbc testnet` command works on (--dir / AITBC_TESTNET_DIR)."""

from __future__ import annotations

from pathlib import Path

import click

from aitbc.ops import testnet as tn
from aitbc.keyring import aitbc_home
from aitbc.cli.context import CLIError


def default_dir() -> Path:
    return aitbc_home() / "testnet"


DIR = click.option("--dir", "directory", type=click.Path(path_type=Path, file_okay=False), default=None,
                   envvar="AITBC_TESTNET_DIR", help="Testnet folder [default: $AITBC_HOME/testnet].")


def load(directory: Path | None) -> tn.Testnet:
    """The testnet recorded in `directory` (default_dir() when None). Raises CLIError."""
    try:
        return tn.Testnet.load(directory or default_dir())
    except tn.NetError as err:
        raise CLIError(str(err)) from None
