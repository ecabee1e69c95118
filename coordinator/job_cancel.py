"""Cancelling a pending job with the client's own signed cancel_job tx (the coordinator never holds client keys)."""

from __future__ import annotations

import logging
import time

from aitbc.coordinator import job_state, validation
from aitbc.coordinator.apikeys import Principal
from aitbc.coordinator.core import Coordinator
from aitbc.coordinator.errors import ChainRejected, Conflict, Forbidden, InvalidRequest
from aitbc.coordinator.job_queries import visible_job
from aitbc.coordinator.lifecycle import event
from aitbc.coordinator.store import StoredJob

log = logging.getLogger("coordinator.jobs")


async def cancel(coord: Coordinator, principal: Principal, job_id: str, signed_tx: str) -> StoredJob:
    """Broadcast the client's cancel_job tx for a job still pending; raises Conflict once it is assigned."""
    job = visible_job(coord, principal, job_id)
    signed = validation.decode_signed_tx(signed_tx, "cancel_job")
    if signed.msg.job_id != job_id:
        raise InvalidRequest(f"the cancel_job tx is for job {signed.msg.job_id}, not {job_id}")
    if signed.sender != job.client:
        raise Forbidden(f"the cancel_job tx must be signed by the job's client {job.client}, not {signed.sender}")
    async with coord.lock(job_id):
        job = visible_job(coord, principal, job_id)
        if job.status != "pending":
            raise Conflict(f"job {job_id} is {job.status}; only a pending job (not yet assigned) can be cancelled")
        coord.store.add_tx(signed.hash, job_id, "cancel_job", signed.raw, "stored")
        result = await coord.chain.broadcast(signed.raw)
        if not result.ok:
            coord.store.update_tx(signed.hash, status="rejected", code=result.code, log=result.log)
            raise ChainRejected(result.code, result.log, "cancel_job transaction")
        coord.store.update_tx(signed.hash, status="sent", seen_at=time.time())
        job_state.mark_cancelled(coord.store, job)
    coord.metrics.jobs_failed.labels(reason="cancelled").inc()
    log.info("job cancelled", extra=event("job_cancelled", job_id, tx_hash=signed.hash))
    return coord.store.get_job(job_id)
