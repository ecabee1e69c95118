"""The coordinator's FastAPI app: `create_app(settings)`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from aitbc.api.problems import problem_response, validation_detail
from aitbc.crypto import PrivateKey
from aitbc.rpc import ChainError
from aitbc.coordinator import scheduler
from aitbc.coordinator.core import Coordinator
from aitbc.coordinator.errors import ChainUnavailable, ServiceError
from aitbc.coordinator.middleware import BodySizeLimit, RequestMetrics, UnicodeGuard
from aitbc.coordinator.routers import chain, health, jobs, miners
from aitbc.coordinator.settings import CoordinatorSettings

log = logging.getLogger("coordinator")


def install_error_handlers(app: FastAPI) -> None:
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


def create_app(settings: CoordinatorSettings | None = None, *, rpc: Any | None = None,
               key: PrivateKey | None = None, run_scheduler: bool = True) -> FastAPI:
    """Build the app. `rpc` and `key` replace the node client and the key (tests)."""
    settings = settings or CoordinatorSettings()
    coord = Coordinator(settings, rpc=rpc, key=key)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        try:
            await coord.connect()
        except ChainUnavailable as exc:
            log.warning("chain not reachable yet; will keep trying", extra={"event": "chain_unavailable",
                                                                           "detail": exc.detail})
        task = asyncio.create_task(scheduler.run(coord)) if run_scheduler else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await coord.aclose()

    app = FastAPI(title="AITBC coordinator", version="0.1.0", lifespan=lifespan, redoc_url=None,
                  docs_url="/docs" if settings.docs else None,
                  description="Job intake, API keys, miner registry and selection, receipts on a CometBFT chain.")
    app.state.coordinator = coord
    install_error_handlers(app)
    # The last added runs first: size limit, then counting, then the Unicode check.
    app.add_middleware(UnicodeGuard)
    app.add_middleware(RequestMetrics, metrics=coord.metrics)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    for router in (jobs.router, miners.router, chain.router, health.router):
        app.include_router(router)
    return app
