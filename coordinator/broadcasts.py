"""broadcast_tx_sync for many txs at once: JSON-RPC batches instead of one HTTP request per tx.

Every tx the coordinator sends (clients' submit_job and cancel_job, its own txs) waits
in a lane chosen by its signer's public key. A lane sends what waits in it as one batch
of at most `batch` calls, and only then its next batch: CometBFT runs a batch's calls in
order, so one signer's txs reach CheckTx in the order they were given. A lone tx goes
out at once (a batch of one); under load, the txs that arrive while a lane's batch is at
the node go together in its next one, so the HTTP cost per tx falls as the load rises.

Why: under intake load the coordinator spent a third of its CPU in httpx, one request
per tx (bench/results/profiles/coordinator_intake.pyspy.txt, docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from aitbc.pb.aitbc_pb import tx_pb2
from aitbc.rpc import BroadcastResult, RPCError

log = logging.getLogger("coordinator.chain")

DEFAULT_BATCH = 10   # CometBFT's rpc.max_request_batch_size default
DEFAULT_LANES = 8


class _Lane:
    def __init__(self) -> None:
        self.waiting: deque[tuple[bytes, asyncio.Future[BroadcastResult]]] = deque()
        self.task: asyncio.Task[None] | None = None


class Broadcasts:
    """Batches broadcast_tx_sync calls to one node (`rpc`: an AsyncChainRPC)."""

    def __init__(self, rpc: Any, batch: int = DEFAULT_BATCH, lanes: int = DEFAULT_LANES):
        self.rpc = rpc
        self.batch = max(1, batch)
        self._lanes = [_Lane() for _ in range(max(1, lanes))]
        self.batches_sent = 0
        self.txs_sent = 0

    def _lane_of(self, raw: bytes) -> _Lane:
        try:
            key = tx_pb2.Tx.FromString(raw).public_key
        except Exception:  # noqa: BLE001 - not ours to judge here; CheckTx will say what is wrong
            key = b""
        return self._lanes[int.from_bytes(key[:4] or b"\0", "big") % len(self._lanes)]

    async def send(self, raw: bytes) -> BroadcastResult:
        """The tx's CheckTx answer. Raises what the node answered this tx (RPCError, e.g. already
        in the cache) or NodeUnavailable."""
        lane = self._lane_of(raw)
        future: asyncio.Future[BroadcastResult] = asyncio.get_running_loop().create_future()
        lane.waiting.append((raw, future))
        if lane.task is None or lane.task.done():
            lane.task = asyncio.create_task(self._drain(lane), name="broadcasts")
        return await future

    async def _drain(self, lane: _Lane) -> None:
        while lane.waiting:
            items = [lane.waiting.popleft() for _ in range(min(self.batch, len(lane.waiting)))]
            try:
                answers: list[Any] = await self.rpc.broadcast_many([raw for raw, _ in items])
            except RPCError as exc:
                if len(items) > 1:
                    # The node refused the batch whole (a smaller rpc.max_request_batch_size):
                    # send smaller ones from now on, these first.
                    self.batch = max(1, len(items) // 2)
                    log.warning("node refused a batch of broadcasts; batches of %d from now on", self.batch,
                                extra={"event": "broadcast_batch_smaller", "batch": self.batch, "detail": str(exc)})
                    lane.waiting.extendleft(reversed(items))
                    continue
                answers = [exc]
            except Exception as exc:  # noqa: BLE001 - every caller of the batch gets the failure
                answers = [exc] * len(items)
            except BaseException:
                for _, future in (*items, *lane.waiting):  # shutting down: nobody is answered
                    future.cancel()
                lane.waiting.clear()
                raise
            self.batches_sent += 1
            self.txs_sent += len(items)
            for (_, future), answer in zip(items, answers):
                if future.done():
                    continue  # its caller gave up waiting
                if isinstance(answer, BaseException):
                    future.set_exception(answer)
                else:
                    future.set_result(answer)
