"""A miner whose Ollama stops answering gives the job up before the chain's deadline.

Real: a single-node chain whose assigned jobs expire after 20 s, the coordinator, the
miner daemon as a process, and an Ollama of this module's own that is frozen with
SIGSTOP once the miner is online (it still accepts connections, as an Ollama busy
with someone else's long generation does, and never answers). An expired job costs
its miner 1 % of its stake and a strike; one the miner reports failed in time is
refunded by its coordinator and costs the miner nothing. Before the miner capped a
generation by the job timeout it waited its 300 s Ollama timeout, and the chain
slashed it at 20 s: a miner at the minimum stake could take no job after that.
"""

# ruff: noqa: F811  (imported fixtures are redefined as test parameters)

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from aitbc.miner.ollama_client import run_sync
from aitbc.ops import procs
from aitbc.ops.factories import KEYS
from aitbc.ops.harness import MinerProcess, wait_for
from aitbc.ops.harness.chain import ChainStack
from aitbc.ops.ollama_server import TINY_MODEL_NAME, OllamaServer
from tests.integration.ollama_fixtures import tiny_model_path  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration

JOB_TIMEOUT_S = 20


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[ChainStack]:
    """This module's chain: an assigned job expires (and slashes its miner) after 20 s."""
    stack = ChainStack(tmp_path / "chain", pending_timeout_s=30, job_timeout_s=JOB_TIMEOUT_S)
    try:
        yield stack.start()
    finally:
        stack.stop()


def test_a_job_ollama_never_answers_is_failed_before_it_can_expire(tmp_path, chain, coordinator,
                                                                      tiny_model_path):
    ollama = OllamaServer(procs.free_port(), tmp_path / "models", tmp_path / "ollama.log")
    ollama.start()
    miner = None
    frozen = False
    try:
        run_sync(ollama.url, lambda c: c.ensure_model(TINY_MODEL_NAME, tiny_model_path))
        miner = MinerProcess(tmp_path / "miners", "miner1", chain, coordinator.url, ollama.url,
                             model=TINY_MODEL_NAME)
        miner.start()
        wait_for(lambda: any(m.online for m in coordinator.client().miners()), 60, "miner online")
        address = KEYS["miner1"].address
        before = chain.rpc.query(f"/miner/{address}")
        alice = chain.balance("alice")
        assert ollama.pid is not None
        os.kill(ollama.pid, signal.SIGSTOP)
        frozen = True

        client = coordinator.client()
        job_id = client.submit_job(chain.sign_job("alice")).job_id
        on_chain = wait_for(lambda: (j := chain.job(job_id)) and j["status"] in ("failed", "expired") and j,
                            JOB_TIMEOUT_S + 15, "job closed on chain")
        # "failed", not "expired": the miner gave up before the deadline (an expiry would have slashed it)
        assert on_chain["status"] == "failed", on_chain
        job = wait_for(lambda: (j := client.get_job(job_id)).status == "failed" and j, 15, "job failed")
        # the miner's cap: job_timeout_s less 10 %, at least 5 s (miner/runner.py generation_limit)
        assert job.status == "failed" and "did not answer within 15 s" in (job.error or ""), job
        after = chain.rpc.query(f"/miner/{address}")
        assert (after["stake"], after["strikes"], after["jailed_until_ns"]) == \
            (before["stake"], before["strikes"], before["jailed_until_ns"]), after
        assert chain.balance("alice") == alice - job.fee  # refunded in full; the submit fee stays burned
    finally:
        if frozen:
            os.kill(ollama.pid, signal.SIGCONT)
        if miner:
            miner.stop()
        ollama.stop()
