"""GET /v1/jobs/{id} as a long poll: every job answer carries the job's ETag, and a request
that sends it back in If-None-Match with `?wait=S` is held until the job's public view
changes or S seconds pass (then 304 Not Modified). A waiting client learns of a result or a
final status as the coordinator writes it, instead of at its next poll, and asks once per change."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable

from fastapi import Response

from aitbc.coordinator import job_queries
from aitbc.coordinator.apikeys import Principal
from aitbc.coordinator.core import Coordinator
from aitbc.coordinator.http import views

# The longest a request is held; a longer wait is cut to it. Clients ask for less (25 s:
# CoordinatorClient.job_updates), under the 30-60 s idle timeouts of common proxies.
MAX_WAIT_S = 60.0
# How often a held request checks that its client is still there (an abandoned poll ends).
CLIENT_CHECK_S = 5.0
# A job's JSON holds its result: no shared cache may keep it, and an answer is per API key.
HEADERS = {"Cache-Control": "private, no-cache", "Vary": "X-Api-Key"}


def etag_of(body: bytes) -> str:
    """A strong ETag of one representation of a job."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names `etag` (RFC 9110: weak comparison, `*` for any)."""
    if not if_none_match:
        return False
    for tag in if_none_match.split(","):
        tag = tag.strip().removeprefix("W/")
        if tag in ("*", etag):
            return True
    return False


async def job_answer(coord: Coordinator, principal: Principal, job_id: str, if_none_match: str | None,
                     wait: float, gone: Callable[[], Awaitable[bool]]) -> Response:
    """The job as JSON with its ETag; 304 when it still matches If-None-Match after `wait`
    seconds (at once with no wait), or when the client went away (`gone`) meanwhile."""
    deadline = time.monotonic() + min(max(wait, 0.0), MAX_WAIT_S)
    while True:
        body = views.job_public(job_queries.visible_job(coord, principal, job_id)).model_dump_json().encode()
        etag = etag_of(body)
        if not matches(if_none_match, etag):
            return Response(body, media_type="application/json", headers={"ETag": etag, **HEADERS})
        remaining = deadline - time.monotonic()
        if remaining <= 0 or await gone():
            return Response(status_code=304, headers={"ETag": etag, **HEADERS})
        await coord.streams.wait_changed(job_id, min(remaining, CLIENT_CHECK_S))
