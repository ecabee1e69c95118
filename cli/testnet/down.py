"""`aitbc testnet down`."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from aitbc.cli.context import Context, json_option, pass_ctx
from aitbc.cli.testnet.folder import DIR, load


@click.command("down")
@DIR
@click.option("--remove-data", is_flag=True, help="Also delete DIR (chain data, logs, keys of the nodes).")
@json_option
@pass_ctx
def down(ctx: Context, directory: Path | None, remove_data: bool) -> None:
    """Stop everything the testnet started; optionally delete its folder."""
    net = load(directory)
    net.stop()
    if remove_data:
        shutil.rmtree(net.directory)
    ctx.emit({"directory": str(net.directory), "stopped": True, "removed": remove_data},
             f"testnet in {net.directory} stopped" + (" and removed" if remove_data else ""))
