"""Miner reports on a job: status (running, failed), streamed text and completion, from the assigned
miner or its checker."""

from __future__ import annotations

import logging
import time

from aitbc import jobspec, tx as txlib
from aitbc.signed_http import Signer
from aitbc.coordinator import job_state, lifecycle, proofs, spot_checks
from aitbc.coordinator.core import Coordinator
from aitbc.coordinator.errors import ChainRejected, Conflict, InvalidRequest, NotFound
from aitbc.coordinator.job_streams import ChunkRefused
from aitbc.coordinator.lifecycle import event
from aitbc.api.coordinator_models import ChunkCreate, JobComplete, StatusUpdate
from aitbc.coordinator.store import StoredJob

log = logging.getLogger("coordinator.jobs")


def _not_yours(job_id: str) -> NotFound:
    # One answer for an unknown job and for someone else's: a miner learns nothing
    # about jobs that are not its own, not even that they exist.
    return NotFound(f"job {job_id} not found among the jobs assigned to you")


def assigned_job(coord: Coordinator, job_id: str, signer: Signer) -> StoredJob:
    """The job, if `signer` is its assigned miner. Raises NotFound (also when it is someone else's)."""
    job = coord.store.get_job(job_id)
    if job is None or job.miner != signer.address:
        raise _not_yours(job_id)
    return job


async def _checker_report(coord: Coordinator, job_id: str, signer: Signer) -> bool:
    """A report from the miner re-running a job under spot check: the chain's current
    checker of a job we hold, not any other miner. The chain decides: our own record may
    still say running while the receipt that opened the check waits for its tx to settle."""
    job = coord.store.get_job(job_id)
    if job is None or job.miner == signer.address:
        return False
    chain_job = await coord.chain.job(job_id)
    return chain_job is not None and chain_job.get("status") == "verifying" \
        and chain_job.get("checker") == signer.address


async def update_status(coord: Coordinator, job_id: str, signer: Signer, body: StatusUpdate) -> StoredJob:
    if await _checker_report(coord, job_id, signer):
        # A checker's progress changes nothing: a failed re-run lapses on chain.
        log.info("checker status", extra=event("check_status", job_id, checker=signer.address, status=body.status,
                                               error=body.error))
        return coord.store.get_job(job_id)
    assigned_job(coord, job_id, signer)
    async with coord.lock(job_id):
        job = assigned_job(coord, job_id, signer)
        if body.status == "running":
            if job.status == "assigned":
                started = body.started_at.timestamp() if body.started_at else time.time()
                job_state.mark_running(coord.store, job, started)
                log.info("job running", extra=event("job_running", job, miner=signer.address))
            elif job.status != "running":
                raise Conflict(f"job {job_id} is {job.status}; it cannot start running")
        elif not job.is_final:
            # The miner's words reach its client, not the public chain.
            error = (body.error or "no reason given").strip()
            await lifecycle.fail_job(coord, job, f"miner_failed: miner {signer.address} reported failure; "
                                     "the escrow is refunded", "miner_error", detail=error, client_note=error)
        return coord.store.get_job(job_id)


def add_chunk(coord: Coordinator, job_id: str, signer: Signer, body: ChunkCreate) -> int:
    """The assigned miner's next piece of text, for the job's client to follow live (a checker's
    re-run streams nothing). Returns the next seq expected. Raises NotFound, Conflict."""
    job = assigned_job(coord, job_id, signer)
    if job.status not in job_state.HELD_BY_MINER or job.result_hash is not None:
        raise Conflict(f"job {job_id} is {job.status}; it takes no more text")
    try:
        return coord.streams.append(job_id, signer.address, body.seq, body.text)
    except ChunkRefused as exc:
        raise Conflict(str(exc)) from None


def _check_proof_is_for(job: StoredJob, proof) -> None:
    """The proof must attest to running what the client paid for: its model, prompt and options
    (the chain checks the same against the job it holds). Raises InvalidRequest."""
    options = job.options_dict
    wanted = {"model": job.model, "prompt hash": jobspec.prompt_hash(job.prompt).hex(),
              "options": (jobspec.temperature_milli(options["temperature"]), options["seed"], options["num_predict"])}
    got = {"model": proof.model, "prompt hash": proof.prompt_hash.hex(),
           "options": (proof.options.temperature_milli, proof.options.seed, proof.options.num_predict)}
    wrong = [f"{name} {got[name]!r} != {wanted[name]!r}" for name in wanted if got[name] != wanted[name]]
    if wrong:
        raise InvalidRequest("invalid proof: not for this job as submitted (proof vs job): " + "; ".join(wrong))


async def complete(coord: Coordinator, job_id: str, signer: Signer, body: JobComplete) -> StoredJob:
    """Check the proof, keep the result, and put the receipt on chain (record_receipt)."""
    if await _checker_report(coord, job_id, signer):
        return await spot_checks.complete(coord, job_id, signer, body)
    info, sender = coord.require_chain()
    assigned_job(coord, job_id, signer)
    verified = proofs.verify_completion(body, job_id, info.chain_id, signer.address, signer.public_key)
    result_hash = jobspec.result_hash(body.result).hex()
    async with coord.lock(job_id):
        job = assigned_job(coord, job_id, signer)
        delivered_by = txlib.decode_proof(job.proof).miner if job.proof else None
        # A result kept from an earlier assignment (the job was re-queued when its txs failed
        # and went to another miner) does not answer for this miner's: its own proof replaces it.
        if job.result_hash is not None and delivered_by in (None, signer.address):
            if job.result_hash == result_hash:
                return job  # a retry of a completion we already have
            raise Conflict(f"job {job_id} already has a different result")
        if job.status not in job_state.HELD_BY_MINER:
            raise Conflict(f"job {job_id} is {job.status}; its result is no longer accepted")
        _check_proof_is_for(job, verified.proof)
        job_state.keep_result(coord.store, job, body.result, result_hash, body.metrics.model_dump_json(),
                              verified.data, verified.signature)
        result = await sender.send("record_receipt", job_id, proof=verified.data,
                                   miner_signature=verified.signature)
        if not result.ok:
            # Forget the result: it was not paid for. Take the chain's view of the job.
            job_state.drop_result(coord.store, job_id)
            raise ChainRejected(result.code, result.log, "record_receipt transaction")
        # CheckTx ran the receipt against the chain's state with every tx before it: the
        # client may have the result now, its receipt pending until the block (tracker.py).
        job_state.mark_released(coord.store, job_id)
        coord.jobs_waiting.set()  # the miner has a free slot now: the queue need not wait a tick
        # The client's stream now ends with exactly the text the receipt commits to.
        coord.streams.settle(job_id, body.result, result_hash, body.metrics.tokens_generated,
                             body.metrics.prompt_tokens, miner=signer.address)
        log.info("result accepted; receipt broadcast", extra=event(
            "job_result", job, miner=signer.address, tx_hash=result.hash,
            compute_time=body.metrics.compute_time, tokens=body.metrics.tokens_generated))
    return coord.store.get_job(job_id)
