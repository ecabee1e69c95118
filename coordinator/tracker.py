"""Following every tx the coordinator broadcast (its own and clients') until it
is in a block, and acting when one failed there or vanished from the mempool.

Each pass reads the blocks committed since the last one (the block and the
app's `/tx_results/<height>`, or CometBFT's `block_results` for a height the app
no longer keeps: one batch request per block, however many txs are in flight)
and settles the txs it finds there. Asking the node about every tx in flight, one
`tx` call each, is kept for when that is cheaper or there is no earlier pass
to continue from (the first pass after a start, or after a long gap): at
intake rates thousands of txs are in flight, and a call per tx per pass was
what the coordinator spent its time on (docs/benchmarks.md, Coordinator
intake).
"""

from __future__ import annotations

import logging
import time

from aitbc import tx as txlib
from aitbc.codes import Code
from aitbc.coordinator import job_state, lifecycle
from aitbc.coordinator.chain import TxOutcome
from aitbc.coordinator.core import Coordinator
from aitbc.coordinator.store import TxRecord

log = logging.getLogger("coordinator.tracker")

CLIENT_KINDS = ("submit_job", "cancel_job")
INDEX_MARGIN = 2      # blocks read again after per-tx look-ups (the tx indexer can lag a commit)
MAX_BLOCKS = 200      # blocks read in one pass at most; the next pass goes on


async def track(coord: Coordinator) -> None:
    """One pass over the txs in flight."""
    store = coord.store
    coord.head_this_tick = None
    for tx in store.txs_with_status("stored"):
        await broadcast_stored(coord, tx)
    if not store.has_sent_txs():
        coord.followed_height = None  # nothing to follow: the next pass starts from the node's head
        return
    # The head first, then the txs: a tx stored after the head was read cannot be in a
    # block up to it, so reading blocks up to the head misses none of the txs read.
    head, catching_up = await coord.chain.head()
    coord.head_this_tick = head
    sent = store.sent_tx_ages()
    outcomes = await _outcomes(coord, [h for h, _, _ in sent], head)
    # A client's submit_job in a block without error asks nothing more of us (the job was
    # ours since intake): those are written together, one commit for the lot.
    plain = {h: outcomes.pop(h) for h, _, kind in sent
             if kind == "submit_job" and h in outcomes and outcomes[h].code == 0}
    if plain:
        store.settle_sent_txs([(h, "committed", 0, o.log, o.height) for h, o in plain.items()])
        coord.metrics.tx_settled.labels(kind="submit_job", state="committed").inc(len(plain))
    mempool: tuple[set[str], bool] | None = None
    now = time.time()
    for tx_hash, seen_at, _ in sent:
        if tx_hash in plain:
            continue
        outcome = outcomes.get(tx_hash)
        if outcome is None and now - seen_at <= coord.settings.tx_lost_after_s:
            continue  # most likely in the mempool still: judged once it has been a while
        tx = store.get_tx(tx_hash)
        if tx is None or tx.status != "sent":
            continue  # settled meanwhile (a handler's await let others run)
        if outcome is None:
            # Not seen in a while: ask for it by hash before judging (it may sit in a block
            # the block reads skipped), then look in the mempool.
            outcome = await coord.chain.find_tx(tx.hash)
            if outcome is None:
                if mempool is None:
                    mempool = await coord.chain.mempool_hashes()
                hashes, whole = mempool
                # A node still replaying blocks cannot tell whether our txs are in them, and
                # a mempool longer than the node lists may hold it further down.
                if tx.hash in hashes or not whole or catching_up:
                    coord.store.update_tx(tx.hash, seen_at=now)
                else:
                    coord.store.update_tx(tx.hash, status="lost")
                    coord.metrics.tx_settled.labels(kind=tx.kind, state="lost").inc()
                    log.warning("tx lost", extra={"event": "tx_lost", "tx_hash": tx.hash, "kind": tx.kind,
                                                  "job_id": tx.job_id})
                    await _after_lost(coord, tx)
                continue
        if outcome is not None:
            await _settle(coord, tx, outcome)


async def _outcomes(coord: Coordinator, sent: list[str], head: int) -> dict[str, TxOutcome]:
    """What the chain says of the txs (hashes) in `sent` that are in a block: read from the
    blocks since the last pass, or asked tx by tx when that takes fewer calls."""
    since = coord.followed_height
    if since is not None and since >= head:
        return {}
    if since is None or head - since > max(len(sent), 2 * INDEX_MARGIN):
        found = {}
        for tx_hash in sent:
            outcome = await coord.chain.find_tx(tx_hash)
            if outcome is not None:
                found[tx_hash] = outcome
        coord.followed_height = max(0, head - INDEX_MARGIN)
        return found
    found = {}
    for height in range(since + 1, min(head, since + MAX_BLOCKS) + 1):
        block = await coord.chain.block_outcomes(height)
        if block is None:
            break  # its results are not stored yet: the next pass reads it
        found.update(block)
        coord.followed_height = height
    return found


async def _settle(coord: Coordinator, tx: TxRecord, outcome: TxOutcome) -> None:
    state = "committed" if outcome.code == 0 else "failed"
    coord.store.update_tx(tx.hash, status=state, code=outcome.code, log=outcome.log, height=outcome.height)
    coord.metrics.tx_settled.labels(kind=tx.kind, state=state).inc()
    if state == "committed":
        await _after_committed(coord, tx)
        return
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
