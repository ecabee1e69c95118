"""`aitbc testnet start-node INDEX`."""

from __future__ import annotations

from pathlib import Path

import click

from aitbc.ops import testnet as tn
from aitbc.cli.context import CLIError, Context, json_option, pass_ctx
from aitbc.cli.testnet.folder import DIR, load


@click.command("start-node")
@click.argument("index", type=int)
@DIR
@click.option("--timeout", default=60.0, show_default=True)
@json_option
@pass_ctx
def start_node(ctx: Context, index: int, directory: Path | None, timeout: float) -> None:
    """Start node INDEX again (or say it already runs); it catches up with the others by itself."""
    net = load(directory)
    try:
        running = net.running(index)
    except tn.NetError as err:
        raise CLIError(str(err)) from None
    if all(running.values()):
        node = net.node(index)
        ctx.emit({"index": index, "rpc": node.rpc, "started": False, "already_running": True},
                 f"node{index} is already running: {node.rpc}")
        return
    try:
        net.start([index], timeout=timeout)
    except tn.NetError as err:
        raise CLIError(str(err)) from None
    except (RuntimeError, TimeoutError) as err:
        net.stop_node(index)
        raise CLIError(f"node{index} did not start: {err}") from None
    node = net.node(index)
    ctx.emit({"index": index, "rpc": node.rpc, "started": True}, f"node{index} started: {node.rpc}")
