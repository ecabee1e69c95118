"""The one owner of a stored job: every write of a job row is a named function here.

    pending -> assigned -> running -> completed
                                   -> verifying (spot check) -> completed / failed
            -> failed / expired / cancelled

Two kinds of status change, as on chain (`abci_app/jobs.py`):

- the coordinator's own moves (`mark_assigned`, `mark_running`, `mark_failed`,
  `mark_cancelled`) start from the status the caller read under the job's lock;
  `ALLOWED_FROM` names where each may start, and anything else is a bug
  (`BadTransition`), never a client's error: callers check first and answer
  409 themselves;
- the moves that follow the chain (`requeue`, `follow_assignment`,
  `mark_verifying`, `mark_completed`, `mark_closed`, `mark_not_on_chain`)
  take the chain's view from any status: the chain is the truth.

The rest are the job's flags (reconcile, push) and its result, which the
same functions write so that no other module touches a job row.
"""

from __future__ import annotations

import time
from typing import Any

from aitbc.coordinator.store import Store, StoredJob
from aitbc.jobspec import FINAL, JobStatus

HELD_BY_MINER = (JobStatus.ASSIGNED, JobStatus.RUNNING)
"""A miner has the job and may still deliver it."""

ALLOWED_FROM: dict[JobStatus, tuple[JobStatus, ...]] = {
    JobStatus.ASSIGNED: (JobStatus.PENDING,),
    JobStatus.RUNNING: (JobStatus.ASSIGNED,),
    # A verifying job too: our record may lag a chain that put the job back to work.
    JobStatus.FAILED: tuple(s for s in JobStatus if s not in FINAL),
    JobStatus.CANCELLED: (JobStatus.PENDING,),
}


class BadTransition(RuntimeError):
    """A caller asked for a move its job's status does not allow: a bug in the caller."""

    def __init__(self, job_id: str, status: str, to: JobStatus):
        super().__init__(f"job {job_id} is {status}; it cannot become {to}")
        self.job_id, self.status, self.to = job_id, status, to


def _move(store: Store, job: StoredJob, to: JobStatus, **changes: Any) -> None:
    if job.status not in ALLOWED_FROM[to]:
        raise BadTransition(job.id, job.status, to)
    store.update_job(job.id, status=to, **changes)


# --- the coordinator's own moves ----------------------------------------------------------

def insert_pending(store: Store, **fields: Any) -> StoredJob:
    """Store a job just taken in, before its submit tx is broadcast.

    Raises sqlite3.IntegrityError when the id exists."""
    job = StoredJob(status=JobStatus.PENDING, submitted_at=time.time(), **fields)
    store.insert_job(job)
    return job


def forget(store: Store, job_id: str) -> None:
    """Drop a job whose submit tx never locked anything on chain (refused, or replaced)."""
    store.delete_job(job_id)


def mark_assigned(store: Store, job: StoredJob, miner: str) -> None:
    """Our assign_job tx was accepted: the job waits to be pushed to `miner`."""
    _move(store, job, JobStatus.ASSIGNED, miner=miner, assigned_at=time.time(), needs_push=1)


def mark_running(store: Store, job: StoredJob, started_at: float) -> None:
    """The assigned miner reported that it started."""
    _move(store, job, JobStatus.RUNNING, started_at=started_at)


def mark_failed(store: Store, job: StoredJob, error: str) -> None:
    """Our fail_job tx was accepted: the whole escrow goes back to the client."""
    _move(store, job, JobStatus.FAILED, error=error, completed_at=time.time(), needs_push=0,
          refund=job.max_reward, amount_paid=0)


def mark_cancelled(store: Store, job: StoredJob) -> None:
    """The client's cancel_job tx was accepted into the mempool."""
    _move(store, job, JobStatus.CANCELLED, error="cancelled by the client", completed_at=time.time(),
          amount_paid=0, refund=job.max_reward)


# --- following the chain --------------------------------------------------------------------

def requeue(store: Store, job: StoredJob) -> None:
    """The chain holds the job as pending: no miner has it any more."""
    store.update_job(job.id, status=JobStatus.PENDING, miner=None, assigned_at=None, started_at=None,
                     needs_push=0, error=None, completed_at=None)


