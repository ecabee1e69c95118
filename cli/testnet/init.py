"""`aitbc testnet init --hosts`: one ready node home per host, for a network across machines."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import click

from aitbc.ops import hosts as hostnet
from aitbc.ops.tools import ToolMissing
from aitbc.cli.context import CLIError, Context, json_option, pass_ctx
from aitbc.cli.testnet.up import _dev_keys

HOSTS_HELP = """Comma-separated HOST[:P2P_PORT] entries, one validator each, in order (node0, node1, ...).
HOST is a DNS name or IPv4 address the other hosts reach this one at. Ports: HOST alone uses
26656 (P2P), 26657 (RPC), 26658 (ABCI, local only), 26659 and 26660 (cometbft's and the app's
Prometheus metrics); HOST:P uses P..P+4, so two nodes on one host need P2P ports at least 5 apart.
Example: 10.0.0.1,10.0.0.2,10.0.0.3,node4.example.org:27000"""


@click.command("init")
@click.option("--hosts", "hosts_text", required=True, help=HOSTS_HELP)
@click.option("--out", "out", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Folder for the homes: OUT/node<i> per host, OUT/hosts.json lists them.")
@click.option("--chain-id", default="aitbc-net", show_default=True)
@click.option("--listen", default="0.0.0.0", show_default=True,
              help="Address RPC and P2P listen on, on every host (0.0.0.0: every interface).")
@click.option("--miners", type=click.IntRange(1, 16), default=1, show_default=True,
              help="Fund keyring keys miner1..K (besides validator, coordinator, alice, bob).")
@click.option("--fund", "fund", multiple=True, metavar="ADDRESS",
              help="Also fund this address in genesis (repeatable).")
@click.option("--pending-timeout", default=60, show_default=True, help="Seconds an unassigned job waits.")
@click.option("--job-timeout", default=600, show_default=True, help="Seconds an assigned job may run.")
@click.option("--force", is_flag=True, help="Delete OUT first.")
@json_option
@pass_ctx
def init(ctx: Context, hosts_text: str, out: Path, chain_id: str, listen: str, miners: int, fund: tuple[str, ...],
         pending_timeout: int, job_timeout: int, force: bool) -> None:
    """Write one validator home per host: shared genesis, its validator key, persistent_peers
    with the real addresses, RPC and P2P on --listen, external_address = HOST:P2P.

    Genesis funds the keyring's dev keys (created if missing; the coordinator's address is
    fixed in genesis, so run the coordinator with this keyring's `coordinator` key) and every
    --fund address. Copy OUT/node<i> to host i (it holds that validator's private key) and
    run `aitbc node start --home DIR` there. Between hosts, open P2P to every other node;
    RPC only to clients, the coordinator and miners; never ABCI (docs/operations.md).

    The validator set is the one written here: the chain does not support adding or
    removing validators later (that needs a staking and slashing design of its own);
    more nodes join as full nodes with `aitbc node join`."""
    try:
        specs = hostnet.parse_hosts(hosts_text)
    except hostnet.HostsError as err:
        raise click.BadParameter(str(err), param_hint="--hosts") from None
    out = out.resolve()
    if out.exists() and any(out.iterdir()):
        if not force:
            raise CLIError(f"{out} is not empty; use --force to write new homes there")
        shutil.rmtree(out)
    params = {"pending_timeout_s": pending_timeout, "job_timeout_s": job_timeout}
    try:
        nodes = hostnet.create(out, specs, _dev_keys(ctx, miners), chain_id, params=params,
                               extra_accounts={a: hostnet.nodehome.DEV_BALANCE for a in fund}, listen=listen)
    except (ToolMissing, hostnet.HostsError) as err:
        raise CLIError(str(err)) from None
    except subprocess.CalledProcessError as err:
        raise CLIError(f"{' '.join(map(str, err.cmd))} failed: {(err.stderr or b'').decode().strip()}") from None
    lines = [f"{len(nodes)} node homes for {chain_id} in {out}:"]
    for node in nodes:
        lines.append(f"  node{node['index']}  {node['peer']}  RPC {node['host']}:{node['ports']['rpc']}")
    lines.append("copy node<i> to host i, then run there: aitbc node start --home <copied dir>")
    ctx.emit({"chain_id": chain_id, "directory": str(out), "nodes": nodes}, "\n".join(lines))
