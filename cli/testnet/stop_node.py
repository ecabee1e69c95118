"""`aitbc testnet stop-node INDEX`."""

from __future__ import annotations

from pathlib import Path

import click

from aitbc.ops import testnet as tn
from aitbc.cli.context import CLIError, Context, json_option, pass_ctx
from aitbc.cli.testnet.folder import DIR, load


@click.command("stop-node")
@click.argument("index", type=int)
@DIR
@json_option
@pass_ctx
def stop_node(ctx: Context, index: int, directory: Path | None) -> None:
    """Stop node INDEX (its cometbft, then its app)."""
    net = load(directory)
    try:
        net.stop_node(index)
    except tn.NetError as err:
        raise CLIError(str(err)) from None
    ctx.emit({"index": index, "stopped": True}, f"node{index} stopped")
