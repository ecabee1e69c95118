"""The coordinator's view of the chain: queries, broadcasts with retries, tx
look-ups, and `TxSender`, which keeps the coordinator's own nonces in order."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from dataclasses import dataclass
from typing import Any

from prometheus_client import Histogram

from aitbc import tx as txlib
from aitbc.api.retry import ATTEMPTS, async_retrying
from aitbc.codes import Code
from aitbc.crypto import PrivateKey
from aitbc.rpc import (
    AsyncChainRPC, BroadcastResult, ChainError, NodeUnavailable, QueryFailed, RPCError, block_txs, query_value,
)
from aitbc.coordinator.broadcasts import DEFAULT_BATCH, Broadcasts
from aitbc.coordinator.errors import ChainUnavailable
from aitbc.coordinator.metrics import Metrics
from aitbc.coordinator.store import Store

log = logging.getLogger("coordinator.chain")

# Not a retry after failure: a nonce the chain disputes is re-read and the tx re-signed, at once.
NONCE_RESYNCS = 3
NONCE_CODES = (Code.NONCE_TOO_LOW, Code.NONCE_TOO_HIGH)


OPEN_PAGE = 1000  # what the chain answers per call of /jobs/open and /checks/open


@dataclass(frozen=True)
class TxOutcome:
    height: int
    code: int
    log: str


class Chain:
    """Thin async layer over the node's RPC; network errors retried with backoff."""

    def __init__(self, rpc: AsyncChainRPC, backoff_s: float = 0.2, broadcast_batch: int = DEFAULT_BATCH,
                 broadcast_seconds: Histogram | None = None):
        self.rpc = rpc
        self.broadcast_seconds = broadcast_seconds  # until each broadcast's CheckTx answer
        self.backoff_s = backoff_s
        # broadcast_tx_sync per signer, side by side (broadcasts.py); a stand-in RPC without
        # batch calls gets one plain request per tx.
        self.broadcasts = Broadcasts(rpc, broadcast_batch) if hasattr(rpc, "broadcast_many") else None
        # (monotonic read time, /miners, the committed height it was read at)
        self._miners: tuple[float, list[dict[str, Any]], int] | None = None

    async def _retry(self, what: str, call):
        async def attempt():  # a coroutine function, which tenacity awaits (`call` may be a lambda)
            return await call()

        try:
            return await call()  # the common case, without building a retry loop for it
        except NodeUnavailable:
            pass
        try:
            return await async_retrying(on=NodeUnavailable, backoff_s=self.backoff_s)(attempt)
        except NodeUnavailable as exc:
            raise ChainUnavailable(f"cannot reach the chain node ({what}) after {ATTEMPTS + 1} tries: {exc}") from exc

    async def query(self, path: str) -> Any:
        return await self._retry(path, lambda: self.rpc.query(path))

    async def query_or_none(self, path: str) -> Any | None:
        try:
            return await self.query(path)
        except QueryFailed as exc:
            if exc.code == Code.NOT_FOUND:
                return None
            raise

    async def status(self) -> dict[str, Any]:
        return await self._retry("status", self.rpc.status)

    async def params(self) -> dict[str, Any]:
        return await self.query("/params")

    async def miners(self, max_age_s: float = 0.0) -> list[dict[str, Any]]:
        """Every miner on chain (not to be changed by the caller); one read less than
        `max_age_s` ago is answered again."""
        return (await self.miners_at(max_age_s))[0]

    async def miners_at(self, max_age_s: float = 0.0) -> tuple[list[dict[str, Any]], int]:
        """`miners()` and the committed height the list was read at."""
        now = time.monotonic()
        if self._miners is not None and now - self._miners[0] < max_age_s:
            return self._miners[1], self._miners[2]
        miners, height = await self._retry("/miners", lambda: self.rpc.query_at("/miners"))
        self._miners = (now, miners, height)
        return miners, height

    async def miner(self, address: str) -> dict[str, Any] | None:
        return await self.query_or_none(f"/miner/{address}")

    async def job(self, job_id: str) -> dict[str, Any] | None:
        return await self.query_or_none(f"/job/{job_id}")

    async def open_jobs(self) -> list[dict[str, Any]]:
        return await self._all_pages("/jobs/open")

    async def open_checks(self) -> list[dict[str, Any]]:
        """Jobs whose receipt is under a spot check (status verifying)."""
        return await self._all_pages("/checks/open")

    async def _all_pages(self, path: str) -> list[dict[str, Any]]:
        """Every job of an open-job listing, which the chain answers 1000 at a time."""
        jobs: list[dict[str, Any]] = []
        while True:
            page = await self.query(path + (f"?after={jobs[-1]['id']}" if jobs else ""))
            jobs += page
            if len(page) < OPEN_PAGE:
                return jobs

    async def receipt(self, ident: str) -> dict[str, Any] | None:
        return await self.query_or_none(f"/receipt/{ident}")

    async def account(self, address: str) -> dict[str, Any]:
        return await self.query(f"/account/{address}")

    async def pending_account(self, address: str) -> dict[str, Any]:
        """Balance and next nonce including txs already in the mempool."""
        return await self.query(f"/nonce/{address}")

    async def broadcast(self, raw: bytes) -> BroadcastResult:
        """broadcast_tx_sync; a tx the mempool already holds counts as accepted."""
        async def once() -> BroadcastResult:
            try:
                if self.broadcasts is not None:
                    return await self.broadcasts.send(raw)
                return await self.rpc.broadcast(raw, "sync")
            except RPCError as exc:
                if "already exists in cache" in str(exc):
                    return BroadcastResult(txlib.tx_hash(raw), 0, "already in the mempool")
                raise ChainUnavailable(f"the node refused the broadcast: {exc}") from exc
        started = time.perf_counter()
        result = await self._retry("broadcast_tx_sync", once)
        if self.broadcast_seconds is not None:
            self.broadcast_seconds.observe(time.perf_counter() - started)
        return result

    async def find_tx(self, tx_hash: str) -> TxOutcome | None:
        """The tx's result once it is in a block; None while it is not (yet)."""
        try:
            result = await self.rpc.call("tx", hash=base64.b64encode(bytes.fromhex(tx_hash)).decode())
        except RPCError as exc:
            if "not found" in str(exc):
                return None
            raise
        tx_result = result.get("tx_result") or {}
        return TxOutcome(int(result.get("height", 0)), int(tx_result.get("code", 0)), tx_result.get("log", ""))

    async def mempool_hashes(self) -> tuple[set[str], bool]:
        """The hashes of the mempool's first txs (CometBFT lists at most 100), and whether
        that is the whole mempool."""
        result = await self.rpc.call("unconfirmed_txs", limit="100")
        hashes = {txlib.tx_hash(base64.b64decode(raw)) for raw in result.get("txs") or []}
        total = int(result.get("total", len(hashes)) or 0)
        return hashes, total <= len(hashes)

    async def head(self) -> tuple[int, bool]:
        """The node's latest block height, and whether it is still catching up."""
        sync = (await self.status())["sync_info"]
        return int(sync.get("latest_block_height", 0)), bool(sync.get("catching_up"))

    async def block_outcomes(self, height: int) -> dict[str, TxOutcome] | None:
        """The result of every tx in block `height` by tx hash, whatever the number of txs, with
        no tx indexer needed; None while the node has stored the block but not yet its results,
        or the app has not committed it yet.

        One batch request: the block (its txs) and the app's `/tx_results/<height>` (which of them
        failed). CometBFT's `block_results` says the same with every tx's events, about 1 KB of
        JSON per tx that the node renders and we parse; it is read only for a height the app
        no longer keeps (it keeps the last few it committed since it started)."""
        path = f"/tx_results/{height}"
        answers = await self._batch([("block", {"height": str(height)}),
                                     ("abci_query", {"path": path, "data": ""})])
        if answers is None:
            return None
        block, query = answers
        hashes = [txlib.tx_hash(raw) for raw in block_txs(block)]
        try:
            kept = query_value(path, query)
        except QueryFailed:
            kept = None
        if kept is not None and kept.get("height") == height and kept.get("txs") == len(hashes):
            failed = {int(i): (int(code), log) for i, code, log in kept.get("failed", [])}
            return {h: TxOutcome(height, *failed.get(i, (0, ""))) for i, h in enumerate(hashes)}
        committed = (query.get("response") or {}).get("height")
        if committed is not None and int(committed) < height:
            # CometBFT stores a block's results before the app commits the block: until it has,
            # the app's state (what /job and the check state answer) is without the block's txs.
            return None
        answers = await self._batch([("block_results", {"height": str(height)})])
        if answers is None:
            return None
        outcomes = answers[0].get("txs_results") or []
        if len(outcomes) != len(hashes):
            return None
        return {h: TxOutcome(height, int(r.get("code", 0)), r.get("log", "")) for h, r in zip(hashes, outcomes)}

    async def _batch(self, calls: list[tuple[str, dict[str, str]]]) -> list[Any] | None:
        """The answers to `calls`, in one batch request when the RPC takes batches; None when the
        node has no such height yet (not executed, or above its head)."""
        try:
            if hasattr(self.rpc, "call_batch") and len(calls) > 1:  # CometBFT answers a batch of one unwrapped
                answers = await self._retry(calls[0][0], lambda: self.rpc.call_batch(calls))
            else:
                answers = [await self._retry(m, lambda m=m, p=p: self.rpc.call(m, **p)) for m, p in calls]
        except RPCError as exc:  # the batch refused whole, or a stand-in RPC's error
            answers = [exc]
        for answer in answers:
            if isinstance(answer, RPCError):
                if "results" in str(answer) or "height" in str(answer):
                    return None
                raise answer
        return answers

    async def aclose(self) -> None:
        await self.rpc.aclose()


