"""The miner's FastAPI app: `create_app(settings)`. Routes in routers/, dependencies in deps.py,
error answers in problem_handlers.py; miner/daemon.py and miner/runner.py do the work."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI

from aitbc.api.apps import app_options
from aitbc.miner.daemon import MinerDaemon, StartupError
from aitbc.miner.problem_handlers import install_problem_handlers
from aitbc.miner.routers import health, jobs
from aitbc.miner.settings import MinerSettings

log = logging.getLogger("miner.api")


def create_app(settings: MinerSettings | None = None, daemon: MinerDaemon | None = None) -> FastAPI:
    """The miner app; start-up (checks, registration) runs in its lifespan. `daemon`: one already
    built (and maybe started) by `aitbc miner start` or a test."""
    settings = settings or MinerSettings()
    app = FastAPI(**app_options(), title="AITBC miner", version="0.1.0", lifespan=_lifespan(settings, daemon),
                  redoc_url=None, docs_url="/docs" if settings.docs else None,
                  description="Runs assigned inference jobs on a local Ollama and reports signed proofs.")
    app.state.settings = settings
    app.state.daemon = daemon  # set now too: ASGI transports without lifespan can use a started daemon
    app.state.startup_error = None
    install_problem_handlers(app)
    for router in (jobs.router, health.router):
        app.include_router(router)
    return app


def _lifespan(settings: MinerSettings, daemon: MinerDaemon | None):
    """Start the daemon (unless already started) before serving; stop it after."""
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

    return lifespan
