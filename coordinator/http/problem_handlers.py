"""The coordinator's error answers as RFC 9457 problems (aitbc/api/problems.py).

The domain raises ServiceError subclasses (coordinator/errors.py) and never
imports FastAPI; this is the one adapter that turns them into HTTP answers.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from aitbc.api.problems import problem_response, validation_detail
from aitbc.coordinator.errors import ServiceError
from aitbc.rpc import ChainError

log = logging.getLogger("coordinator")


def install_problem_handlers(app: FastAPI) -> None:
    """One answer shape for every error: domain errors (ServiceError), invalid requests,
    routing errors, a failing chain node, and anything unexpected (logged)."""
    @app.exception_handler(ServiceError)
    async def service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        return problem_response(exc.status, exc.detail, title=exc.title, type_=exc.type, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(400, validation_detail(exc.errors()), title="Invalid request",
                                type_="urn:aitbc:problem:invalid-request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
        return problem_response(exc.status_code, str(exc.detail), title=title, headers=getattr(exc, "headers", None))

    @app.exception_handler(ChainError)
    async def chain_error(_request: Request, exc: ChainError) -> JSONResponse:
        return problem_response(502, f"chain node error: {exc}", title="Chain error",
                                type_="urn:aitbc:problem:chain-error")

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"event": "internal_error"})
        return problem_response(500, f"{type(exc).__name__}: the coordinator failed; see its log",
                                title="Internal error")
