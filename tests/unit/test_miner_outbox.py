"""Results survive a coordinator that is down: backoff, parking, resume, file."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx

from aitbc.miner.coordinator_link import CoordinatorLink, Outcome
from aitbc.miner.outbox import MAX_AGE_S, Outbox, Report
from tests.unit.test_miner_fakes import COORDINATOR, MINER, FakeCoordinator


def report(job_id: str = "job_1") -> Report:
    return Report(job_id, "complete", f"/v1/jobs/{job_id}/complete", {"job_id": job_id}, time.time())


def outbox(coordinator: FakeCoordinator, file: Path | None, retry_s: float = 5.0) -> Outbox:
    link = CoordinatorLink("http://coordinator.test", MINER, transport=coordinator.transport,
                          target=COORDINATOR.address)
    return Outbox(link, file, retry_s=retry_s, first_delay_s=0.01, max_delay_s=0.05)


async def until(check, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met"
        await asyncio.sleep(0.005)


def test_retries_with_backoff_until_acknowledged(tmp_path: Path) -> None:
    coordinator = FakeCoordinator()
    answers = iter([503, 502, 429, 200])
    coordinator.status_for = lambda path: next(answers)

    async def go() -> None:
        box = outbox(coordinator, tmp_path / "outbox.json")
        box.add(report())
        assert "job_1" in box and json.loads((tmp_path / "outbox.json").read_text())[0]["job_id"] == "job_1"
        await until(lambda: not box)
        await box.close()

    asyncio.run(go())
    assert len(coordinator.calls) == 4
    assert json.loads((tmp_path / "outbox.json").read_text()) == []


def test_refused_report_is_dropped() -> None:
    coordinator = FakeCoordinator()
    coordinator.status_for = lambda path: 409

    async def go() -> None:
        box = outbox(coordinator, None)
        box.add(report())
        await until(lambda: not box)
        await box.close()

    asyncio.run(go())
    assert len(coordinator.calls) == 1


def test_an_answered_report_can_be_sent_again_while_it_is_recent() -> None:
    coordinator = FakeCoordinator()
    coordinator.status_for = lambda path: 409 if path == "/v1/jobs/job_2/complete" else 200

    async def go() -> None:
        box = outbox(coordinator, None)
        box.add(report("job_1"))
        box.add(report("job_2"))
        await until(lambda: not box)  # one taken, one refused: both answered
        assert box.resend("job_1") and box.resend("job_2")
        await until(lambda: len(coordinator.calls) == 4)
        assert box.resend("job_unknown") is False
        box._sent["job_1"] = Report("job_1", "complete", "/v1/jobs/job_1/complete", {}, time.time() - MAX_AGE_S - 1)
        assert box.resend("job_1") is False  # older than any job the chain still holds open
        await box.close()

    asyncio.run(go())
    assert sorted(path for path, _, _ in coordinator.calls) == ["/v1/jobs/job_1/complete"] * 2 + \
        ["/v1/jobs/job_2/complete"] * 2


def test_parked_report_survives_restart_and_is_resumed(tmp_path: Path) -> None:
    down = httpx.MockTransport(lambda request: (_ for _ in ()).throw(httpx.ConnectError("refused")))
    file = tmp_path / "outbox.json"

    async def first_run() -> None:
        link = CoordinatorLink("http://coordinator.test", MINER, transport=down, target=COORDINATOR.address)
        box = Outbox(link, file, retry_s=0.05, first_delay_s=0.01)
        box.add(report("job_p"))
        await until(lambda: all(t.done() for t in box._tasks.values()))  # gave up: parked
        assert "job_p" in box
        await box.close()

    asyncio.run(first_run())
    coordinator = FakeCoordinator()

    async def second_run() -> None:
        box = outbox(coordinator, file)
        assert box.load() == ["job_p"]
        await until(lambda: not box)
        await box.close()

    asyncio.run(second_run())
    assert coordinator.paths() == ["/v1/jobs/job_p/complete"]


def test_link_classifies_answers() -> None:
    async def go(status: int | None) -> Outcome:
        def handler(request: httpx.Request) -> httpx.Response:
            if status is None:
                raise httpx.ConnectTimeout("slow")
            return httpx.Response(status, json={"detail": "d"})

        link = CoordinatorLink("http://c.test/prefix", MINER, transport=httpx.MockTransport(handler))
        try:
            return (await link.post("/v1/x", {"a": 1})).outcome
        finally:
            await link.aclose()

    assert [asyncio.run(go(s)) for s in (200, 202, 404, 409, 429, 500, 503, None)] == [
        Outcome.ACK, Outcome.ACK, Outcome.REFUSED, Outcome.REFUSED, Outcome.RETRY, Outcome.RETRY, Outcome.RETRY,
        Outcome.RETRY]


def test_link_signs_the_full_path() -> None:
    coordinator = FakeCoordinator()

    async def go() -> None:
        link = CoordinatorLink("http://c.test/api/", MINER, transport=coordinator.transport,
                          target=COORDINATOR.address)
        await link.post("/v1/miners/heartbeat", {"active_jobs": 0})
        await link.aclose()

    asyncio.run(go())  # FakeCoordinator verifies the signature against /api/v1/miners/heartbeat
    assert coordinator.calls[0][0] == "/api/v1/miners/heartbeat" and coordinator.calls[0][2] == MINER.address
