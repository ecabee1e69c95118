"""Moving a job between states, with the chain as the truth.

Callers hold the job's lock (`Coordinator.lock(job_id)`). `reconcile` makes the
local job agree with the chain's committed view; it runs after a tx of the job
failed or vanished, and for every open job at start-up.
"""

from __future__ import annotations

import logging
import time

from aitbc.codes import Code, code_name
from aitbc.coordinator.core import Coordinator
from aitbc.coordinator.store import TX_IN_FLIGHT, JobRecord
from aitbc.jobspec import FINAL

log = logging.getLogger("coordinator.jobs")

MAX_REASON = 500


def event(name: str, job: JobRecord | str, **extra: object) -> dict[str, object]:
    """`extra=` for a log call: one JSON line per job event."""
    return {"event": name, "job_id": job if isinstance(job, str) else job.id, **extra}


async def fail_job(coord: Coordinator, job: JobRecord, reason: str, metric_reason: str, *,
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
        coord.store.update_job(job.id, needs_reconcile=1)
        return False
    error = f"{reason} (the miner said: {client_note[:MAX_REASON]})" if client_note else reason
    coord.store.update_job(job.id, status="failed", error=error, completed_at=time.time(), needs_push=0,
                           refund=job.max_reward, amount_paid=0)
    coord.metrics.jobs_failed.labels(reason=metric_reason).inc()
    log.info("job failed", extra=event("job_failed", job, reason=reason, miner=job.miner))
    return True


async def sync_receipt(coord: Coordinator, job: JobRecord) -> bool:
    """Mark the job completed from its on-chain receipt; False while there is none."""
    if job.status == "completed":
        return True
    receipt = await coord.chain.receipt(job.id)
    if receipt is None:
        return False
    if receipt.get("check_status") == "pending":
        # Picked for a spot check: the payment is held until another miner's re-run agrees.
        if job.status != "verifying":
            coord.store.update_job(job.id, status="verifying", receipt_id=receipt["id"],
                                   block_height=receipt["block_height"], miner=receipt["miner"], needs_push=0)
            log.info("job under spot check", extra=event("job_verifying", job, receipt_id=receipt["id"]))
        return True
    # Our clock, not the block's: BFT block time lags by up to a block, which
    # would make "completed" come before "started" for quick jobs.
    completed_at = max(time.time(), job.started_at or 0.0)
    coord.store.update_job(job.id, status="completed", receipt_id=receipt["id"], amount_paid=receipt["amount_paid"],
                           refund=receipt["refund"], block_height=receipt["block_height"], completed_at=completed_at,
                           miner=receipt["miner"], needs_push=0, error=None)
    coord.metrics.jobs_completed.inc()
    coord.metrics.job_latency.observe(max(0.0, completed_at - job.submitted_at))
    log.info("job completed", extra=event("job_completed", job, receipt_id=receipt["id"],
                                          amount_paid=receipt["amount_paid"], miner=receipt["miner"]))
    return True


async def reconcile(coord: Coordinator, job: JobRecord, recovering: bool = False) -> None:
    """Make the local job agree with the chain's committed state."""
    store = coord.store
    chain_job = await coord.chain.job(job.id)
    store.update_job(job.id, needs_reconcile=0)
    if chain_job is None:
        submit = store.get_tx(job.tx_hash)
        if submit is not None and submit.status in TX_IN_FLIGHT:
            return  # not in a block yet; the tracker will tell
        why = f"{code_name(submit.code)}: {submit.log}" if submit and submit.code else \
            (submit.status if submit else "unknown")
        if job.status != "failed":
            store.update_job(job.id, status="failed", completed_at=time.time(), amount_paid=0, refund=0,
                             error=f"the submit_job transaction never made it on chain ({why}); nothing was locked")
            coord.metrics.jobs_failed.labels(reason="submit_not_included").inc()
            log.warning("job not on chain", extra=event("job_failed", job, reason=why))
        return
    status = chain_job["status"]
    if status == "pending":
        if job.status != "pending":
            store.update_job(job.id, status="pending", miner=None, assigned_at=None, started_at=None,
                             needs_push=0, error=None, completed_at=None)
            log.info("job back in the queue", extra=event("job_requeued", job, was=job.status))
    elif status == "assigned":
        await _reconcile_assigned(coord, job, chain_job["miner"], recovering)
    elif status in ("completed", "verifying"):
        await sync_receipt(coord, job)
    elif status in FINAL:
        if job.status != status:
            store.update_job(job.id, status=status, error=chain_job.get("reason") or status, amount_paid=0,
                             refund=chain_job.get("refund"), completed_at=job.completed_at or time.time(),
                             needs_push=0)
            coord.metrics.jobs_failed.labels(reason=status).inc()
            log.info("job closed on chain", extra=event(f"job_{status}", job, reason=chain_job.get("reason")))


async def _reconcile_assigned(coord: Coordinator, job: JobRecord, miner: str, recovering: bool) -> None:
    store = coord.store
    if job.miner == miner and job.proof and job.proof_signature:
        # We hold the miner's proof but no receipt made it: send it again.
        _, sender = coord.require_chain()
        result = await sender.send("record_receipt", job.id, proof=job.proof, miner_signature=job.proof_signature)
        log.info("receipt re-sent", extra=event("receipt_resent", job, code=result.code_name))
        if not result.ok and result.code != Code.BAD_JOB_STATUS:
            store.update_job(job.id, error=f"receipt rejected: {result.code_name}: {result.log}")
        return
    keep = job.status in ("assigned", "running") and job.miner == miner
    store.update_job(job.id, status=job.status if keep else "assigned", miner=miner,
                     assigned_at=job.assigned_at or time.time(),
                     needs_push=1 if (recovering or not keep) else job.needs_push)
    if not keep:
        log.info("job assigned on chain", extra=event("job_assigned", job, miner=miner, reconciled=True))
