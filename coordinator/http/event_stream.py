"""GET /v1/jobs/{id}/stream as server-sent events: the job's live text from
coordinator/job_streams.py, then `done` once the job's store record says the receipt
is on chain or the job ended otherwise."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

from aitbc.coordinator.core import Coordinator
from aitbc.coordinator.http import views
from aitbc.coordinator.job_streams import Event, StreamReader
from aitbc.coordinator.store import StoredJob
from aitbc.jobspec import JobStatus

# The longest a reader waits before reading the job's record again; new text and status changes wake it sooner.
POLL_S = 0.25
PING_S = 10.0      # a comment line this often keeps proxies and clients from timing out

HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def is_done(job: StoredJob) -> bool:
    """The receipt is committed on chain (the job completed, or is held for a spot check with
    its receipt), or the job ended without one (failed, expired, cancelled)."""
    if job.status in (JobStatus.COMPLETED, JobStatus.VERIFYING):
        return job.receipt_id is not None
    return job.status in (JobStatus.FAILED, JobStatus.EXPIRED, JobStatus.CANCELLED)


def frame(kind: str, data: object) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


def _frames(events: list[Event]) -> str:
    return "".join(frame(e.kind, e.data) for e in events)


async def job_events(coord: Coordinator, job_id: str) -> AsyncIterator[str]:
    """The event stream of one job, until its `done` event."""
    reader = StreamReader(coord.streams, job_id)
    last_sent = time.monotonic()
    while True:
        out = _frames(reader.pending())
        job = coord.store.get_job(job_id)
        if job is None:  # forgotten: its submit tx never locked anything
            return
        if is_done(job):
            metrics = job.metrics_dict or {}
            out += _frames(reader.settle(job.result, job.result_hash, metrics.get("tokens_generated", 0),
                                         metrics.get("prompt_tokens", 0)))
            yield out + frame("done", views.job_public(job).model_dump(mode="json"))
            return
        if out:
            yield out
            last_sent = time.monotonic()
        elif time.monotonic() - last_sent >= PING_S:
            yield ": ping\n\n"
            last_sent = time.monotonic()
        await reader.wait(POLL_S)
