"""Taking in a client's job: check it, store it, then broadcast its signed submit_job tx."""

from __future__ import annotations

import logging
import sqlite3
import time

from aitbc import tx as txlib
from aitbc.coordinator import job_state, validation
from aitbc.coordinator.apikeys import Principal
from aitbc.coordinator.core import Coordinator
from aitbc.coordinator.errors import ChainRejected, ChainUnavailable, Conflict
from aitbc.coordinator.lifecycle import event
from aitbc.api.coordinator_models import JobCreate
from aitbc.coordinator.store import StoredJob, stored_int

log = logging.getLogger("coordinator.jobs")


async def submit(coord: Coordinator, principal: Principal, body: JobCreate) -> tuple[StoredJob, bool]:
    """Validate, store, then broadcast the client's submit_job tx. Returns (job, created)."""
    info, _ = coord.require_chain()
    validation.check_body(body)
    signed = validation.decode_signed_tx(body.signed_tx, "submit_job")
    validation.check_names_us(signed, info.coordinator, info.is_genesis)
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
                job_state.forget(store, job_id)
                log.info("job replaced", extra=event("job_replaced", job_id, old_tx=existing.tx_hash))
            else:
                raise Conflict(f"job {job_id} already exists (nonce {signed.nonce} of {signed.sender} is used)")
        validation.check_model_offered(body.model, await coord.model_offers.including(body.model))
        # The seed the chain runs the job with (derived from the job id when the client gave none).
        options = body.options.model_copy(update={"seed": txlib.job_seed(job_id, body.options.seed)}).model_dump_json()

        def write() -> StoredJob:
            job = job_state.insert_pending(
                store, id=job_id, api_key_hash=principal.key_hash, client=signed.sender, type=body.type,
                model=body.model, prompt=body.prompt, max_reward=signed.msg.max_reward, options=options,
                signed_tx=signed.raw, tx_hash=signed.hash,
                max_price_per_second=stored_int(signed.msg.max_price_per_second),
            )
            store.add_tx(signed.hash, job_id, "submit_job", signed.raw, "stored")
            return job

        # Committed before the broadcast, the job and its tx together (with other submissions'
        # writes of the same moment: group_commit.py): a crash in between leaves both for the
        # tracker to send.
        try:
            job = await coord.writes.run(write)
        except sqlite3.IntegrityError:
            raise Conflict(f"job {job_id} already exists") from None
        try:
            result = await coord.chain.broadcast(signed.raw)
        except ChainUnavailable as exc:
            raise ChainUnavailable(f"{exc.detail}; job {job_id} is stored and will be broadcast when the node "
                                   "answers (see its status)") from exc
        if not result.ok:
            store.update_tx(signed.hash, status="rejected", code=result.code, log=result.log)
            job_state.forget(store, job_id)
            coord.metrics.submit_rejected.inc()
            log.info("job rejected by chain", extra=event("job_rejected", job_id, code=result.code_name,
                                                          log=result.log))
            raise ChainRejected(result.code, result.log, "submit_job transaction")
        store.mark_sent(signed.hash, time.time())
    coord.jobs_waiting.set()  # the scheduler assigns it now, not on its next tick
    coord.metrics.submit_accepted.inc()
    coord.metrics.jobs_submitted.inc()
    log.info("job submitted", extra=event("job_submitted", job, model=job.model, client=job.client,
                                          max_reward=job.max_reward, tx_hash=job.tx_hash))
    return job, True


def _reached_chain(coord: Coordinator, job: StoredJob) -> bool:
    """False only for a failed job whose submit tx was refused or lost (nothing locked on chain)."""
    submit = coord.store.get_tx(job.tx_hash)
    return not (job.status == "failed" and submit is not None and submit.status in ("rejected", "lost", "failed"))
