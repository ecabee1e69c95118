"""`aitbc node join`: a full-node home for a running chain (then `aitbc node start --home DIR`)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import click
import httpx

from aitbc.ops import hosts as hostnet, statesync
from aitbc.ops.tools import ToolMissing
from aitbc.cli.context import CLIError, Context, json_option, pass_ctx
from aitbc.cli.node.home import HOME, default_home


@click.command("join")
@HOME
@click.option("--genesis", type=click.Path(path_type=Path, dir_okay=False, exists=True), required=True,
              help="The chain's genesis.json (copy it from any node: HOME/cometbft/config/genesis.json).")
@click.option("--peers", required=True,
              help="Comma-separated NODE_ID@HOST:P2P_PORT of running nodes (hosts.json of `aitbc testnet "
                   "init --hosts` lists them; `cometbft show-node-id` on a node prints its id).")
@click.option("--host", "advertise", default=None,
              help="HOST[:P2P_PORT] this node is reached at by others (external_address), same port scheme "
                   "as `aitbc testnet init --hosts`: RPC = P2P+1, ABCI = P2P+2, metrics = P2P+3 and +4. [default: "
                   "ports 26656-26660, "
                   "no address advertised: the node only dials out]")
@click.option("--listen", default="0.0.0.0", show_default=True, help="Address RPC and P2P listen on.")
@click.option("--state-sync", is_flag=True,
              help="Restore the app's latest snapshot instead of replaying every block (needs --rpc-servers).")
@click.option("--rpc-servers", default=None,
              help="With --state-sync: comma-separated RPC URLs of nodes the light client checks headers "
                   "against (two different nodes are best); the first also gives the trusted header.")
@click.option("--force", is_flag=True, help="Delete an existing home first.")
@json_option
@pass_ctx
def join(ctx: Context, home: Path | None, genesis: Path, peers: str, advertise: str | None, listen: str,
         state_sync: bool, rpc_servers: str | None, force: bool) -> None:
    """Write a full-node home that follows a running chain; start it with `aitbc node start --home DIR`.

    It fetches every block from its peers and replays it (or, with --state-sync, restores a
    snapshot verified by CometBFT's light client). The node does not vote: the validator set
    is fixed in genesis. Adding validators is not supported, because it needs a design of its
    own (who may add voting power, against what stake, and slashing of validators that
    misbehave); it is out of scope for now."""
    home = (home or default_home()).resolve()
    try:
        peer_list = hostnet.parse_peers(peers)
        spec = hostnet.parse_hosts(advertise)[0] if advertise else hostnet.HostSpec("127.0.0.1")
    except hostnet.HostsError as err:
        raise click.BadParameter(str(err)) from None
    servers = [s.strip() for s in (rpc_servers or "").split(",") if s.strip()]
    if state_sync and not servers:
        raise click.BadParameter("--state-sync needs --rpc-servers", param_hint="--rpc-servers")
    if home.exists() and any(home.iterdir()):
        if not force:
            raise CLIError(f"{home} is not empty; choose another --home, or --force to delete it")
        shutil.rmtree(home)
    trust = _trust_point(servers[0]) if state_sync else None
    try:
        node_id = hostnet.join_home(home, genesis, peer_list, spec, listen, advertise=advertise is not None)
    except (ToolMissing, hostnet.HostsError) as err:
        raise CLIError(str(err)) from None
    except subprocess.CalledProcessError as err:
        raise CLIError(f"{' '.join(map(str, err.cmd))} failed: {(err.stderr or b'').decode().strip()}") from None
    if trust:
        statesync.configure(home, servers, trust[0], trust[1])
    out = {"home": str(home), "node_id": node_id, "peer": f"{node_id}@{spec.address}", "peers": peer_list,
           "rpc": f"http://127.0.0.1:{spec.ports.rpc}", "state_sync": bool(trust),
           "trust_height": trust[0] if trust else None}
    how = f"state sync from height {trust[0]}" if trust else "replaying every block from its peers"
    ctx.emit(out, f"node home for {spec.address} written to {home} (node id {node_id});\n"
                  f"start it with `aitbc node start --home {home}`: it catches up by {how}")


def _trust_point(rpc_url: str) -> tuple[int, str]:
    try:
        return statesync.trust_point(rpc_url)
    except (httpx.HTTPError, KeyError, ValueError) as err:
        raise CLIError(f"cannot read a trusted header from {rpc_url}: {err}") from None
