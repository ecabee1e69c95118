"""A chain grown fast to thousands of blocks, and full nodes that join it later,
by state sync or by replaying every block (the state-sync test and bench)."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from aitbc.ops import nodehome, procs, statesync, tools
from aitbc.ops.factories import CHAIN_ID, KEYS, Signer, submit_fields


def _set_config(home: Path, section: str, key: str, value: str) -> None:
    path = home / "cometbft" / "config" / "config.toml"
    path.write_text(nodehome.set_toml(path.read_text(), section, key, value))


def _free_ports() -> nodehome.Ports:
    return nodehome.Ports(rpc=procs.free_port(), p2p=procs.free_port(), abci=procs.free_port())


def _set_snapshots(home: Path, interval: int, keep: int) -> None:
    path = home / "node.json"
    data = json.loads(path.read_text())
    data["snapshots"] = {"interval": interval, "keep": keep}
    path.write_text(json.dumps(data, indent=2))


def fast_validator(home: Path, snapshot_interval: int, timeout_commit: str = "10ms") -> nodehome.Node:
    """A single validator (factory keys funded) that makes a block every few ms and
    snapshots every `snapshot_interval` blocks. Not started."""
    nodehome.init_home(home, CHAIN_ID, _free_ports(), dict(KEYS))
    _set_config(home, "consensus", "timeout_commit", json.dumps(timeout_commit))
    _set_snapshots(home, snapshot_interval, keep=2)
    return nodehome.Node(home, python=sys.executable)


def fill(rpc_url: str, jobs: int, transfers: int, batch: int = 250, timeout: float = 120) -> None:
    """Put `jobs` submit_job and `transfers` transfer txs into blocks (JSON-RPC batches of
    broadcast_tx_async, then wait for the mempool to drain); every job stays in state."""
    signer = Signer(fee=None)
    clients = ("alice", "bob", "miner1", "miner2")
    txs = [signer.tx(clients[i % 4], "submit_job", **submit_fields()) for i in range(jobs)]
    txs += [signer.tx("alice", "transfer", to=KEYS["bob"].address, amount=i + 1) for i in range(transfers)]
    with httpx.Client(base_url=rpc_url, timeout=30) as http:
        for start in range(0, len(txs), batch):
            calls = [{"jsonrpc": "2.0", "id": n, "method": "broadcast_tx_async",
                      "params": {"tx": base64.b64encode(raw).decode()}}
                     for n, raw in enumerate(txs[start:start + batch])]
            http.post("/", json=calls).raise_for_status()
        deadline = time.monotonic() + timeout
        while int(http.get("/num_unconfirmed_txs").json()["result"]["total"]) > 0:
            if time.monotonic() > deadline:
                raise TimeoutError("mempool did not drain")
            time.sleep(0.1)


def joining_node(source: nodehome.Node, home: Path, state_sync: bool) -> nodehome.Node:
    """A full node (not a validator) for `source`'s chain, peered with it; with
    `state_sync`, trusting `source`'s newest snapshot height. Not started."""
    cometbft_home = home / "cometbft"
    subprocess.run([tools.cometbft(), "init", "--home", str(cometbft_home)], check=True, capture_output=True)
    shutil.copy(source.home / "cometbft" / "config" / "genesis.json", cometbft_home / "config" / "genesis.json")
    ports = _free_ports()
    nodehome.configure(cometbft_home, ports, moniker=home.name)
    source_id = subprocess.run([tools.cometbft(), "show-node-id", "--home", str(source.home / "cometbft")],
                               check=True, capture_output=True, text=True).stdout.strip()
    _set_config(home, "p2p", "persistent_peers", json.dumps(f"{source_id}@127.0.0.1:{source.ports.p2p}"))
    (home / "node.json").write_text(json.dumps({"chain_id": CHAIN_ID, "ports": {
        "rpc": ports.rpc, "p2p": ports.p2p, "abci": ports.abci}, "snapshots": {"interval": 0, "keep": 2}}))
    if state_sync:
        newest = max(int(p.name) for p in (source.home / "data" / "snapshots").iterdir() if p.name.isdigit())
        height, block_hash = statesync.trust_point(source.rpc, newest)
        statesync.configure(home, [source.rpc.removeprefix("http://")], height, block_hash)
    return nodehome.Node(home, python=sys.executable)


def status(rpc_url: str) -> dict:
    return httpx.get(f"{rpc_url}/status", timeout=5).json()["result"]


def wait_caught_up(node: nodehome.Node, height: int, timeout: float) -> float:
    """Seconds until `node` has block `height` and says it is caught up."""
    started = time.monotonic()

    def caught_up() -> bool:
        try:
            sync = status(node.rpc)["sync_info"]
        except (httpx.HTTPError, KeyError, ValueError):
            return False
        return int(sync["latest_block_height"]) >= height and not sync["catching_up"]

    procs.wait_until(caught_up, timeout, f"caught up to {height}", node.cometbft, node.home / "logs" / "node.log")
    return time.monotonic() - started


def wait_for_snapshot(home: Path, height: int, timeout: float) -> None:
    """Until the node at `home` has finished writing its snapshot at `height`."""
    metadata = home / "data" / "snapshots" / f"{height:012d}" / "metadata"
    procs.wait_until(metadata.exists, timeout, f"snapshot at height {height}")
