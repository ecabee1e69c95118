"""Client-facing job operations: submit, read, list, cancel, receipt."""

from __future__ import annotations


import logging
import sqlite3
import time

from aitbc import tx as txlib
from aitbc.coordinator import validation
from aitbc.coordinator.apikeys import Principal
from aitbc.coordinator.core import Coordinator
from aitbc.coordinator.errors import ChainRejected, ChainUnavailable, Conflict, Forbidden, InvalidRequest, NotFound
from aitbc.coordinator.lifecycle import event
from aitbc.api.coordinator_models import JobCreate
from aitbc.coordinator.store import JobRecord

log = logging.getLogger("coordinator.jobs")


OFFER_TTL_S = 2.0


async def offered_models(coord: Coordinator, wanted: str) -> set[str]:
    """Models some staked miner offers; read from the chain again when `wanted` is not
    among them or the last read is older than OFFER_TTL_S (so a new miner counts at once)."""
    now = time.monotonic()
    cached = coord.offered_models
    if cached is None or wanted not in cached[1] or now - cached[0] > OFFER_TTL_S:
        models = {m for miner in await coord.chain.miners() if int(miner["stake"]) > 0 for m in miner["models"]}
        coord.offered_models = (now, models)
    return coord.offered_models[1]


async def submit(coord: Coordinator, principal: Principal, body: JobCreate) -> tuple[JobRecord, bool]:
    """Validate, store, then broadcast the client's submit_job tx. Returns (job, created)."""
    info, _ = coord.require_chain()
    validation.check_body(body)
    signed = validation.decode_signed_tx(body.signed_tx, "submit_job")
    validation.check_submit_tx(body, signed, info.chain_id)
    job_id = txlib.job_id_for(signed.sender, signed.nonce, signed.chain_id)
    store = coord.store
    async with coord.lock(job_id):
        existing = store.get_job(job_id)
        if existing is not None:
            if existing.tx_hash == signed.hash and existing.api_key_hash == principal.key_hash:
                return existing, False  # the same request again (a client retry): same answer
            if not _reached_chain(coord, existing) and existing.api_key_hash == principal.key_hash:
                # Its submit tx was refused or lost, so nothing was locked: the nonce is free again.
                store.delete_job(job_id)
                log.info("job replaced", extra=event("job_replaced", job_id, old_tx=existing.tx_hash))
            else:
                raise Conflict(f"job {job_id} already exists (nonce {signed.nonce} of {signed.sender} is used)")
        validation.check_model_offered(body.model, await offered_models(coord, body.model))
        job = JobRecord(
            id=job_id, api_key_hash=principal.key_hash, client=signed.sender, type=body.type, model=body.model,
            # The seed the chain runs the job with (derived from the job id when the client gave none).
            prompt=body.prompt, max_reward=signed.msg.max_reward,
            options=body.options.model_copy(update={"seed": txlib.job_seed(job_id, body.options.seed)})
            .model_dump_json(),
            signed_tx=signed.raw, tx_hash=signed.hash, status="pending", submitted_at=time.time(),
        )
        try:
            store.insert_job(job)
        except sqlite3.IntegrityError:
            raise Conflict(f"job {job_id} already exists") from None
        # Stored before the broadcast: a crash in between leaves it for the tracker to send.
        store.add_tx(signed.hash, job_id, "submit_job", signed.raw, "stored")
        try:
            result = await coord.chain.broadcast(signed.raw)
        except ChainUnavailable as exc:
            raise ChainUnavailable(f"{exc.detail}; job {job_id} is stored and will be broadcast when the node "
                                   "answers (see its status)") from exc
        if not result.ok:
            store.update_tx(signed.hash, status="rejected", code=result.code, log=result.log)
            store.delete_job(job_id)
            coord.metrics.tx_broadcast.labels(kind="submit_job", outcome="rejected").inc()
            log.info("job rejected by chain", extra=event("job_rejected", job_id, code=result.code_name,
                                                          log=result.log))
            raise ChainRejected(result.code, result.log, "submit_job transaction")
        store.update_tx(signed.hash, status="sent", seen_at=time.time())
    coord.metrics.tx_broadcast.labels(kind="submit_job", outcome="accepted").inc()
    coord.metrics.jobs_submitted.inc()
    log.info("job submitted", extra=event("job_submitted", job, model=job.model, client=job.client,
                                          max_reward=job.max_reward, tx_hash=job.tx_hash))
    return job, True


def _reached_chain(coord: Coordinator, job: JobRecord) -> bool:
    """False only for a failed job whose submit tx was refused or lost (nothing locked on chain)."""
    submit = coord.store.get_tx(job.tx_hash)
    return not (job.status == "failed" and submit is not None and submit.status in ("rejected", "lost", "failed"))


def visible_job(coord: Coordinator, principal: Principal, job_id: str) -> JobRecord:
    """The job if this key may see it (its own, or any for admin). Raises NotFound."""
    job = coord.store.get_job(job_id)
    if job is None or not (principal.is_admin or job.api_key_hash == principal.key_hash):
        raise NotFound(f"job {job_id} not found")
    return job


def list_jobs(coord: Coordinator, principal: Principal, status: str | None, limit: int) -> list[JobRecord]:
    owner = None if principal.is_admin else principal.key_hash
    return coord.store.list_jobs(owner, status, limit)


async def cancel(coord: Coordinator, principal: Principal, job_id: str, signed_tx: str) -> JobRecord:
    """Broadcast the client's own cancel_job tx (the coordinator never holds client keys)."""
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
        coord.store.update_job(job_id, status="cancelled", error="cancelled by the client", completed_at=time.time(),
                               amount_paid=0, refund=job.max_reward)
    coord.metrics.jobs_failed.labels(reason="cancelled").inc()
    log.info("job cancelled", extra=event("job_cancelled", job_id, tx_hash=signed.hash))
    return coord.store.get_job(job_id)


async def receipt(coord: Coordinator, ident: str) -> dict:
    """The on-chain receipt of a job (by job id or receipt id). Raises NotFound."""
    found = await coord.chain.receipt(ident)
    if found is None:
        # Nothing about the job itself: any client key may ask, and a job's status is its client's.
        raise NotFound(f"no receipt on chain for {ident}")
    return found



