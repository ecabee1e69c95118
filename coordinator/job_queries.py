"""Reading jobs for a client: one job, a list, a receipt. Each API key sees its own jobs (admin: all)."""

from __future__ import annotations

from aitbc.coordinator.apikeys import Principal
from aitbc.coordinator.core import Coordinator
from aitbc.coordinator.errors import NotFound
from aitbc.coordinator.store import StoredJob


def visible_job(coord: Coordinator, principal: Principal, job_id: str) -> StoredJob:
    """The job if this key may see it (its own, or any for admin). Raises NotFound."""
    job = coord.store.get_job(job_id)
    if job is None or not (principal.is_admin or job.api_key_hash == principal.key_hash):
        raise NotFound(f"job {job_id} not found")
    return job


def list_jobs(coord: Coordinator, principal: Principal, status: str | None, limit: int) -> list[StoredJob]:
    """This key's jobs (admin: everyone's), newest first, optionally of one status."""
    owner = None if principal.is_admin else principal.key_hash
    return coord.store.list_jobs(owner, status, limit)


async def receipt(coord: Coordinator, ident: str) -> dict:
    """The on-chain receipt of a job (by job id or receipt id). Raises NotFound."""
    found = await coord.chain.receipt(ident)
    if found is None:
        # Nothing about the job itself: any client key may ask, and a job's status is its client's.
        raise NotFound(f"no receipt on chain for {ident}")
    return found
