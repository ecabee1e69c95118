"""The coordinator's FastAPI app: `create_app(settings)` wires the routers, middleware and
problem handlers of this package to a Coordinator (coordinator/core.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from fastapi import FastAPI

from aitbc.api.apps import app_options
from aitbc.crypto import PrivateKey
from aitbc.logs import stop_logging
from aitbc.coordinator import block_watch, scheduler
from aitbc.coordinator.core import Coordinator
from aitbc.coordinator.errors import ChainUnavailable
from aitbc.coordinator.http.problem_handlers import install_problem_handlers
from aitbc.coordinator.http.middleware import BodySizeLimit, RequestMetrics, UnicodeGuard
from aitbc.coordinator.http.routers import chain, health, jobs, miners
from aitbc.coordinator.settings import CoordinatorSettings

log = logging.getLogger("coordinator")


def create_app(settings: CoordinatorSettings | None = None, *, rpc: Any | None = None,
               key: PrivateKey | None = None, run_scheduler: bool = True) -> FastAPI:
    """Build the app. `rpc` and `key` replace the node client and the key (tests)."""
    settings = settings or CoordinatorSettings()
    coord = Coordinator(settings, rpc=rpc, key=key)
    app = FastAPI(**app_options(), title="AITBC coordinator", version="0.1.0",
                  lifespan=_lifespan(coord, run_scheduler), redoc_url=None, docs_url="/docs" if settings.docs else None,
                  description="Job intake, API keys, miner registry and selection, receipts on a CometBFT chain.")
    app.state.coordinator = coord
    install_problem_handlers(app)
    # The last added runs first: size limit, then counting, then the Unicode check.
    app.add_middleware(UnicodeGuard)
    app.add_middleware(RequestMetrics, metrics=coord.metrics)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    for router in (jobs.router, miners.router, chain.router, health.router):
        app.include_router(router)
    return app


def _lifespan(coord: Coordinator, run_scheduler: bool):
    """Connect to the chain (or keep trying) and run the scheduler, nudged by new blocks, while the app serves."""
    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        coord.store.checkpoint_in_background()  # stopped when the store closes (coord.aclose)
        try:
            await coord.connect()
        except ChainUnavailable as exc:
            log.warning("chain not reachable yet; will keep trying", extra={"event": "chain_unavailable",
                                                                           "detail": exc.detail})
        tasks = [asyncio.create_task(scheduler.run(coord)), asyncio.create_task(block_watch.run(coord))] \
            if run_scheduler else []
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await coord.aclose()
            # What its writer threads hold, now: uvicorn ends a process stopped by SIGTERM by
            # raising the signal again once the app has shut down, so atexit never runs.
            stop_logging()

    return lifespan
