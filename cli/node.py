"""`aitbc node`: a local single-node chain (cometbft + our ABCI app)."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import click
import httpx

from aitbc.ops import nodehome
from aitbc.keyring import KeyError_, aitbc_home
from aitbc.ops.tools import ToolMissing
from aitbc.cli.context import CLIError, Context, json_option, pass_ctx


def default_home() -> Path:
    return aitbc_home() / "node"


@click.group()
def node() -> None:
    """Create and run a local single-node chain."""


@node.command("init")
@click.option("--home", type=click.Path(path_type=Path), default=None, help="Node home [default: $AITBC_HOME/node].")
@click.option("--chain-id", default="aitbc-local", show_default=True)
@click.option("--rpc-port", default=26657, show_default=True, envvar="AITBC_NODE_RPC_PORT",
              help="[env: AITBC_NODE_RPC_PORT]")
@click.option("--p2p-port", default=26656, show_default=True, envvar="AITBC_NODE_P2P_PORT",
              help="[env: AITBC_NODE_P2P_PORT]")
@click.option("--abci-port", default=26658, show_default=True, envvar="AITBC_NODE_ABCI_PORT",
              help="[env: AITBC_NODE_ABCI_PORT]")
@click.option("--pending-timeout", default=60, show_default=True, help="Seconds an unassigned job waits before it expires.")
@click.option("--job-timeout", default=600, show_default=True, help="Seconds an assigned job may run before it expires.")
@click.option("--force", is_flag=True, help="Delete an existing home first (its chain data is lost).")
@json_option
@pass_ctx
def init(ctx: Context, home: Path | None, chain_id: str, rpc_port: int, p2p_port: int, abci_port: int,
         pending_timeout: int, job_timeout: int, force: bool) -> None:
    """Write a node home with a genesis funding the dev keys
    (validator, coordinator, alice, bob, miner1), created if missing.

    An existing node home is left as it is (exit 0), unless --force."""
    home = home or default_home()
    if home.exists() and not force:
        if not (home / "node.json").exists():
            raise CLIError(f"{home} exists but is not a node home (no node.json); choose another --home, "
                           "or --force to delete it and start a new chain there")
        # Running init again is harmless, so `aitbc node init && aitbc node start` works every time.
        chain = json.loads((home / "node.json").read_text())
        ctx.emit({"home": str(home), "chain_id": chain["chain_id"], "created": False,
                  "rpc": nodehome.rpc_url(home)},
                 f"{home} is already initialised ({chain['chain_id']}): left as it is; run `aitbc node start` "
                 "(--force deletes it and starts a new chain)")
        return
    if home.exists():
        shutil.rmtree(home)
    dev_keys = {}
    for name in nodehome.DEV_ACCOUNTS:
        try:
            dev_keys[name] = ctx.keyring.get(name)
        except KeyError_:
            dev_keys[name] = ctx.keyring.add(name)
    try:
        nodehome.init_home(home, chain_id, nodehome.Ports(rpc_port, p2p_port, abci_port), dev_keys,
                           params={"pending_timeout_s": pending_timeout, "job_timeout_s": job_timeout})
    except ToolMissing as err:
        raise CLIError(str(err)) from None
    accounts = {name: key.address for name, key in dev_keys.items()}
    ctx.emit({"home": str(home), "chain_id": chain_id, "created": True, "rpc": f"http://127.0.0.1:{rpc_port}",
              "accounts": accounts},
             f"initialised {chain_id} in {home}\n" + "\n".join(f"  {n:<12} {a}" for n, a in accounts.items()))


@node.command("start")
@click.option("--home", type=click.Path(path_type=Path), default=None, help="Node home [default: $AITBC_HOME/node].")
@pass_ctx
def start(ctx: Context, home: Path | None) -> None:
    """Run the app and cometbft until Ctrl-C; logs in HOME/logs."""
    home = home or default_home()
    if not (home / "node.json").exists():
        raise CLIError(f"no node home at {home}: run `aitbc node init` first")
    pid = nodehome.running_pid(home)
    if pid:
        raise CLIError(f"the node in {home} is already running, pid {pid} (RPC {nodehome.rpc_url(home)})")
    busy = nodehome.busy_ports(home)
    if busy:
        # Started anyway, our processes would die on bind while the stranger answers our readiness checks.
        raise CLIError("already in use: " + ", ".join(f"port {port} ({name})" for name, port in busy.items())
                       + f"; another node runs on them (stop it, or init a home with other ports)")
    runner = nodehome.Node(home)
    try:
        runner.start()
    except (ToolMissing, RuntimeError, TimeoutError) as err:
        runner.stop()
        raise CLIError(str(err)) from None
    pid_file = home / nodehome.PID_FILE
    pid_file.write_text(f"{os.getpid()}\n")
    ctx.progress(f"node running: RPC {runner.rpc}, logs in {home / 'logs'} (Ctrl-C to stop)")
    try:
        died = runner.run_forever()
    finally:
        pid_file.unlink(missing_ok=True)
    if died:
        raise CLIError(f"node stopped: {died} (see {home / 'logs'})")
    ctx.progress("node stopped")


class NodeNotRunning(CLIError):
    exit_code = 3  # as for any node that cannot be reached


@node.command("status")
@click.option("--home", type=click.Path(path_type=Path), default=None, help="Node home [default: $AITBC_HOME/node].")
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
