"""Verifiable inference with the real stack: spot checks catch a miner that
falsifies results (the miner's TEST ONLY fault switch) and slash it; honest
miners over many checked jobs are never slashed; the audit stays clean."""

# ruff: noqa: F811  (imported fixtures are redefined as test parameters)

from __future__ import annotations

from pathlib import Path

import pytest

from aitbc.audit import audit
from aitbc.api.coordinator_models import JobOptions
from aitbc.ops.ollama_server import TINY_MODEL_NAME
from aitbc.ops.factories import KEYS
from tests.integration.ollama_fixtures import ollama_server, tiny_model, tiny_model_path  # noqa: F401
from aitbc.ops.harness import CLIENT_API_KEY, ChainStack, CoordinatorProcess, MinerProcess, wait_for

pytestmark = pytest.mark.integration
DETERMINISTIC = JobOptions(temperature=0, seed=42, num_predict=24)


@pytest.fixture
def checked_chain(tmp_path: Path):
    """Every deterministic job's receipt is checked; windows long enough for three runs."""
    stack = ChainStack(tmp_path / "chain", pending_timeout_s=60, job_timeout_s=120, check_share_bps=10_000,
                       check_window_blocks=60)
    try:
        yield stack.start()
    finally:
        stack.stop()


@pytest.fixture
def chain_with_job(tmp_path, chain, ollama_server, tiny_model):
    """A plain chain (no checks), the coordinator, a real miner, and one completed job."""
    coordinator = CoordinatorProcess(tmp_path / "coordinator", chain).start()
    miners = start_miners(tmp_path, chain, coordinator, ollama_server.url, [("miner1", ())])
    try:
        client = coordinator.client()
        job = final(client, client.submit_job(chain.sign_job("alice", options=DETERMINISTIC)).job_id, chain)
        assert job.status == "completed"
        yield chain, coordinator, job.job_id
    finally:
        for miner in miners:
            miner.stop()
        coordinator.stop()


def start_miners(tmp_path, chain, coordinator, ollama_url, specs) -> list[MinerProcess]:
    miners = []
    for name, args in specs:
        miners.append(MinerProcess(tmp_path / "miners", name, chain, coordinator.url, ollama_url,
                                   model=TINY_MODEL_NAME, extra_args=args).start())
    wait_for(lambda: sum(m.online for m in coordinator.client().miners()) == len(specs), 60, "miners online")
    return miners


def final(client, job_id: str, chain: ChainStack, timeout: float = 120):
    try:
        return wait_for(lambda: (j := client.get_job(job_id)).status in ("completed", "failed", "expired") and j,
                        timeout, f"job {job_id} decided")
    except TimeoutError as exc:  # say where it stopped: the coordinator's record and the chain's
        seen = client.get_job(job_id)
        try:
            on_chain = chain.rpc.query(f"/job/{job_id}")
        except Exception as err:  # noqa: BLE001 - only for the message
            on_chain = f"unreadable ({err})"
        raise TimeoutError(f"{exc}; the coordinator has it {seen.status} (error {seen.error!r}); "
                           f"the chain has {on_chain}") from None


def test_tampering_miner_is_detected_and_slashed(tmp_path, checked_chain, ollama_server, tiny_model):
    chain = checked_chain
    coordinator = CoordinatorProcess(tmp_path / "coordinator", chain).start()
    # The cheat stakes most, so the coordinator picks it first; the chain draws the two honest miners as its
    # checkers (the only others serving the model).
    miners = start_miners(tmp_path, chain, coordinator, ollama_server.url, [
        ("miner1", ("--stake", "300aitbc", "--fault-tamper-share", "1")),
        ("miner2", ()), ("bob", ())])
    try:
        stake_before = chain.rpc.query(f"/miner/{KEYS['miner1'].address}")["stake"]
        alice_before = chain.balance("alice")
        client = coordinator.client()
        job = final(client, client.submit_job(chain.sign_job("alice", options=DETERMINISTIC)).job_id, chain)
        assert job.status == "failed" and "proven wrong" in (job.error or ""), job
        on_chain = chain.rpc.query(f"/job/{job.job_id}")
        assert on_chain["check_status"] == "failed" and on_chain["miner"] == KEYS["miner1"].address
        assert set(on_chain["checkers"]) == {KEYS["miner2"].address, KEYS["bob"].address}
        cheat = chain.rpc.query(f"/miner/{KEYS['miner1'].address}")
        params = chain.rpc.query("/params")
        slashed = stake_before * params["slash_bps"] // 10_000
        assert cheat["stake"] == stake_before - slashed and cheat["slashed"] == 1
        receipt = chain.rpc.query(f"/receipt/{job.job_id}")
        assert receipt["amount_paid"] == 0 and receipt["slashed"] == slashed
        # the client paid the two honest re-runs and its submit fee, got the slash share, paid the cheat nothing
        to_client = slashed * params["slash_to_client_bps"] // 10_000
        assert chain.balance("alice") == alice_before - on_chain["check_paid"] - job.fee + to_client
        assert chain.rpc.query("/supply")["burned"] == slashed - to_client
        assert audit(chain.rpc).ok
    finally:
        for miner in miners:
            miner.stop()
        coordinator.stop()


