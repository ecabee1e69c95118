"""/health (alive), /ready (chain and store usable), /metrics (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from aitbc.rpc import ChainError
from aitbc.coordinator.http.deps import CoordDep, OpenRoute
from aitbc.coordinator.errors import NotReady, ServiceError

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness: the process answers")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", summary="Readiness: chain reachable and connected, store open (503 otherwise)",
            dependencies=[OpenRoute])
async def ready(coord: CoordDep) -> dict[str, object]:
    try:
        coord.store.ping()
    except Exception as exc:  # noqa: BLE001 - any store failure means not ready
        raise NotReady(f"store {coord.settings.db_path} not usable: {exc}") from None
    try:
        info, _ = coord.require_chain()
        status = await coord.chain.rpc.status()  # one try: a probe wants a quick answer
    except ServiceError as exc:
        raise NotReady(exc.detail) from None
    except ChainError as exc:
        raise NotReady(f"chain node at {coord.settings.node} not reachable: {exc}") from None
    return {"status": "ready", "chain_id": info.chain_id,
            "height": int(status["sync_info"]["latest_block_height"]), "coordinator": coord.key.address}


@router.get("/metrics", summary="Prometheus metrics", dependencies=[OpenRoute])
async def metrics(coord: CoordDep) -> Response:
    coord.metrics.queue_depth.set(coord.store.count_status("pending"))
    return Response(generate_latest(coord.metrics.registry), media_type=CONTENT_TYPE_LATEST)
