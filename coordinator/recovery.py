"""Start-up: rebuild the view of open jobs from the chain, so that nothing
accepted before a crash is left hanging.

- stored client txs never broadcast are broadcast (by the tracker's first pass);
- every open local job with no tx in flight is reconciled with /job/<id>:
  pending -> queued again, assigned -> assignment pushed again (the miner treats
  a repeated job_id as the same job) or failed once the miner stays offline,
  closed on chain -> synced (completed with receipt / failed / expired);
- open jobs on chain that name this coordinator but that it never accepted (no prompt
  here, e.g. submitted straight to the node) cannot run: they are failed, which refunds
  them. Jobs naming another coordinator, and direct jobs, are left alone.
"""

from __future__ import annotations

import logging

from aitbc.coordinator import job_state, lifecycle
from aitbc.coordinator.core import Coordinator
from aitbc.jobspec import OPEN_IN_SERVICE

log = logging.getLogger("coordinator.recovery")


async def recover(coord: Coordinator) -> None:
    store = coord.store
    open_jobs = store.jobs_with_status(*OPEN_IN_SERVICE)
    for job in open_jobs:
        async with coord.lock(job.id):
            fresh = store.get_job(job.id)
            if fresh is None or fresh.is_final:
                continue
            if fresh.status in job_state.HELD_BY_MINER and not fresh.result_hash:
                job_state.needs_push(store, job.id)
            if store.job_txs_in_flight(job.id):
                job_state.needs_reconcile(store, job.id)  # after its txs settle
                continue
            await lifecycle.reconcile(coord, fresh, recovering=True)
    info, sender = coord.require_chain()
    unknown = 0
    for chain_job in await coord.chain.open_jobs():
        if store.get_job(chain_job["id"]) is not None:
            continue
        if not info.names_us(chain_job.get("coordinator", ""), direct=bool(chain_job.get("candidates"))):
            continue  # another coordinator's job, or a direct one: not ours to fail
        unknown += 1
        result = await sender.send("fail_job", None, job_id=chain_job["id"],
                                   reason="the coordinator has no prompt for this job (not submitted through it)")
        log.warning("unknown open job failed", extra={"event": "job_failed", "job_id": chain_job["id"],
                                                      "code": result.code_name})
    log.info("recovery done", extra={"event": "recovered", "open_jobs": len(open_jobs), "unknown_on_chain": unknown})
