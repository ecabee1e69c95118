"""RFC 9457 problem details: the body of every error answer of the coordinator
and the miner, built and read here only.

Servers answer with `problem_response` (or `problem_bytes` below the framework,
in ASGI middleware); clients turn any error answer into a `Problem` with
`read_problem`, whether or not the body really is problem+json.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any, Iterable, Mapping

import httpx
from pydantic import BaseModel
from starlette.responses import JSONResponse

MEDIA_TYPE = "application/problem+json"
# What a non-problem error body may contribute to a detail: these texts end up in logs.
MAX_FOREIGN_DETAIL = 500


class Problem(BaseModel):
    """RFC 9457 problem details, the body of every error answer."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries saying that these statuses answer with a Problem."""
    return {status: {"model": Problem, "content": {MEDIA_TYPE: {}}} for status in statuses}


def status_title(status: int) -> str:
    """The standard reason phrase of `status` ("Not Found"), or "Error" for an unknown code."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _body(status: int, title: str | None, detail: str, type_: str) -> dict[str, Any]:
    return Problem(type=type_, title=title or status_title(status), status=status, detail=detail).model_dump()


def problem_response(status: int, detail: str, *, title: str | None = None, type_: str = "about:blank",
                     headers: Mapping[str, str] | None = None) -> JSONResponse:
    """A problem+json answer; `title` defaults to the status's reason phrase."""
    return JSONResponse(_body(status, title, detail, type_), status_code=status, media_type=MEDIA_TYPE,
                        headers=dict(headers) if headers else None)


def problem_bytes(status: int, detail: str, *, title: str | None = None, type_: str = "about:blank") -> bytes:
    """The encoded body of `problem_response`, for ASGI middleware that answers by itself."""
    return json.dumps(_body(status, title, detail, type_)).encode()


def validation_detail(errors: Iterable[Mapping[str, Any]]) -> str:
    """One line naming each invalid field of a request (pydantic/FastAPI `errors()`):
    "invalid request: options.seed: Input should be ...; prompt: Field required"."""
    parts = []
    for err in errors:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


def read_problem(response: httpx.Response) -> Problem:
    """The problem an error answer carries.

    A body that is not problem+json (a proxy's page, FastAPI's {"detail": ...})
    still gives a Problem: the reason phrase as title, and as detail its
    "detail" field, or else its text cut to MAX_FOREIGN_DETAIL characters.
    """
    status = response.status_code
    fallback_title = response.reason_phrase or status_title(status)
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and ("title" in body or "detail" in body):
        title = str(body.get("title") or fallback_title)
        detail = body.get("detail")
        return Problem(type=str(body.get("type") or "about:blank"), title=title, status=status,
                       detail=str(detail) if detail not in (None, "") else title)
    text = json.dumps(body) if body is not None else response.text
    return Problem(title=fallback_title, status=status, detail=text[:MAX_FOREIGN_DETAIL] or fallback_title)
