"""/v1/jobs/assign: the coordinator's signed pushes of work."""

from __future__ import annotations

import logging

from fastapi import APIRouter

from aitbc.api.miner_models import AssignAccepted, JobAssignment
from aitbc.miner.deps import CoordinatorDep, DaemonDep
from aitbc.miner.routers import PROBLEM_RESPONSES
from aitbc.miner.runner import AssignmentRejected

log = logging.getLogger("miner.api")
router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=PROBLEM_RESPONSES)


@router.post("/assign", response_model=AssignAccepted, status_code=202,
             summary="Take a job (coordinator only, signed request)")
async def assign(assignment: JobAssignment, daemon: DaemonDep, _coordinator: CoordinatorDep) -> AssignAccepted:
    if not daemon.runner.knows(assignment):  # a repeat was checked the first time
        daemon.runner.precheck(assignment)  # quick refusals first: no chain wait for a wrong model
        # Even the coordinator's word is not enough: run only what the chain assigned to us.
        try:
            await daemon.confirm_assignment(assignment)
        except AssignmentRejected as exc:
            daemon.metrics.assignments_rejected.labels(exc.reason).inc()
            log.warning("assignment refused", extra={"job_id": assignment.job_id, "reason": exc.reason,
                                                     "detail": exc.detail})
            raise
    return daemon.runner.assign(assignment)
