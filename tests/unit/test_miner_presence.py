"""Coordinator registration and heartbeats tolerate a coordinator that is down or forgot us."""

from __future__ import annotations

import asyncio

from aitbc.api.coordinator_models import MinerRegister
from aitbc.miner.coordinator_link import CoordinatorLink
from aitbc.miner.metrics import MinerMetrics
from aitbc.miner.presence import Presence
from tests.unit.test_miner_fakes import COORDINATOR, MINER, FakeCoordinator


def test_register_retry_heartbeat_and_reregister() -> None:
    coordinator = FakeCoordinator()
    plan = {"/v1/miners/register": [503, 200, 200], "/v1/miners/heartbeat": [200, 404, 200]}
    coordinator.status_for = lambda path: plan[path].pop(0)
    contacts: list[bool] = []

    async def go() -> Presence:
        link = CoordinatorLink("http://c.test", MINER, transport=coordinator.transport,
                          target=COORDINATOR.address)
        presence = Presence(link, MinerRegister(endpoint="http://m", models=["x"], capacity=1), 0.01,
                            lambda: 3, MinerMetrics(), contacts.append)
        for _ in range(6):
            await presence.beat()
        await link.aclose()
        return presence

    presence = asyncio.run(go())
    assert [p.rsplit("/", 1)[1] for p in coordinator.paths("/v1/miners/")] == [
        "register", "register", "heartbeat", "heartbeat", "register", "heartbeat"]
    assert coordinator.calls[2][1] == {"active_jobs": 3, "models": ["x"]}
    # back=True only after failures: that is when parked results are pushed at once
    assert contacts == [True, False, True, False]
    assert presence.state == "registered"
