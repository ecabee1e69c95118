"""Following every tx the coordinator broadcast (its own and clients') until it
is in a block, and acting when one failed there or vanished from the mempool."""

from __future__ import annotations

import logging
import time

from aitbc import tx as txlib
from aitbc.codes import Code
from aitbc.coordinator import job_state, lifecycle
from aitbc.coordinator.core import Coordinator
from aitbc.coordinator.store import TxRecord

log = logging.getLogger("coordinator.tracker")

CLIENT_KINDS = ("submit_job", "cancel_job")


async def track(coord: Coordinator) -> None:
    """One pass over the txs in flight."""
    store, chain = coord.store, coord.chain
    mempool: set[str] | None = None
    catching_up: bool | None = None
    for tx in store.txs_in_flight():
        if tx.status == "stored":
            await broadcast_stored(coord, tx)
            continue
        outcome = await chain.find_tx(tx.hash)
        if outcome is None:
            if mempool is None:
                mempool = await chain.mempool_hashes()
                # A node still replaying blocks cannot tell whether our txs are in them.
                catching_up = bool((await chain.status())["sync_info"].get("catching_up"))
            now = time.time()
            if tx.hash in mempool or catching_up:
                store.update_tx(tx.hash, seen_at=now)
            elif now - tx.seen_at > coord.settings.tx_lost_after_s:
                store.update_tx(tx.hash, status="lost")
                coord.metrics.tx_settled.labels(kind=tx.kind, state="lost").inc()
                log.warning("tx lost", extra={"event": "tx_lost", "tx_hash": tx.hash, "kind": tx.kind,
                                              "job_id": tx.job_id})
                await _after_lost(coord, tx)
            continue
        state = "committed" if outcome.code == 0 else "failed"
        store.update_tx(tx.hash, status=state, code=outcome.code, log=outcome.log, height=outcome.height)
        coord.metrics.tx_settled.labels(kind=tx.kind, state=state).inc()
        if state == "committed":
            await _after_committed(coord, tx)
        else:
            log.warning("tx failed in block", extra={"event": "tx_failed", "tx_hash": tx.hash, "kind": tx.kind,
                                                     "job_id": tx.job_id, "code": outcome.code, "log": outcome.log})
            _after_failed(coord, tx)
            if outcome.code in (Code.NONCE_TOO_LOW, Code.NONCE_TOO_HIGH):
                await _resend_check(coord, tx)


async def broadcast_stored(coord: Coordinator, tx: TxRecord) -> None:
    """A client tx we stored but could not (or did not yet) broadcast: after a crash or an outage."""
    if tx.job_id is None:
        return
    async with coord.lock(tx.job_id):
        current = coord.store.get_tx(tx.hash)
        if current is None or current.status != "stored":
            return
        result = await coord.chain.broadcast(tx.raw)
        if result.ok:
            coord.store.update_tx(tx.hash, status="sent", seen_at=time.time())
            log.info("stored tx broadcast", extra={"event": "tx_broadcast", "kind": tx.kind, "tx_hash": tx.hash,
                                                   "job_id": tx.job_id, "recovered": True})
        elif result.code == Code.NONCE_TOO_HIGH and time.time() - tx.created_at < coord.settings.queue_timeout_s:
            # An earlier tx of the same client is not on chain yet (e.g. rebroadcast
            # after a node crash, in another order): try again on a later tick.
            log.info("stored tx waits for an earlier nonce", extra={"event": "tx_waiting", "kind": tx.kind,
                                                                    "tx_hash": tx.hash, "job_id": tx.job_id})
        else:
            coord.store.update_tx(tx.hash, status="rejected", code=result.code, log=result.log)
            job_state.needs_reconcile(coord.store, tx.job_id)


async def _after_committed(coord: Coordinator, tx: TxRecord) -> None:
    if tx.job_id is None:
        return
    async with coord.lock(tx.job_id):
        job = coord.store.get_job(tx.job_id)
        if job is None:
            return
        if tx.kind == "record_check":
            job_state.needs_reconcile(coord.store, job.id)  # the check may be decided now
        elif tx.kind == "record_receipt":
            if not await lifecycle.sync_receipt(coord, job):
                job_state.needs_reconcile(coord.store, job.id)
        elif (tx.kind == "assign_job" and job.status == "pending") or \
                (tx.kind == "fail_job" and job.status != "failed") or \
                (tx.kind == "cancel_job" and job.status != "cancelled"):
            # Our record lags the chain (a crash between broadcast and store).
            job_state.needs_reconcile(coord.store, job.id)


def _after_failed(coord: Coordinator, tx: TxRecord) -> None:
    if tx.kind not in CLIENT_KINDS and coord.sender is not None:
        coord.sender.resync()
    if tx.job_id is not None:
        job_state.needs_reconcile(coord.store, tx.job_id)


async def _after_lost(coord: Coordinator, tx: TxRecord) -> None:
    if tx.kind in CLIENT_KINDS:
        # The client signed it once; it is still valid unless its nonce was used since.
        coord.store.update_tx(tx.hash, status="stored")
        return
    _after_failed(coord, tx)
    await _resend_check(coord, tx)


async def _resend_check(coord: Coordinator, tx: TxRecord) -> None:
    """A checker's re-run is reported to us once: when our record_check lost its place (a nonce gap
    left by an earlier tx of ours that failed, or a lost tx), send the same signed proof again."""
    if tx.kind != "record_check" or tx.job_id is None or coord.sender is None:
        return
    chain_job = await coord.chain.job(tx.job_id)
    msg = txlib.decode(tx.raw).msg
    checker = txlib.decode_proof(msg.proof).miner
    if chain_job is None or chain_job["status"] != "verifying" or chain_job["checker"] != checker:
        return
    result = await coord.sender.send("record_check", tx.job_id, proof=msg.proof, miner_signature=msg.miner_signature)
    log.info("re-run re-sent", extra={"event": "check_resent", "job_id": tx.job_id, "checker": checker,
                                      "code": result.code_name})
