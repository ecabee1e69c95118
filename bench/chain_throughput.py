"""Committed txs per second on one real node, 1 s blocks: our app or CometBFT's kvstore.

Same cometbft build and config, same load generator and tx size for both:
pre-built txs from several streams (for our app: signed transfers, one funded
sender per stream with consecutive nonces; for kvstore: `key=value` txs padded
to the same size), sent with broadcast_tx_sync on loopback for a fixed time;
then wait until the mempool drains and count txs per block.
Usage: python -m bench.chain_throughput [--app aitbc|kvstore] [--seconds 20] [--senders 16]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import tempfile
import time
from pathlib import Path

import httpx

from aitbc import nodehome, procs, tools, tx as txlib
from aitbc.crypto import PrivateKey

CHAIN_ID = "aitbc-bench"


async def load(rpc: str, streams: list[list[bytes]], seconds: float) -> dict:
    """One sequential stream per sender: a sender's nonces must arrive in order."""
    sent = accepted = 0
    deadline = time.monotonic() + seconds

    async def sender(client: httpx.AsyncClient, stream: list[bytes]) -> None:
        nonlocal sent, accepted
        for raw in stream:
            if time.monotonic() >= deadline:
                return
            body = {"jsonrpc": "2.0", "id": 1, "method": "broadcast_tx_sync",
                    "params": {"tx": base64.b64encode(raw).decode()}}
            answer = (await client.post(rpc, json=body)).json()
            sent += 1
            accepted += int("result" in answer and answer["result"]["code"] == 0)

    async with httpx.AsyncClient(timeout=30) as client:
        await asyncio.gather(*(sender(client, stream) for stream in streams))
    return {"sent": sent, "accepted": accepted}


def committed_per_block(rpc: str, first: int, last: int) -> list[tuple[int, int, str]]:
    rows = []
    for start in range(first, last + 1, 20):
        end = min(last, start + 19)
        meta = httpx.get(f"{rpc}/blockchain", params={"minHeight": start, "maxHeight": end}).json()["result"]
        rows += [(int(m["header"]["height"]), int(m["num_txs"]), m["header"]["time"]) for m in meta["block_metas"]]
    return sorted(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--senders", type=int, default=16)
    parser.add_argument("--per-sender", type=int, default=4000)
    parser.add_argument("--app", choices=["aitbc", "kvstore"], default="aitbc")
    args = parser.parse_args()
    print(json.dumps(run(args.app, args.seconds, args.senders, args.per_sender)))


def kvstore_command(port: int) -> list[str]:
    binary = tools.tools_dir() / f"abci-cli-{tools.COMETBFT_VERSION}" / "abci-cli"
    if not binary.exists():
        raise tools.ToolMissing(f"{binary} not found: run `make bench-setup`")
    return [str(binary), "kvstore", "--address", f"tcp://127.0.0.1:{port}", "--log_level", "error"]


def build_streams(app: str, senders: list[PrivateKey], per_sender: int) -> list[list[bytes]]:
    sink = PrivateKey.generate().address
    streams = [[txlib.build(k, CHAIN_ID, n, "transfer", to=sink, amount=1) for n in range(per_sender)]
               for k in senders]
    if app == "kvstore":
        size = len(streams[0][0])
        streams = [[f"s{i}n{n}=".encode().ljust(size, b"x") for n in range(per_sender)] for i in range(len(senders))]
    return streams


def run(app: str, seconds: float, sender_count: int, per_sender: int) -> dict:
    """Start a node with `app`, load it, return the figures."""
    senders = [PrivateKey.generate() for _ in range(sender_count)]
    keys = {f"s{i}": k for i, k in enumerate(senders)} | {"coordinator": PrivateKey.generate()}
    streams = build_streams(app, senders, per_sender)
    with tempfile.TemporaryDirectory() as directory:
        home = Path(directory) / "node"
        ports = nodehome.Ports(procs.free_port(), procs.free_port(), procs.free_port())
        nodehome.init_home(home, CHAIN_ID, ports, keys)
        node = nodehome.Node(home, app_command=kvstore_command(ports.abci) if app == "kvstore" else None).start()
        try:
            node.wait_for_height(2)
            first = node.height() + 1
            started = time.monotonic()
            sent = asyncio.run(load(node.rpc, streams, seconds))
            procs.wait_until(lambda: int(httpx.get(f"{node.rpc}/num_unconfirmed_txs").json()["result"]["total"]) == 0,
                             120, "mempool drained")
            last = node.height()
            rows = [r for r in committed_per_block(node.rpc, first, last)]
            busy = [r for r in rows if r[1]]
            committed = sum(r[1] for r in rows)
            from datetime import datetime
            span = (datetime.fromisoformat(busy[-1][2][:26].rstrip("Z")) -
                    datetime.fromisoformat(rows[0][2][:26].rstrip("Z"))).total_seconds() if busy else 0
            return {"app": app, **sent, "tx_bytes": len(streams[0][0]), "committed": committed,
                    "blocks": len(rows), "busy_blocks": len(busy), "span_s": round(span, 2),
                    "committed_tx_per_s": round(committed / span, 1) if span else 0,
                    "max_txs_in_block": max((r[1] for r in rows), default=0),
                    "load_seconds": round(time.monotonic() - started, 1)}
        finally:
            node.stop()


if __name__ == "__main__":
    main()