def follow_assignment(store: Store, job: StoredJob, miner: str, push: bool) -> bool:
    """The chain says `miner` holds the job. A job that miner already holds keeps its
    status (running stays running); it is pushed again when `push` or newly assigned.
    True when the job was not already `miner`'s."""
    keep = job.status in HELD_BY_MINER and job.miner == miner
    store.update_job(job.id, status=job.status if keep else JobStatus.ASSIGNED, miner=miner,
                     assigned_at=job.assigned_at or time.time(), needs_push=1 if (push or not keep) else job.needs_push)
    return not keep


def mark_verifying(store: Store, job: StoredJob, receipt: dict[str, Any] | None = None) -> None:
    """The job's receipt was drawn for a spot check; `receipt` when we read it already."""
    if receipt is None:
        store.update_job(job.id, status=JobStatus.VERIFYING)
        return
    store.update_job(job.id, status=JobStatus.VERIFYING, receipt_id=receipt["id"],
                     block_height=receipt["block_height"], miner=receipt["miner"], needs_push=0)


def mark_completed(store: Store, job: StoredJob, receipt: dict[str, Any]) -> float:
    """The job's receipt is on chain and paid; returns the completion time recorded."""
    # Our clock, not the block's: BFT block time lags by up to a block, which
    # would make "completed" come before "started" for quick jobs.
    completed_at = max(time.time(), job.started_at or 0.0)
    store.update_job(job.id, status=JobStatus.COMPLETED, receipt_id=receipt["id"],
                     amount_paid=receipt["amount_paid"], refund=receipt["refund"],
                     block_height=receipt["block_height"], completed_at=completed_at, miner=receipt["miner"],
                     needs_push=0, error=None)
    return completed_at


def mark_closed(store: Store, job: StoredJob, chain_job: dict[str, Any]) -> None:
    """The chain closed the job without a receipt (failed, expired or cancelled)."""
    status = JobStatus(chain_job["status"])
    if status not in FINAL or status is JobStatus.COMPLETED:
        raise BadTransition(job.id, job.status, status)
    store.update_job(job.id, status=status, error=chain_job.get("reason") or status, amount_paid=0,
                     refund=chain_job.get("refund"), completed_at=job.completed_at or time.time(), needs_push=0)


def mark_not_on_chain(store: Store, job: StoredJob, why: str) -> None:
    """The job's submit tx never made it into a block: nothing was locked, nothing to refund."""
    store.update_job(job.id, status=JobStatus.FAILED, completed_at=time.time(), amount_paid=0, refund=0,
                     error=f"the submit_job transaction never made it on chain ({why}); nothing was locked")


# --- flags and the result -----------------------------------------------------------------------

def needs_reconcile(store: Store, job_id: str) -> None:
    """Compare the job with the chain once its txs settle (scheduler.reconcile_marked)."""
    store.update_job(job_id, needs_reconcile=1)


def reconciled(store: Store, job_id: str) -> None:
    store.update_job(job_id, needs_reconcile=0)


def needs_push(store: Store, job_id: str) -> None:
    """Push the assignment to the job's miner (again) on the next tick."""
    store.update_job(job_id, needs_push=1)


def push_done(store: Store, job_id: str, reconcile: bool = False) -> None:
    """No (further) push is needed; with `reconcile` the chain is read again first."""
    store.update_job(job_id, needs_push=0, **({"needs_reconcile": 1} if reconcile else {}))


def keep_result(store: Store, job: StoredJob, result: str, result_hash: str, metrics_json: str,
                proof: bytes, proof_signature: bytes) -> None:
    """The miner's checked result and signed proof, kept before its receipt is broadcast."""
    store.update_job(job.id, result=result, result_hash=result_hash, metrics=metrics_json, proof=proof,
                     proof_signature=proof_signature, started_at=job.started_at or job.assigned_at, released_at=None)


def mark_released(store: Store, job_id: str) -> None:
    """The kept result's record_receipt passed CheckTx: the client may have the result now,
    its receipt pending until the tx is in a block (docs/verification.md)."""
    store.update_job(job_id, released_at=time.time())


def drop_result(store: Store, job_id: str) -> None:
    """Forget a result whose receipt the chain refused (it was not paid for), and read the chain again."""
    store.update_job(job_id, result=None, result_hash=None, proof=None, proof_signature=None, released_at=None,
                     needs_reconcile=1)


def note_error(store: Store, job_id: str, error: str) -> None:
    """A problem the job's client should see, without changing its status."""
    store.update_job(job_id, error=error)
