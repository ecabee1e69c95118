"""/v1/jobs: clients submit and follow jobs (X-Api-Key); the assigned miner reports (signed)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from aitbc.coordinator import job_cancel, job_queries, job_submission, miner_reports
from aitbc.coordinator.http import event_stream, job_watch, views
from aitbc.coordinator.http.direct_route import direct
from aitbc.coordinator.http.deps import CoordDep, MinerDep, PrincipalDep
from aitbc.api.coordinator_models import (
    ChunkAccepted, ChunkCreate, JobCancel, JobComplete, JobCreate, JobList, JobPublic, JobStatus, JobSubmitted, ReceiptPublic, StatusUpdate,
)
from aitbc.coordinator.http.routers import PROBLEM_RESPONSES

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=PROBLEM_RESPONSES)


# `direct`: the hottest routes (a submission; a miner's reports, chunks many times a second)
# read their arguments without FastAPI's per-request dependency solving (direct_route.py);
# their signatures still document them.
@direct(router, "POST", "", status_code=201, response_model=JobSubmitted,
        summary="Submit a job with its signed submit_job tx")
async def submit_job(body: JobCreate, coord: CoordDep, principal: PrincipalDep) -> Response:
    job, created = await job_submission.submit(coord, principal, body)
    return Response(views.job_submitted(job).model_dump_json(), status_code=201 if created else 200,
                    media_type="application/json")


@router.get("", response_model=JobList, summary="Your jobs (all jobs for admin), newest first")
async def list_jobs(coord: CoordDep, principal: PrincipalDep, status: JobStatus | None = None,
                    limit: Annotated[int, Query(ge=1, le=500)] = 50) -> JobList:
    return JobList(jobs=[views.job_public(j) for j in job_queries.list_jobs(coord, principal, status, limit)])


@router.get("/{job_id}", response_model=JobPublic, summary="A job's status and, once paid, its result",
            responses={304: {"description": "the job still matches If-None-Match after `wait` seconds"}})
async def get_job(job_id: str, coord: CoordDep, principal: PrincipalDep, request: Request,
                  wait: Annotated[float, Query(ge=0, allow_inf_nan=False, description=(
                      "with If-None-Match: hold the answer until the job no longer matches that ETag, "
                      f"at most this many seconds (a longer wait is cut to {job_watch.MAX_WAIT_S:g})"))] = 0,
                  if_none_match: Annotated[str | None, Header(description="an ETag of this job")] = None,
                  ) -> Response:
    return await job_watch.job_answer(coord, principal, job_id, if_none_match, wait, request.is_disconnected)


@router.get("/{job_id}/stream", response_class=StreamingResponse,
            summary="The job's text as it is generated, then its result and final state (server-sent events)",
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "events token, replace, result, done; `: ping` comments"}})
async def stream_job(job_id: str, coord: CoordDep, principal: PrincipalDep) -> StreamingResponse:
    job_queries.visible_job(coord, principal, job_id)  # 404 before the stream starts
    return StreamingResponse(event_stream.job_events(coord, job_id), media_type="text/event-stream",
                             headers=event_stream.HEADERS)


@router.post("/{job_id}/cancel", response_model=JobPublic, summary="Cancel a pending job with a signed cancel_job tx")
async def cancel_job(job_id: str, body: JobCancel, coord: CoordDep, principal: PrincipalDep) -> JobPublic:
    return views.job_public(await job_cancel.cancel(coord, principal, job_id, body.signed_tx))


@router.get("/{job_id}/receipt", response_model=ReceiptPublic, summary="The on-chain receipt (job or receipt id)")
async def get_receipt(job_id: str, coord: CoordDep, _principal: PrincipalDep) -> ReceiptPublic:
    return views.receipt_public(await job_queries.receipt(coord, job_id))


@direct(router, "POST", "/{job_id}/status", response_model=JobPublic,
        summary="Assigned miner: running or failed (signed)")
async def report_status(job_id: str, body: StatusUpdate, coord: CoordDep, miner: MinerDep) -> JobPublic:
    return views.job_public(await miner_reports.update_status(coord, job_id, miner, body))


@direct(router, "POST", "/{job_id}/chunks", status_code=202, response_model=ChunkAccepted,
        summary="Assigned miner: the next piece of generated text (signed)")
async def add_chunk(job_id: str, body: ChunkCreate, coord: CoordDep, miner: MinerDep) -> ChunkAccepted:
    return ChunkAccepted(job_id=job_id, next_seq=miner_reports.add_chunk(coord, job_id, miner, body))


@direct(router, "POST", "/{job_id}/complete", response_model=JobPublic,
        summary="Assigned miner: result and signed proof")
async def complete_job(job_id: str, body: JobComplete, coord: CoordDep, miner: MinerDep) -> JobPublic:
    return views.job_public(await miner_reports.complete(coord, job_id, miner, body))
