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
from aitbc.rpc import ChainRPC


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


# Txs per JSON-RPC batch in `fill`; cometbft refuses a batch of more than
# [rpc] max_request_batch_size requests (10 by default) as a whole, with HTTP 200.
BATCH = 250


def fast_validator(home: Path, snapshot_interval: int, timeout_commit: str = "10ms",
                   params: dict[str, int] | None = None) -> nodehome.Node:
    """A single validator (factory keys funded) that makes a block every few ms,
    takes batches of BATCH requests, and snapshots every `snapshot_interval`
    blocks; `params`: chain parameters other than the defaults. Not started."""
    nodehome.init_home(home, CHAIN_ID, _free_ports(), dict(KEYS), params)
    _set_config(home, "consensus", "timeout_commit", json.dumps(timeout_commit))
    _set_config(home, "rpc", "max_request_batch_size", str(BATCH))
    _set_snapshots(home, snapshot_interval, keep=2)
    return nodehome.Node(home, python=sys.executable)


def _batch(http: httpx.Client, method: str, txs: list[bytes]) -> list[dict]:
    """The results of one JSON-RPC batch of `method` calls, one per tx; RuntimeError for
    an error reply (cometbft refuses a batch over max_request_batch_size with one)."""
    calls = [{"jsonrpc": "2.0", "id": n, "method": method, "params": {"tx": base64.b64encode(raw).decode()}}
             for n, raw in enumerate(txs)]
    replies = http.post("/", json=calls).raise_for_status().json()
    if isinstance(replies, dict):  # a batch of one, or a refused batch (one error reply)
        replies = [replies]
    errors = [reply["error"] for reply in replies if "error" in reply]
    if errors:
        raise RuntimeError(f"{len(errors)} of {len(txs)} {method} calls failed, first: {json.dumps(errors[0])}")
    return [reply["result"] for reply in replies]


def _lagging(chain: ChainRPC, signer: Signer, txs: dict[str, list[bytes]]) -> dict[str, int]:
    """The keys whose nonce on chain does not count all their txs yet, with that nonce."""
    nonces = {name: chain.query(f"/account/{KEYS[name].address}")["nonce"] for name in txs}
    return {name: nonce for name, nonce in nonces.items() if nonce != signer.nonces[KEYS[name].address]}


def _wait_committed(http: httpx.Client, chain: ChainRPC, signer: Signer, txs: dict[str, list[bytes]],
                    timeout: float) -> None:
    """Until every tx of every key is in a block (its account's nonce counts them all).
    TimeoutError otherwise, with what CheckTx now says of the first missing tx."""
    deadline = time.monotonic() + timeout
    while lagging := _lagging(chain, signer, txs):
        if time.monotonic() > deadline:
            name, nonce = next(iter(lagging.items()))
            sent, expected = txs[name], signer.nonces[KEYS[name].address]
            try:
                why = _batch(http, "broadcast_tx_sync", [sent[nonce - expected + len(sent)]])[0] \
                    if nonce < expected else "a nonce past what was sent"
            except RuntimeError as err:
                why = str(err)
            raise TimeoutError(f"{name}: {len(sent)} txs sent, nonce on chain {nonce} after {timeout:.0f} s; "
                               f"the first missing tx now gets {why}")
        time.sleep(0.2)


def fill(rpc_url: str, jobs: int, transfers: int, timeout: float = 120) -> list[str]:
    """Put `jobs` submit_job and `transfers` transfer txs into blocks and return the
    ids of the jobs (each stays in state: pending, then expired).

    Sent as JSON-RPC batches of broadcast_tx_async (cometbft passes a batch to the
    mempool in order, so each key's nonces arrive in order; ~7x faster than
    broadcast_tx_sync, which waits for every CheckTx). async only says a tx was
    received, so fill then waits until every key's nonce on chain counts all its
    txs (TimeoutError after `timeout` s). Needs a node whose RPC takes batches
    of BATCH (`fast_validator`). Fees: the default rule, as on a real node."""
    signer = Signer(fee=None)
    clients = ("alice", "bob", "miner1", "miner2")
    job_ids, txs = [], []
    by_key: dict[str, list[bytes]] = {name: [] for name in clients}
    for i in range(jobs):
        job_ids.append(signer.next_job_id(clients[i % 4]))
        by_key[clients[i % 4]].append(signer.tx(clients[i % 4], "submit_job", **submit_fields()))
        txs.append(by_key[clients[i % 4]][-1])
    for i in range(transfers):
        by_key["alice"].append(signer.tx("alice", "transfer", to=KEYS["bob"].address, amount=i + 1))
        txs.append(by_key["alice"][-1])
    with httpx.Client(base_url=rpc_url, timeout=60) as http:
        for start in range(0, len(txs), BATCH):
            _batch(http, "broadcast_tx_async", txs[start:start + BATCH])
        chain = ChainRPC(rpc_url)
        try:
            _wait_committed(http, chain, signer, by_key, timeout)
        finally:
            chain.close()
    return job_ids


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
