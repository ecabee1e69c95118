"""Job runner details: options passed to Ollama, failure messages, shutdown."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from aitbc.miner.ollama_client import OllamaUnavailable
from aitbc.miner.runner import describe_failure, generation_limit
from tests.unit.test_miner_fakes import FakeChain, FakeCoordinator, FakeOllama, assignment, daemon


def run_one(tmp_path: Path, ollama: FakeOllama, coordinator: FakeCoordinator, stop_early: bool = False,
            chain: FakeChain | None = None, **settings) -> None:
    async def go() -> None:
        miner = daemon(tmp_path, chain=chain, ollama=ollama, coordinator=coordinator, **settings)
        await miner.start()
        miner.runner.assign(assignment("job_1"))
        while not ollama.calls:
            await asyncio.sleep(0.005)
        if not stop_early:
            while miner.runner.active_jobs or len(miner.outbox):
                await asyncio.sleep(0.005)
        await miner.stop()

    asyncio.run(go())


def test_num_thread_setting_reaches_ollama(tmp_path: Path) -> None:
    ollama = FakeOllama()
    run_one(tmp_path, ollama, FakeCoordinator(), num_thread=1)
    assert ollama.calls[0][2] == {"temperature": 0.7, "seed": 0, "num_predict": 128, "num_thread": 1}


def test_shutdown_reports_running_jobs_as_failed(tmp_path: Path) -> None:
    ollama, coordinator = FakeOllama(), FakeCoordinator()
    ollama.release.clear()  # the job never finishes by itself
    run_one(tmp_path, ollama, coordinator, stop_early=True)
    failed = [b for p, b, _ in coordinator.calls if p == "/v1/jobs/job_1/status" and b["status"] == "failed"]
    assert failed and "shut down" in failed[0]["error"]


def test_timeout_message() -> None:
    exc = OllamaUnavailable("http://o", "ReadTimeout")
    exc.__cause__ = httpx.ReadTimeout("slow")
    assert describe_failure(exc, "m", 300) == ("timeout", "Ollama did not answer within 300 s")
    assert describe_failure(RuntimeError("boom"), "m", 1)[0] == "internal"


def test_a_generation_ends_before_the_chain_would_expire_the_job() -> None:
    """A job stuck behind others in Ollama is given up (no stake lost) before its deadline
    (expiry slashes): the Ollama timeout is capped at job_timeout_s less a margin for the report."""
    assert generation_limit(300, None) == 300
    assert generation_limit(300, 600) == 300      # the chain's default: the operator's timeout holds
    assert generation_limit(300, 60) == 54        # 10 % for the report to reach a block
    assert generation_limit(300, 20) == 15        # and never less than 5 s of it
    assert generation_limit(30, 60) == 30
    assert generation_limit(300, 3) == 1


def test_the_chains_job_timeout_caps_each_ollama_call(tmp_path: Path) -> None:
    chain = FakeChain()
    chain.params["job_timeout_s"] = 60
    ollama = FakeOllama()
    run_one(tmp_path, ollama, FakeCoordinator(), chain=chain, ollama_timeout_s=300)
    assert ollama.timeouts == [54]
