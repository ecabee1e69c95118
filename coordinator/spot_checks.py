"""Spot checks, the coordinator's side: deliver the job to the checker the chain drew, record its re-run.

The chain decides which receipts are checked (by the hash of the block that
recorded them), draws the checkers (stake-weighted, never the job's miner or
client) and decides who was right. The coordinator only delivers the prompt,
which the chain does not hold, to the drawn checker, and relays its signed
re-run. If the checker cannot be reached, the check lapses on chain after its
window: paid if nobody contradicted the result, refunded otherwise.
"""

from __future__ import annotations

import functools
import logging

from aitbc.signed_http import Signer
from aitbc.coordinator import job_state, proofs
from aitbc.coordinator.core import Coordinator
from aitbc.coordinator.errors import ChainRejected, Forbidden, MinerUnreachable
from aitbc.coordinator.lifecycle import event
from aitbc.coordinator.miner_push import MinerDeclined, push_assignment
from aitbc.api.coordinator_models import JobComplete, JobOptions
from aitbc.coordinator.store import StoredJob
from aitbc.api.miner_models import JobAssignment, JobData

log = logging.getLogger("coordinator.checks")


async def run(coord: Coordinator) -> None:
    """One pass: sync jobs under check, push re-runs to the checkers the chain drew.

    Skipped while the head the tracker read this tick is the one the last pass saw: the
    chain opens, draws and closes checks only in blocks, and our txs of these jobs settle
    only when the tracker reads a new block (a tick is a fraction of a block; at intake
    rates each tick's query was 2 % of the coordinator's samples, and a query for the node's
    app). Without a head this tick (no txs in flight) every tick reads them. A push that
    failed is retried by the next pass either way."""
    coord.require_chain()
    head = coord.head_this_tick
    if head is not None and head == coord.checks_read_at:
        return
    under_check = await coord.chain.open_checks()
    open_ids = {job["id"] for job in under_check}
    for job in coord.store.jobs_with_status("verifying"):
        if job.id not in open_ids and not coord.store.job_txs_in_flight(job.id):
            job_state.needs_reconcile(coord.store, job.id)  # decided, or lapsed at its window
    for chain_job in under_check:
        local = coord.store.get_job(chain_job["id"])
        if local is None:
            continue  # not a job we took in: we hold no prompt to deliver
        if local.status != "verifying" and not coord.store.job_txs_in_flight(local.id):
            job_state.mark_verifying(coord.store, local)
        checker = chain_job["checker"]
        if not checker:
            continue  # the chain draws one at a later block
        if not coord.store.check_pushed(local.id, checker):
            coord.pushes.start(f"check:{local.id}:{checker}", functools.partial(_push, coord, local, checker))
    coord.checks_read_at = head


async def _push(coord: Coordinator, job: StoredJob, checker: str) -> None:
    try:
        info, _ = coord.require_chain()
        local = coord.store.get_miner(checker)
        endpoint = local.endpoint if local else ((await coord.chain.miner(checker)) or {}).get("endpoint", "")
        assignment = JobAssignment(job_id=job.id, job_data=JobData(type=job.type, prompt=job.prompt, model=job.model,
                                                                   options=JobOptions(**job.options_dict)),
                                   reward=job.max_reward, chain_id=info.chain_id, check=True)
        if not endpoint:
            raise MinerUnreachable(f"checker {checker} has no endpoint")
        await push_assignment(coord.miners, endpoint, assignment)
        coord.store.mark_check_pushed(job.id, checker)
        log.info("re-run pushed to checker", extra=event("check_pushed", job, checker=checker))
    except (MinerUnreachable, MinerDeclined) as exc:
        # The chain cannot take a checker back: the check lapses and the miner is paid.
        coord.store.mark_check_pushed(job.id, checker)
        log.warning("checker did not take the re-run", extra=event("check_push_failed", job, checker=checker,
                                                                   detail=str(exc)))
    except Exception:  # noqa: BLE001 - a task nobody awaits logs its own failure
        log.exception("check push failed", extra=event("check_push_error", job))


async def complete(coord: Coordinator, job_id: str, signer: Signer, body: JobComplete) -> StoredJob:
    """The checker's re-run: check its proof and put it on chain (record_check)."""
    info, sender = coord.require_chain()
    chain_job = await coord.chain.job(job_id)
    if chain_job is None or chain_job["status"] != "verifying" or chain_job["checker"] != signer.address:
        raise Forbidden(f"{signer.address} is not re-running job {job_id}")
    verified = proofs.verify_completion(body, job_id, info.chain_id, signer.address, signer.public_key)
    async with coord.lock(job_id):
        result = await sender.send("record_check", job_id, proof=verified.data, miner_signature=verified.signature)
        if not result.ok:
            raise ChainRejected(result.code, result.log, "record_check transaction")
        job = coord.store.get_job(job_id)
        log.info("re-run recorded", extra=event("check_result", job_id, checker=signer.address, tx_hash=result.hash,
                                                matches=body.proof.hash == chain_job["result_hash"]))
    return job
