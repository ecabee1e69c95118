"""`aitbc node init`: a node home with a genesis funding the dev keys."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import click

from aitbc.ops import nodehome
from aitbc.keyring import KeyError_
from aitbc.ops.tools import ToolMissing
from aitbc.cli.context import CLIError, Context, json_option, pass_ctx
from aitbc.cli.node.home import HOME, default_home


@click.command("init")
@HOME
@click.option("--chain-id", default="aitbc-local", show_default=True)
@click.option("--rpc-port", default=26657, show_default=True, envvar="AITBC_NODE_RPC_PORT",
              help="[env: AITBC_NODE_RPC_PORT]")
@click.option("--p2p-port", default=26656, show_default=True, envvar="AITBC_NODE_P2P_PORT",
              help="[env: AITBC_NODE_P2P_PORT]")
@click.option("--abci-port", default=26658, show_default=True, envvar="AITBC_NODE_ABCI_PORT",
              help="[env: AITBC_NODE_ABCI_PORT]")
@click.option("--metrics-port", default=0, envvar="AITBC_NODE_METRICS_PORT",
              help="cometbft's Prometheus /metrics; 0 = a free port [env: AITBC_NODE_METRICS_PORT; default: 0]")
@click.option("--app-metrics-port", default=0, envvar="AITBC_NODE_APP_METRICS_PORT",
              help="the app's Prometheus /metrics; 0 = a free port [env: AITBC_NODE_APP_METRICS_PORT; default: 0]")
@click.option("--pending-timeout", default=60, show_default=True, help="Seconds an unassigned job waits before it expires.")
@click.option("--job-timeout", default=600, show_default=True, help="Seconds an assigned job may run before it expires.")
@click.option("--force", is_flag=True, help="Delete an existing home first (its chain data is lost).")
@json_option
@pass_ctx
def init(ctx: Context, home: Path | None, chain_id: str, rpc_port: int, p2p_port: int, abci_port: int,
         metrics_port: int, app_metrics_port: int, pending_timeout: int, job_timeout: int, force: bool) -> None:
    """Write a node home with a genesis funding the dev keys
    (validator, coordinator, alice, bob, miner1), created if missing.

    An existing node home is left as it is (exit 0), unless --force."""
    home = home or default_home()
    if home.exists() and not force:
        _keep_existing(ctx, home)
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
        ports = nodehome.Ports(rpc_port, p2p_port, abci_port, metrics_port, app_metrics_port)
        nodehome.init_home(home, chain_id, ports, dev_keys,
                           params={"pending_timeout_s": pending_timeout, "job_timeout_s": job_timeout})
    except ToolMissing as err:
        raise CLIError(str(err)) from None
    accounts = {name: key.address for name, key in dev_keys.items()}
    ctx.emit({"home": str(home), "chain_id": chain_id, "created": True, "rpc": f"http://127.0.0.1:{rpc_port}",
              "accounts": accounts},
             f"initialised {chain_id} in {home}\n" + "\n".join(f"  {n:<12} {a}" for n, a in accounts.items()))


def _keep_existing(ctx: Context, home: Path) -> None:
    """Running init again is harmless, so `aitbc node init && aitbc node start` works every time."""
    if not (home / "node.json").exists():
        raise CLIError(f"{home} exists but is not a node home (no node.json); choose another --home, "
                       "or --force to delete it and start a new chain there")
    chain = json.loads((home / "node.json").read_text())
    ctx.emit({"home": str(home), "chain_id": chain["chain_id"], "created": False,
              "rpc": nodehome.rpc_url(home)},
             f"{home} is already initialised ({chain['chain_id']}): left as it is; run `aitbc node start` "
             "(--force deletes it and starts a new chain)")
