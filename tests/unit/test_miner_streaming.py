"""The miner's chat jobs and its best-effort text forwarding (miner/text_stream.py)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx

from aitbc import jobspec
from aitbc.api.miner_models import JobAssignment, JobData
from aitbc.miner.coordinator_link import CoordinatorLink
from aitbc.miner import text_stream
from aitbc.miner.text_stream import MAX_FAILURES, ChunkForwarder
from tests.unit.test_miner_fakes import (
    CHAIN_ID, COORDINATOR, MINER, MODEL, FakeCoordinator, FakeOllama, daemon,
)

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}]


def link(coordinator: FakeCoordinator) -> CoordinatorLink:
    return CoordinatorLink("http://coordinator.test", MINER, transport=coordinator.transport,
                           target=COORDINATOR.address)


def chunks(coordinator: FakeCoordinator, job_id: str = "j") -> list[dict]:
    return [b for p, b, _ in coordinator.calls if p == f"/v1/jobs/{job_id}/chunks"]


def test_pieces_are_batched_in_order_with_consecutive_seq() -> None:
    coordinator = FakeCoordinator()

    async def go() -> None:
        forwarder = ChunkForwarder(link(coordinator), "j", flush_s=0.02)
        for i in range(50):
            forwarder.add(f"w{i} ")
            await asyncio.sleep(0.001)
        forwarder.close()
        await forwarder.closed()

    asyncio.run(go())
    sent = chunks(coordinator)
    assert [c["seq"] for c in sent] == list(range(len(sent)))
    assert "".join(c["text"] for c in sent) == "".join(f"w{i} " for i in range(50))
    assert 1 < len(sent) < 50  # batched, yet streaming


def test_a_failed_chunk_is_sent_again_with_its_seq() -> None:
    coordinator = FakeCoordinator()
    answers = iter([503, 200, 200, 200, 200])
    coordinator.status_for = lambda path: next(answers, 200)

    async def go() -> None:
        forwarder = ChunkForwarder(link(coordinator), "j", flush_s=0.01)
        forwarder.add("a")
        await asyncio.sleep(0.05)
        forwarder.add("b")
        forwarder.close()
        await forwarder.closed()

    asyncio.run(go())
    sent = chunks(coordinator)
    assert sent[0] == {"seq": 0, "text": "a"}  # refused with 503 ...
    assert sent[1]["seq"] == 0 and sent[1]["text"].startswith("a")  # ... and sent again as seq 0
    assert "".join(c["text"] for c in sent[1:]) == "ab"


def test_close_does_not_wait_for_the_last_chunk_which_follows_the_one_in_flight() -> None:
    """The completion is posted right after close(), not a round trip later; the last chunk
    still goes, after the one on its way, with the next seq (the coordinator keeps whichever
    of it and the completion comes first)."""
    answered: list[dict] = []

    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.2)
        answered.append(json.loads(request.read()))
        return httpx.Response(200, json={"ok": True})

    async def go() -> None:
        forwarder = ChunkForwarder(CoordinatorLink("http://coordinator.test", MINER, target=COORDINATOR.address,
                                                   transport=httpx.MockTransport(slow)), "j", flush_s=0.01)
        forwarder.add("on its way")
        await asyncio.sleep(0.05)
        forwarder.add(" still waiting")
        forwarder.close()  # not a coroutine: nothing to wait for
        async with asyncio.timeout(5):
            await forwarder.closed()

    asyncio.run(go())
    assert answered == [{"seq": 0, "text": "on its way"}, {"seq": 1, "text": " still waiting"}]


def test_a_coordinator_that_keeps_failing_stops_the_stream_without_holding_up_the_job() -> None:
    coordinator = FakeCoordinator()
    coordinator.status_for = lambda path: 500

    async def go() -> None:
        forwarder = ChunkForwarder(link(coordinator), "j", flush_s=0.001)
        for _ in range(20):
            forwarder.add("x")
            await asyncio.sleep(0.005)
        forwarder.close()
        async with asyncio.timeout(5):
            await forwarder.closed()

    asyncio.run(go())
    assert len(chunks(coordinator)) == MAX_FAILURES


def test_chat_job_runs_on_chat_with_its_stop_and_streams_its_text(tmp_path: Path) -> None:
    ollama, coordinator = FakeOllama(), FakeCoordinator()
    prompt = jobspec.chat_prompt(MESSAGES, ["\n"])

    async def go() -> None:
        miner = daemon(tmp_path, ollama=ollama, coordinator=coordinator)
        await miner.start()
        miner.runner.assign(JobAssignment(job_id="job_c", job_data=JobData(type="chat", prompt=prompt, model=MODEL),
                                          reward=1, chain_id=CHAIN_ID))
        while not ollama.calls or miner.runner.active_jobs or len(miner.outbox):
            await asyncio.sleep(0.005)
        async with asyncio.timeout(5):  # the last chunk, sent beside the completion
            await asyncio.gather(*text_stream.finishing())
        await miner.stop()

    asyncio.run(go())
    assert ollama.calls[0][1] == "hello" and ollama.calls[0][2]["stop"] == ["\n"]  # the last message, via chat()
    complete = coordinator.wait_for("/v1/jobs/job_c/complete")
    assert complete["result"] == "echo: hello"
    assert "".join(c["text"] for c in chunks(coordinator, "job_c")) == complete["result"]


def test_the_model_digest_is_asked_for_while_the_model_generates(tmp_path: Path) -> None:
    """The proof needs the model's digest (Ollama's /api/show) right after the generation: it is
    looked up meanwhile. Here the generation can only end once that lookup has started."""
    ollama, coordinator = FakeOllama(), FakeCoordinator()
    ollama.release.clear()
    shown = ollama.show

    async def show(model: str):
        ollama.release.set()
        return await shown(model)

    ollama.show = show

    async def go() -> None:
        miner = daemon(tmp_path, ollama=ollama, coordinator=coordinator)
        await miner.start()
        miner.runner.assign(JobAssignment(job_id="job_d", job_data=JobData(prompt="hi", model=MODEL),
                                          reward=1, chain_id=CHAIN_ID))
        async with asyncio.timeout(10):
            while not ollama.calls or miner.runner.active_jobs or len(miner.outbox):
                await asyncio.sleep(0.005)
        await miner.stop()

    asyncio.run(go())
    complete = coordinator.wait_for("/v1/jobs/job_d/complete")
    assert complete["result"] == "echo: hi"
