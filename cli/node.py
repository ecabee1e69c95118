"""`aitbc node`: a local single-node chain (cometbft + our ABCI app)."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from aitbc import nodehome
from aitbc.keyring import KeyError_, aitbc_home
from aitbc.tools import ToolMissing
from cli.context import CLIError, Context, json_option, pass_ctx


def default_home() -> Path:
    return aitbc_home() / "node"


@click.group()
def node() -> None:
    """Create and run a local single-node chain."""


@node.command("init")
@click.option("--home", type=click.Path(path_type=Path), default=None, help="Node home [default: $AITBC_HOME/node].")
@click.option("--chain-id", default="aitbc-local", show_default=True)
@click.option("--rpc-port", default=26657, show_default=True)
@click.option("--p2p-port", default=26656, show_default=True)
@click.option("--abci-port", default=26658, show_default=True)
@click.option("--pending-timeout", default=60, show_default=True, help="Seconds an unassigned job waits before it expires.")
@click.option("--job-timeout", default=600, show_default=True, help="Seconds an assigned job may run before it expires.")
@click.option("--force", is_flag=True, help="Delete an existing home first (its chain data is lost).")
@json_option
@pass_ctx
def init(ctx: Context, home: Path | None, chain_id: str, rpc_port: int, p2p_port: int, abci_port: int,
         pending_timeout: int, job_timeout: int, force: bool) -> None:
    """Write a node home with a genesis funding the dev keys
    (validator, coordinator, alice, bob, miner1), created if missing."""
    home = home or default_home()
    if home.exists():
        if not force:
            raise CLIError(f"{home} already exists; use --force to start a new chain there")
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
    ctx.emit({"home": str(home), "chain_id": chain_id, "rpc": f"http://127.0.0.1:{rpc_port}", "accounts": accounts},
             f"initialised {chain_id} in {home}\n" + "\n".join(f"  {n:<12} {a}" for n, a in accounts.items()))


@node.command("start")
@click.option("--home", type=click.Path(path_type=Path), default=None, help="Node home [default: $AITBC_HOME/node].")
@pass_ctx
def start(ctx: Context, home: Path | None) -> None:
    """Run the app and cometbft until Ctrl-C; logs in HOME/logs."""
    home = home or default_home()
    if not (home / "node.json").exists():
        raise CLIError(f"no node home at {home}: run `aitbc node init` first")
    runner = nodehome.Node(home)
    try:
        runner.start()
    except (ToolMissing, RuntimeError, TimeoutError) as err:
        runner.stop()
        raise CLIError(str(err)) from None
    ctx.progress(f"node running: RPC {runner.rpc}, logs in {home / 'logs'} (Ctrl-C to stop)")
    runner.run_forever()
    ctx.progress("node stopped")
