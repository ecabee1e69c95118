"""A job against the chain: fail it there, settle its receipt, reconcile our record with its view.

Callers hold the job's lock (`Coordinator.lock(job_id)`). `reconcile` makes the
local job agree with the chain's committed view; it runs after a tx of the job
failed or vanished, and for every open job at start-up. The stored job itself
is written by job_state.py.
"""

from __future__ import annotations

import logging

from aitbc.codes import Code, code_name
from aitbc.rpc import BroadcastResult
from aitbc.coordinator import job_state
from aitbc.coordinator.core import Coordinator
from aitbc.coordinator.store import TX_IN_FLIGHT, StoredJob
from aitbc.jobspec import FINAL

log = logging.getLogger("coordinator.jobs")

MAX_REASON = 500


def event(name: str, job: StoredJob | str, **extra: object) -> dict[str, object]:
    """`extra=` for a log call: one JSON line per job event."""
    return {"event": name, "job_id": job if isinstance(job, str) else job.id, **extra}


async def fail_job(coord: Coordinator, job: StoredJob, reason: str, metric_reason: str, *,
                   detail: str = "", client_note: str = "") -> bool:
    """fail_job on chain (full refund to the client); True when the chain accepted it.

    `reason` goes on chain, which is public: callers pass a fixed text that starts
    with a code ("miner_unreachable: ..."), never an answer or exception text from
    elsewhere. `detail` goes to the log only; `client_note` (the miner's own words
    about its failure) only to the job's client, in its local error.
    """
    _, sender = coord.require_chain()
    reason = reason[:MAX_REASON]
    if detail:
        log.info("job failing", extra=event("job_failing", job, reason=reason, detail=detail[:2000]))
    result = await sender.send("fail_job", job.id, job_id=job.id, reason=reason)
    if not result.ok:
        # Most likely the chain closed the job first (expired, cancelled): take its view.
        log.warning("fail_job rejected", extra=event("fail_rejected", job, code=result.code_name, log=result.log))
        job_state.needs_reconcile(coord.store, job.id)
        return False
    error = f"{reason} (the miner said: {client_note[:MAX_REASON]})" if client_note else reason
    job_state.mark_failed(coord.store, job, error)
    coord.metrics.jobs_failed.labels(reason=metric_reason).inc()
    log.info("job failed", extra=event("job_failed", job, reason=reason, miner=job.miner))
    return True


async def sync_receipt(coord: Coordinator, job: StoredJob) -> bool:
    """Mark the job completed from its on-chain receipt; False while there is none."""
    if job.status == "completed":
        return True
    receipt = await coord.chain.receipt(job.id)
    if receipt is None:
        return False
    if receipt.get("check_status") == "pending":
        # Picked for a spot check: the payment is held until another miner's re-run agrees.
        if job.status != "verifying":
            job_state.mark_verifying(coord.store, job, receipt)
            log.info("job under spot check", extra=event("job_verifying", job, receipt_id=receipt["id"]))
        return True
    completed_at = job_state.mark_completed(coord.store, job, receipt)
    coord.metrics.jobs_completed.inc()
    coord.metrics.job_latency.observe(max(0.0, completed_at - job.submitted_at))
    log.info("job completed", extra=event("job_completed", job, receipt_id=receipt["id"],
                                          amount_paid=receipt["amount_paid"], miner=receipt["miner"]))
    return True


async def reconcile(coord: Coordinator, job: StoredJob, recovering: bool = False) -> None:
    """Make the local job agree with the chain's committed state."""
    store = coord.store
    chain_job = await coord.chain.job(job.id)
    job_state.reconciled(store, job.id)
    if chain_job is None:
        submit = store.get_tx(job.tx_hash)
        if submit is not None and submit.status in TX_IN_FLIGHT:
            return  # not in a block yet; the tracker will tell
        if submit is not None and submit.status == "committed":
            # In a block, so on chain: the node answered from the state before that block (its
            # app commits a block after CometBFT has stored the block's results). Ask again.
            job_state.needs_reconcile(store, job.id)
            return
        why = f"{code_name(submit.code)}: {submit.log}" if submit and submit.code else \
            (submit.status if submit else "unknown")
        if job.status != "failed":
            job_state.mark_not_on_chain(store, job, why)
            coord.metrics.jobs_failed.labels(reason="submit_not_included").inc()
            log.warning("job not on chain", extra=event("job_failed", job, reason=why))
        return
    status = chain_job["status"]
    if status == "pending":
        if job.status != "pending":
            job_state.requeue(store, job)
            log.info("job back in the queue", extra=event("job_requeued", job, was=job.status))
    elif status == "assigned":
        await _reconcile_assigned(coord, job, chain_job["miner"], recovering)
    elif status in ("completed", "verifying"):
        await sync_receipt(coord, job)
    elif status in FINAL:
        if job.status != status:
            job_state.mark_closed(store, job, chain_job)
            coord.metrics.jobs_failed.labels(reason=status).inc()
            log.info("job closed on chain", extra=event(f"job_{status}", job, reason=chain_job.get("reason")))


async def _reconcile_assigned(coord: Coordinator, job: StoredJob, miner: str, recovering: bool) -> None:
    if job.miner == miner and job.proof and job.proof_signature:
        # We hold the miner's proof but no receipt made it: send it again.
        result = await resend_receipt(coord, job)
        if not result.ok and result.code != Code.BAD_JOB_STATUS:
            job_state.note_error(coord.store, job.id, f"receipt rejected: {result.code_name}: {result.log}")
        return
    if job_state.follow_assignment(coord.store, job, miner, push=recovering):
        log.info("job assigned on chain", extra=event("job_assigned", job, miner=miner, reconciled=True))


async def resend_receipt(coord: Coordinator, job: StoredJob) -> BroadcastResult:
    """Broadcast record_receipt again from the proof we stored, when the miner delivered but
    no receipt reached the chain (its tx failed or was lost). The miner does not run it again."""
    _, sender = coord.require_chain()
    result = await sender.send("record_receipt", job.id, proof=job.proof, miner_signature=job.proof_signature)
    log.info("receipt re-sent from the stored proof", extra=event("receipt_resent", job, miner=job.miner,
                                                                  code=result.code_name))
    return result
