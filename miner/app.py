"""The miner's HTTP API: assignments from the coordinator, health, metrics.

Routes stay thin; miner/daemon.py and miner/runner.py do the work.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from aitbc.api.problems import problem_response, problem_responses, validation_detail
from aitbc.signed_http import SignatureRejected, verify_request
from aitbc.miner.daemon import MinerDaemon, NotCoordinator, StartupError
from aitbc.api.miner_models import AssignAccepted, JobAssignment, MinerHealth
from aitbc.miner.runner import AssignmentRejected
from aitbc.miner.settings import MinerSettings

log = logging.getLogger("miner.api")
PROBLEM_RESPONSES = problem_responses(400, 401, 403, 409, 422, 429, 503)


def get_daemon(request: Request) -> MinerDaemon:
    return request.app.state.daemon


DaemonDep = Annotated[MinerDaemon, Depends(get_daemon)]


async def require_coordinator(request: Request, daemon: DaemonDep) -> str:
    """The coordinator's address, if it signed this request for this miner, once; else 401/403."""
    body = await request.body()  # FastAPI has read and cached it: these are the signed bytes
    try:
        signer = verify_request(request.headers, request.method, request.url.path, body,
                                target=daemon.push_target, replay=daemon.replay)
    except SignatureRejected as exc:
        daemon.metrics.assignments_rejected.labels("unsigned").inc()
        log.warning("assignment refused: bad signature", extra={"detail": str(exc), "client": _peer(request)})
        raise HTTPException(401, f"unsigned or badly signed request: {exc}") from None
    try:
        daemon.authorize(signer.address)
    except NotCoordinator as exc:
        daemon.metrics.assignments_rejected.labels("not_coordinator").inc()
        log.warning("assignment refused: not the coordinator", extra={"signer": signer.address,
                                                                      "client": _peer(request)})
        raise HTTPException(403, str(exc)) from None
    return signer.address


def _peer(request: Request) -> str | None:
    return f"{request.client.host}:{request.client.port}" if request.client else None


def create_app(settings: MinerSettings | None = None, daemon: MinerDaemon | None = None) -> FastAPI:
    """The miner app; start-up (checks, registration) runs in its lifespan."""
    settings = settings or MinerSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        miner = None
        try:
            app.state.daemon = miner = daemon or MinerDaemon(settings)
            if not miner.started:  # `aitbc miner start` starts it before binding the port
                await miner.start()
        except StartupError as exc:
            app.state.startup_error = exc  # for `aitbc miner start` to print without a traceback
            log.error("miner cannot start", extra={"error": str(exc)})
            if miner is not None:
                await miner.stop()
            raise
        try:
            yield
        finally:
            await miner.stop()

    app = FastAPI(title="AITBC miner", version="0.1.0", lifespan=lifespan, redoc_url=None,
                  docs_url="/docs" if settings.docs else None,
                  description="Runs assigned inference jobs on a local Ollama and reports signed proofs.")
    app.state.settings = settings
    app.state.daemon = daemon  # set now too: ASGI transports without lifespan can use a started daemon
    app.state.startup_error = None

    @app.exception_handler(StarletteHTTPException)  # also 404/405 raised by routing
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(422, validation_detail(exc.errors()))

    @app.exception_handler(AssignmentRejected)
    async def rejected(_request: Request, exc: AssignmentRejected) -> JSONResponse:
        response = problem_response(exc.status, exc.detail)
        if exc.status in (429, 503):
            response.headers["Retry-After"] = "1"
        return response

    @app.post("/v1/jobs/assign", response_model=AssignAccepted, status_code=202, responses=PROBLEM_RESPONSES,
              summary="Take a job (coordinator only, signed request)")
    async def assign(assignment: JobAssignment, daemon: DaemonDep,
                     _coordinator: Annotated[str, Depends(require_coordinator)]) -> AssignAccepted:
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

    @app.get("/health", response_model=MinerHealth, summary="Miner and Ollama status")
    async def health(daemon: DaemonDep) -> MinerHealth:
        return await daemon.health()

    @app.get("/metrics", include_in_schema=False)
    async def metrics(daemon: DaemonDep) -> Response:
        return Response(daemon.metrics.render(), media_type=daemon.metrics.content_type)

    return app
