"""/health (miner and Ollama status) and /metrics (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from aitbc.api.miner_models import MinerHealth
from aitbc.miner.deps import DaemonDep

router = APIRouter(tags=["health"])


@router.get("/health", response_model=MinerHealth, summary="Miner and Ollama status")
async def health(daemon: DaemonDep) -> MinerHealth:
    return await daemon.health()


@router.get("/metrics", include_in_schema=False)
async def metrics(daemon: DaemonDep) -> Response:
    return Response(daemon.metrics.render(), media_type=daemon.metrics.content_type)
