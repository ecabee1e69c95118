"""/v1/miners: registration and heartbeats signed by the miner's chain key; the list is public."""

from __future__ import annotations

from fastapi import APIRouter

from aitbc.coordinator import registry
from aitbc.coordinator.http import views
from aitbc.coordinator.http.deps import CoordDep, MinerDep, OpenRoute
from aitbc.api.coordinator_models import MinerHeartbeat, MinerPublic, MinerRegister
from aitbc.coordinator.http.routers import PROBLEM_RESPONSES

router = APIRouter(prefix="/v1/miners", tags=["miners"], responses=PROBLEM_RESPONSES)


@router.post("/register", response_model=MinerPublic, summary="Announce endpoint and models (signed)")
async def register(body: MinerRegister, coord: CoordDep, miner: MinerDep) -> MinerPublic:
    return views.known_miner(await registry.register(coord, miner, body))


@router.post("/heartbeat", response_model=MinerPublic, summary="I am alive (signed)")
async def heartbeat(body: MinerHeartbeat, coord: CoordDep, miner: MinerDep) -> MinerPublic:
    return views.known_miner(await registry.heartbeat(coord, miner, body))


@router.get("", response_model=list[MinerPublic], summary="Miners registered on chain, with their liveness",
            dependencies=[OpenRoute])
async def list_miners(coord: CoordDep) -> list[MinerPublic]:
    return [views.known_miner(m) for m in await registry.list_miners(coord)]
