"""Spot checks, the coordinator's side: find a checker, hand it the job, record its re-run.

The chain decides which receipts are checked (by the hash of the block that
recorded them) and who was right; the coordinator only brings checkers: a
miner other than the original (and earlier checkers) that serves the model,
picked like any assignment. If no checker can be found or pushed, the check
lapses on chain after its window and the held payment is released.
"""

from __future__ import annotations

import asyncio
import logging

from aitbc.signed_http import Signer
from coordinator import proofs, selection
from coordinator.core import Coordinator
from coordinator.errors import ChainRejected, Forbidden, MinerUnreachable
from coordinator.lifecycle import event
from coordinator.miner_push import MinerDeclined, push_assignment
from coordinator.models import JobComplete, JobOptions
from coordinator.store import JobRecord
from miner.models import JobAssignment, JobData

log = logging.getLogger("coordinator.checks")


async def run(coord: Coordinator, candidates) -> None:
    """One pass: sync jobs under check, assign checkers, push re-runs."""
    _, sender = coord.require_chain()
    under_check = await coord.chain.open_checks()
    open_ids = {job["id"] for job in under_check}
    for job in coord.store.jobs_with_status("verifying"):
        if job.id not in open_ids and not coord.store.job_txs_in_flight(job.id):
            coord.store.update_job(job.id, needs_reconcile=1)  # decided, or lapsed at its window
    pool = None
    for chain_job in under_check:
        local = coord.store.get_job(chain_job["id"])
        if local is None:
            continue  # not a job we took in: it lapses on chain
        if local.status != "verifying" and not coord.store.job_txs_in_flight(local.id):
            coord.store.update_job(local.id, status="verifying")
        if chain_job["checker"]:
            key = f"check:{local.id}:{chain_job['checker']}"
            if not coord.store.check_pushed(local.id, chain_job["checker"]) and key not in coord.pushing:
                coord.pushing.add(key)
                asyncio.get_running_loop().create_task(_push(coord, local, chain_job["checker"], key))
            continue
        if coord.store.job_txs_in_flight(local.id, kinds=("assign_check", "record_check")):
            continue
        if pool is None:
            pool = {c.address: c for c in await candidates(coord)}
        chosen = selection.choose(pool.values(), local.model, exclude={chain_job["miner"], *chain_job["checkers"]})
        if chosen is None:
            continue
        result = await sender.send("assign_check", local.id, job_id=local.id, checker=chosen.address)
        log.info("checker assigned" if result.ok else "checker refused by chain", extra=event(
            "check_assigned" if result.ok else "check_assign_rejected", local, checker=chosen.address,
            round=len(chain_job["checkers"]) + 1, code=result.code_name))


async def _push(coord: Coordinator, job: JobRecord, checker: str, key: str) -> None:
    try:
        info, _ = coord.require_chain()
        local = coord.store.get_miner(checker)
        endpoint = local.endpoint if local else ((await coord.chain.miner(checker)) or {}).get("endpoint", "")
        assignment = JobAssignment(job_id=job.id, job_data=JobData(type=job.type, prompt=job.prompt, model=job.model,
                                                                   options=JobOptions(**job.options_dict)),
                                   reward=job.max_reward, chain_id=info.chain_id)
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
    finally:
        coord.pushing.discard(key)


async def complete(coord: Coordinator, job_id: str, signer: Signer, body: JobComplete) -> JobRecord:
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
