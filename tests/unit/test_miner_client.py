"""MinerClient, the coordinator's side of POST /v1/jobs/assign, against the real app."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from aitbc.miner.app import create_app
from aitbc.api.miner_client import MinerClient, MinerError, MinerRejected, MinerUnavailable
from tests.unit.test_miner_fakes import COORDINATOR, MINER, STRANGER, FakeOllama, assignment, daemon


def test_assign_accepted_rejected_and_at_capacity(tmp_path: Path) -> None:
    ollama = FakeOllama()
    ollama.release.clear()

    async def go() -> None:
        miner = daemon(tmp_path, ollama=ollama, endpoint="http://miner.test")
        await miner.start()
        transport = httpx.ASGITransport(create_app(miner.settings, miner))
        try:
            async with MinerClient(COORDINATOR, transport=transport) as client:
                accepted = await client.assign("http://miner.test/", assignment("job_1"), MINER.address)
                assert accepted.accepted and accepted.job_id == "job_1" and accepted.active_jobs == 1
                assert (await client.assign("http://miner.test", assignment("job_1"), MINER.address)).accepted  # idempotent
                with pytest.raises(MinerRejected) as busy:
                    await client.assign("http://miner.test", assignment("job_2"), MINER.address)
                assert busy.value.status == 429 and busy.value.retryable and "capacity" in busy.value.detail
                assert (await client.health("http://miner.test")).active_jobs == 1
            async with MinerClient(STRANGER, transport=transport) as client:
                with pytest.raises(MinerRejected) as forbidden:
                    await client.assign("http://miner.test", assignment("job_3"), MINER.address)
                assert forbidden.value.status == 403 and not forbidden.value.retryable
        finally:
            ollama.release.set()
            await miner.stop()

    asyncio.run(go())


@pytest.mark.parametrize("answer, error", [
    (lambda r: (_ for _ in ()).throw(httpx.ConnectError("refused")), MinerUnavailable),
    (lambda r: httpx.Response(503, json={"detail": "restarting"}), MinerUnavailable),
    (lambda r: httpx.Response(400, json={"detail": "model 'x' is not served"}), MinerRejected),
    (lambda r: httpx.Response(202, json={"unexpected": True}), MinerError),
])
def test_errors_map_to_one_tree(answer, error) -> None:
    async def go() -> None:
        async with MinerClient(COORDINATOR, transport=httpx.MockTransport(answer)) as client:
            await client.assign("http://miner.test", assignment(), MINER.address)

    with pytest.raises(error) as caught:
        asyncio.run(go())
    assert isinstance(caught.value, MinerError)

