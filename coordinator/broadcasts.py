"""broadcast_tx_sync for many txs at once, each signer's in order, the signers side by side.

Every tx the coordinator sends (clients' submit_job and cancel_job, its own txs) waits
in its signer's lane. A lane sends one request at a time: what waits in it, as one
JSON-RPC batch of at most `batch` calls (CometBFT runs a batch's calls in order), so one
signer's txs reach CheckTx in the order they were given. Different signers' lanes send
side by side, as separate clients would.

Why not one batch for everyone: CometBFT answers a broadcast_tx_sync once the app's
CheckTx answer is back, and it runs a batch's calls one after another, so each call
waits for the CheckTx round trips of the calls before it, while calls side by side
are in flight at once. Batching across signers made the coordinator's broadcasts wait
40 ms where the node alone answers in 8 (docs/benchmarks.md, Coordinator intake).
(CometBFT's ABCI socket client does have a flush timer, but it is built with
`flushThrottleMS = 20` as a time.Duration: 20 ns, not 20 ms, so it adds no wait; its
firing was a third of cometbft's CPU in a pprof of that batched run.)
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


class _Lane:
    def __init__(self) -> None:
        self.waiting: deque[tuple[bytes, asyncio.Future[BroadcastResult]]] = deque()
        self.task: asyncio.Task[None] | None = None


class Broadcasts:
    """broadcast_tx_sync to one node (`rpc`: an AsyncChainRPC with broadcast_many), per signer."""

    def __init__(self, rpc: Any, batch: int = DEFAULT_BATCH):
        self.rpc = rpc
        self.batch = max(1, batch)
        self._lanes: dict[bytes, _Lane] = {}
        self.batches_sent = 0
        self.txs_sent = 0

    @staticmethod
    def _signer(raw: bytes) -> bytes:
        try:
            return tx_pb2.Tx.FromString(raw).public_key
        except Exception:  # noqa: BLE001 - not ours to judge here; CheckTx will say what is wrong
            return b""

    async def send(self, raw: bytes) -> BroadcastResult:
        """The tx's CheckTx answer. Raises what the node answered this tx (RPCError, e.g. already
        in the cache) or NodeUnavailable."""
        signer = self._signer(raw)
        lane = self._lanes.get(signer)
        if lane is None:
            lane = self._lanes[signer] = _Lane()
        future: asyncio.Future[BroadcastResult] = asyncio.get_running_loop().create_future()
        lane.waiting.append((raw, future))
        if lane.task is None or lane.task.done():
            lane.task = asyncio.create_task(self._drain(signer, lane), name="broadcasts")
        return await future

    async def _drain(self, signer: bytes, lane: _Lane) -> None:
        try:
            await self._send_waiting(lane)
        finally:
            if not lane.waiting and self._lanes.get(signer) is lane:
                del self._lanes[signer]  # a signer with nothing waiting holds nothing

    async def _send_waiting(self, lane: _Lane) -> None:
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