def test_inflating_miner_is_billed_within_bounds_and_caught(tmp_path, checked_chain, ollama_server, tiny_model):
    chain = checked_chain
    coordinator = CoordinatorProcess(tmp_path / "coordinator", chain).start()
    # The inflater claims a million times its real time: on a fast machine the tiny model runs in a few ms, and
    # 1000x of that (8 s) once fell within tokens x the 200 ms/token ceiling. The chain draws the two honest
    # miners as its checkers.
    miners = start_miners(tmp_path, chain, coordinator, ollama_server.url, [
        ("miner1", ("--stake", "300aitbc", "--fault-inflate-time", "1000000")), ("miner2", ()), ("bob", ())])
    try:
        client = coordinator.client()
        job = final(client, client.submit_job(chain.sign_job("alice", options=DETERMINISTIC)).job_id, chain)
        receipt = chain.rpc.query(f"/receipt/{job.job_id}")
        on_chain = chain.rpc.query(f"/job/{job.job_id}")
        assert on_chain["miner"] == KEYS["miner1"].address
        # Whatever it claimed, the bill was bounded by tokens x the per-token ceiling ...
        tokens = receipt["prompt_tokens"] + receipt["tokens_generated"]
        assert receipt["billed_ms"] == min(receipt["compute_time_ms"], tokens * receipt["ms_per_token"])
        assert receipt["billed_ms"] < receipt["compute_time_ms"]
        # ... and two honest re-runs found the claimed time out of bounds: unpaid and slashed.
        assert job.status == "failed" and on_chain["check_status"] == "failed", on_chain
        assert on_chain["reason"] == "claimed compute time out of bounds of every re-run"
        assert receipt["amount_paid"] == 0 and chain.rpc.query(f"/miner/{KEYS['miner1'].address}")["slashed"] == 1
        assert all(chain.rpc.query(f"/miner/{KEYS[n].address}")["slashed"] == 0 for n in ("miner2", "bob"))
        assert audit(chain.rpc).ok
    finally:
        for miner in miners:
            miner.stop()
        coordinator.stop()


def test_honest_miners_are_never_slashed(tmp_path, checked_chain, ollama_server, tiny_model):
    chain = checked_chain
    coordinator = CoordinatorProcess(tmp_path / "coordinator", chain).start()
    miners = start_miners(tmp_path, chain, coordinator, ollama_server.url, [("miner1", ()), ("miner2", ())])
    try:
        client = coordinator.client()
        prompts = [f"question number {i}" for i in range(6)]
        ids = [client.submit_job(chain.sign_job("alice", prompt=p, options=DETERMINISTIC)).job_id for p in prompts]
        jobs = [final(client, job_id, chain) for job_id in ids]
        assert [j.status for j in jobs] == ["completed"] * len(ids)
        for job in jobs:
            on_chain = chain.rpc.query(f"/job/{job.job_id}")
            assert on_chain["check_status"] == "passed" and on_chain["payment"] > 0
        for name in ("miner1", "miner2"):
            assert chain.rpc.query(f"/miner/{KEYS[name].address}")["slashed"] == 0
        assert chain.rpc.query("/supply")["burned"] == 0 and audit(chain.rpc).ok
    finally:
        for miner in miners:
            miner.stop()
        coordinator.stop()


def test_receipt_verify_online_and_offline(tmp_path, chain_with_job):
    """`aitbc receipt verify` on a real receipt: online, exported, and tampered."""
    from click.testing import CliRunner

    from aitbc.cli.context import Context
    from aitbc.cli.main import cli

    chain, coordinator, job_id = chain_with_job
    env = {"AITBC_NODE": chain.url, "AITBC_URL": coordinator.url, "AITBC_API_KEY": CLIENT_API_KEY}
    run = lambda *a: CliRunner().invoke(cli, list(a), env=env, obj=Context(), catch_exceptions=False)  # noqa: E731
    online = run("receipt", "verify", job_id)
    assert online.exit_code == 0 and "verified" in online.stdout and "✗" not in online.stdout, online.stdout
    bundle = tmp_path / "receipt.json"
    assert run("receipt", "export", job_id, "--prompt", "What is machine learning?", "-o", str(bundle)).exit_code == 0
    offline = run("receipt", "verify", str(bundle), "--offline")
    assert offline.exit_code == 0 and "prompt hashes to the prompt hash" in offline.stdout
    import json
    data = json.loads(bundle.read_text())
    data["result"] = "a better answer"
    bundle.write_text(json.dumps(data))
    tampered = run("receipt", "verify", str(bundle), "--offline")
    assert tampered.exit_code == 5 and "✗ result text hashes to the result hash" in tampered.stdout
