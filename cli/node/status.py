"""`aitbc node status`: is the node running; exit 3 when it is not."""

from __future__ import annotations

import time
from pathlib import Path

import click
import httpx

from aitbc.ops import nodehome
from aitbc.cli.context import CLIError, Context, json_option, pass_ctx
from aitbc.cli.node.home import HOME, default_home


class NodeNotRunning(CLIError):
    exit_code = 3  # as for any node that cannot be reached


@click.command("status")
@HOME
@click.option("--wait", "wait_s", type=float, default=0, show_default=True,
              help="Seconds to wait for the node to make blocks (after `aitbc node start &`).")
@json_option
@pass_ctx
def status(ctx: Context, home: Path | None, wait_s: float) -> None:
    """Is the node of HOME running: pid, RPC, chain and height; exit 3 when it is not."""
    home = home or default_home()
    if not (home / "node.json").exists():
        raise CLIError(f"no node home at {home}: run `aitbc node init` first")
    rpc = nodehome.rpc_url(home)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            info = httpx.get(f"{rpc}/status", timeout=2).json()["result"]
            height = int(info["sync_info"]["latest_block_height"])
            if height >= 1:
                break
        except (httpx.HTTPError, KeyError, ValueError):
            info = None
        if time.monotonic() >= deadline:
            state = "answers but has made no block yet" if info else "is not running"
            raise NodeNotRunning(f"the node in {home} {state} (RPC {rpc}); start it with `aitbc node start`")
        time.sleep(0.25)
    pid = nodehome.running_pid(home)
    chain = info["node_info"]["network"]
    ctx.emit({"home": str(home), "rpc": rpc, "pid": pid, "chain_id": chain, "height": height},
             f"node running: chain {chain}, height {height}, RPC {rpc}" + (f", pid {pid}" if pid else ""))
