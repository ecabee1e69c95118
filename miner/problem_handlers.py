"""The miner's error answers as RFC 9457 problems (aitbc/api/problems.py)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from aitbc.api.problems import problem_response, validation_detail
from aitbc.miner.runner import AssignmentRejected


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)  # also 404/405 raised by routing
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(422, validation_detail(exc.errors()))

    @app.exception_handler(AssignmentRejected)
    async def rejected(_request: Request, exc: AssignmentRejected) -> JSONResponse:
        # Busy or not yet on chain: the coordinator may push again in a moment.
        retry = {"Retry-After": "1"} if exc.status in (429, 503) else None
        return problem_response(exc.status, exc.detail, headers=retry)