class TxSender:
    """Builds, signs and broadcasts the coordinator's txs one at a time.

    One key, many txs in flight: the lock makes build+sign+broadcast atomic, and
    the local next nonce runs ahead of the chain's committed one. Any nonce
    complaint resyncs it from /nonce (which counts the mempool).
    """

    def __init__(self, chain: Chain, key: PrivateKey, chain_id: str, store: Store, metrics: Metrics):
        self.chain, self.key, self.chain_id = chain, key, chain_id
        self.store, self.metrics = store, metrics
        self._lock = asyncio.Lock()
        self._nonce: int | None = None

    def resync(self) -> None:
        self._nonce = None

    async def send(self, kind: str, for_job: str | None, /, **fields: Any) -> BroadcastResult:
        """Sign and broadcast `kind` with `fields`, recorded as a tx of job `for_job`.

        Returns the CheckTx result (ok or a rejection); raises ChainUnavailable.
        """
        async with self._lock:
            for _ in range(NONCE_RESYNCS):
                if self._nonce is None:
                    self._nonce = int((await self.chain.pending_account(self.key.address))["nonce"])
                raw = txlib.build(self.key, self.chain_id, self._nonce, kind, **fields)
                tx_hash = txlib.tx_hash(raw)
                # Recorded before sending: after a crash the tracker still finds it.
                self.store.add_tx(tx_hash, for_job, kind, raw, "sent")
                try:
                    result = await self.chain.broadcast(raw)
                except ChainError as exc:
                    self._nonce = None
                    self.metrics.tx_broadcast.labels(kind=kind, outcome="error").inc()
                    raise ChainUnavailable(f"cannot reach the chain node: {exc}") from exc
                except ChainUnavailable:
                    self._nonce = None
                    self.metrics.tx_broadcast.labels(kind=kind, outcome="error").inc()
                    raise
                if result.ok:
                    self._nonce += 1
                    self.metrics.tx_broadcast.labels(kind=kind, outcome="accepted").inc()
                    log.info("tx broadcast", extra={"event": "tx_broadcast", "kind": kind, "job_id": for_job,
                                                    "tx_hash": tx_hash, "nonce": self._nonce - 1})
                    return result
                self.store.update_tx(tx_hash, status="rejected", code=result.code, log=result.log)
                self.metrics.tx_broadcast.labels(kind=kind, outcome="rejected").inc()
                if result.code not in NONCE_CODES:
                    log.warning("tx rejected", extra={"event": "tx_rejected", "kind": kind, "job_id": for_job,
                                                       "code": result.code_name, "log": result.log})
                    return result
                log.info("nonce out of step; resyncing", extra={"event": "nonce_resync", "log": result.log})
                self._nonce = None
            return result
