"""A load generator for one CometBFT node, run as its own process.

Everything is prepared before the clock starts: the txs are pre-signed and
pre-encoded as JSON-RPC `broadcast_tx_async` calls; during the run the
generator only joins them into batches (JSON-RPC batch requests, at most
`batch` calls each, CometBFT's `max_request_batch_size`) and writes them on
several raw HTTP/1.1 keep-alive connections. `broadcast_tx_async` returns as
soon as CometBFT has queued the CheckTx, so nothing waits for a block or for
the 20 ms flush throttle of CometBFT's socket client (which is what bounds
`broadcast_tx_sync` callers).

Ordering: the txs of one stream (one sender, consecutive nonces) are sent by
one connection at a time, in order; CometBFT queues CheckTx calls in arrival
order, so nonces reach the app in order. A call rejected before CheckTx
(mempool full, recheck in progress) rewinds its stream to that tx.

Flow control: txs sent but not yet in a block (mempool + CheckTx in flight)
are kept at most `high`, CometBFT's mempool size, so that a tx that passed
CheckTx is never dropped for lack of room (a dropped transfer would leave a
nonce gap that stalls its sender). A monitor polls `num_unconfirmed_txs`
(the backlog samples the report shows) and the new blocks' tx counts every
`sample_s`.

Usage: python -m bench.loadgen SPEC.json OUT.json  (see `run_load` for SPEC)
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import deque
from dataclasses import dataclass, field


@dataclass
class Stream:
    calls: list[bytes]          # pre-encoded JSON-RPC calls, in nonce order
    cursor: int = 0


@dataclass
class Stats:
    sent: int = 0
    requests: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    samples: list[tuple[float, int]] = field(default_factory=list)  # (s since start, mempool txs)
    paused_s: float = 0.0
    sent_per_s: list[int] = field(default_factory=list)


def encode_calls(txs_b64: list[str], first_id: int) -> list[bytes]:
    return [b'{"jsonrpc":"2.0","id":%d,"method":"broadcast_tx_async","params":{"tx":"%s"}}'
            % (first_id + i, tx.encode()) for i, tx in enumerate(txs_b64)]


class Conn:
    """One raw HTTP/1.1 keep-alive connection to the RPC port."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def post(self, body: bytes, path: bytes = b"/", headers: bytes = b"") -> bytes:
        return (await self.request(body, path, headers))[1]

    async def request(self, body: bytes, path: bytes = b"/", headers: bytes = b"") -> tuple[int, bytes]:
        """POST `body`; (HTTP status, response body)."""
        head = (b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n"
                % (path, self.host.encode(), len(body), headers))
        self.writer.write(head + body)
        answer = await self._response()
        return self.status, answer

    status = 0

    async def _response(self) -> bytes:
        header = await self.reader.readuntil(b"\r\n\r\n")
        self.status = int(header.split(b" ", 2)[1])
        length, chunked = 0, False
        for line in header.split(b"\r\n"):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if not chunked:
            return await self.reader.readexactly(length)
        out = bytearray()
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await self.reader.readexactly(size + 2)
            if size == 0:
                return bytes(out)
            out += chunk[:-2]

    async def get(self, path: str) -> bytes:
        self.writer.write(b"GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path.encode(), self.host.encode()))
        return await self._response()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _error_kind(message: str) -> str:
    text = message.lower()
    for kind in ("mempool is full", "recheck", "already exists in cache", "too large"):
        if kind in text:
            return kind
    return text[:60]


async def _generate(host: str, port: int, streams: list[Stream], seconds: float, connections: int, batch: int,
                    high: int, sample_s: float) -> Stats:
    stats = Stats()
    ready: deque[int] = deque(range(len(streams)))
    start = time.monotonic()
    deadline = start + seconds
    per_second = [0] * (int(seconds) + 2)
    committed = {"txs": 0, "height": 0}
    paused_at: list[float] = []

    async def consensus_height(conn: Conn) -> int:
        state = json.loads(await conn.get("/consensus_state"))
        return int(state["result"]["round_state"]["height/round/step"].split("/")[0])

    async def monitor() -> None:
        conn = Conn(host, port)
        await conn.open()
        try:
            # A block's txs count as committed once consensus has moved past its height:
            # only then has CometBFT removed them from the mempool (the block store, and
            # so /blockchain, has the block a little earlier).
            committed["height"] = await consensus_height(conn) - 1
            while time.monotonic() < deadline + 0.5:
                body = json.loads(await conn.get("/num_unconfirmed_txs?limit=1"))
                total = int(body["result"]["total"])
                done = await consensus_height(conn) - 1
                if done > committed["height"]:
                    metas = json.loads(await conn.get(
                        f"/blockchain?minHeight={committed['height'] + 1}&maxHeight={done}"))
                    for meta in metas["result"]["block_metas"]:
                        committed["txs"] += int(meta["num_txs"])
                    committed["height"] = done
                stats.samples.append((round(time.monotonic() - start, 3), total))
                await asyncio.sleep(sample_s)
        finally:
            conn.close()

    async def worker() -> None:
        conn = Conn(host, port)
        await conn.open()
        try:
            while time.monotonic() < deadline:
                if not ready:
                    if all(s.cursor >= len(s.calls) for s in streams):
                        return  # every tx sent
                    await asyncio.sleep(0.001)
                    continue
                # Sent but not yet in a block: mempool + CheckTx in flight. Kept under
                # the mempool's size so that no tx that passed CheckTx is dropped.
                if stats.sent - committed["txs"] + batch > high:
                    t = time.monotonic()
                    await asyncio.sleep(0.002)
                    stats.paused_s += (time.monotonic() - t) / connections
                    continue
                index = ready.popleft()
                stream = streams[index]
                calls = stream.calls[stream.cursor:stream.cursor + batch]
                if not calls:
                    continue  # this stream is done; drop it
                stats.sent += len(calls)  # counted before the await: the others see it at once
                answer = await conn.post(b"[" + b",".join(calls) + b"]")
                stats.requests += 1
                accepted = len(calls)
                if b'"error"' in answer:
                    for i, item in enumerate(json.loads(answer)):
                        if "error" in item:
                            kind = _error_kind(str(item["error"].get("data") or item["error"].get("message")))
                            stats.rejected[kind] = stats.rejected.get(kind, 0) + 1
                            accepted = i  # rewind: later calls of this batch hit a nonce gap
                            break
                    stats.sent -= len(calls) - accepted
                    if accepted == 0:
                        await asyncio.sleep(0.01)
                stream.cursor += accepted
                per_second[min(int(time.monotonic() - start), len(per_second) - 1)] += accepted
                ready.append(index)
        finally:
            conn.close()

    watcher = asyncio.create_task(monitor())
    await asyncio.gather(*(worker() for _ in range(connections)))
    await watcher
    stats.sent_per_s = per_second[:int(seconds) + 1]
    return stats


def run_load(spec: dict) -> dict:
    """SPEC: host, port, streams (lists of base64 txs), seconds, connections, batch, high, sample_s."""
    next_id, streams = 1, []
    for txs in spec["streams"]:
        streams.append(Stream(encode_calls(txs, next_id)))
        next_id += len(txs)
    started = time.time()
    stats = asyncio.run(_generate(spec["host"], spec["port"], streams, spec["seconds"], spec["connections"],
                                  spec["batch"], spec["high"], spec["sample_s"]))
    return {"started_unix": started, "sent": stats.sent, "requests": stats.requests, "rejected": stats.rejected,
            "paused_s": round(stats.paused_s, 2), "samples": stats.samples, "sent_per_s": stats.sent_per_s,
            "exhausted": all(s.cursor >= len(s.calls) for s in streams)}


def main() -> None:
    spec_path, out_path = sys.argv[1], sys.argv[2]
    with open(spec_path) as f:
        spec = json.load(f)
    result = run_load(spec)
    with open(out_path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
