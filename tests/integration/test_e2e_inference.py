"""The whole flowchart with real processes: chain (cometbft + app), coordinator,
the miner daemon, a real Ollama serving the generated tiny model, and the
`aitbc` job commands."""

# ruff: noqa: F811  (imported fixtures are redefined as test parameters)

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from aitbc import units
from aitbc.keyring import Keyring
from aitbc.cli.context import Context
from aitbc.ops.ollama_server import TINY_MODEL_NAME
from aitbc.ops.factories import KEYS
from tests.integration.ollama_fixtures import (  # noqa: F401 (fixtures)
    ollama_server, tiny_model, tiny_model_path,
)
from aitbc.ops.harness import CLIENT_API_KEY, MinerProcess, wait_for
from tests.integration.test_coordinator_cli import root

pytestmark = pytest.mark.integration


def test_prompt_to_paid_receipt(tmp_path, chain, coordinator, ollama_server, tiny_model):
    miner = MinerProcess(tmp_path / "miners", "miner1", chain, coordinator.url, ollama_server.url,
                         model=TINY_MODEL_NAME)
    try:
        miner.start()
        wait_for(lambda: any(m.online for m in coordinator.client().miners()), 60, "miner online")
        Keyring(tmp_path / "home" / "keys").add("alice", KEYS["alice"])
        before = chain.balance("alice")
        result = CliRunner().invoke(
            root, ["submit", "inference", "--prompt", "why is the sky blue", "--model", TINY_MODEL_NAME,
                   "--num-predict", "16", "--seed", "42", "--temperature", "0", "--wait", "--timeout", "120"],
            env={"AITBC_HOME": str(tmp_path / "home"), "AITBC_URL": coordinator.url, "AITBC_API_KEY": CLIENT_API_KEY},
            obj=Context(), catch_exceptions=False)
        assert result.exit_code == 0, result.stdout + result.stderr + miner.log_path.read_text()[-3000:]
        lines = result.stdout.splitlines()
        assert lines[1] == "Status: completed" and lines[2].startswith("Result: "), result.stdout
        assert re.fullmatch(r"Receipt: rcpt_[0-9a-f]{16}", lines[-4]), result.stdout
        assert re.fullmatch(r"Completed in: \d+(\.\d)? seconds?", lines[-3]) and lines[-2].startswith("Cost: ")
        job_id = lines[0].split(": ")[1]
        receipt = coordinator.client().receipt(job_id)
        fee = coordinator.client().get_job(job_id).fee
        assert lines[-2] == f"Cost: {units.format_amount(receipt.amount_paid)}"
        assert fee > 0 and lines[-1] == f"Fee: {units.format_amount(fee)} (burned by the submit transaction)"
        assert receipt.miner == KEYS["miner1"].address and receipt.compute_time_ms > 0
        wait_for(lambda: chain.balance("alice") == before - receipt.amount_paid - fee, 10, "payment settled")
    finally:
        miner.stop()


def _real_miner_online(tmp_path, chain, coordinator, ollama_url: str) -> MinerProcess:
    miner = MinerProcess(tmp_path / "miners", "miner1", chain, coordinator.url, ollama_url, model=TINY_MODEL_NAME)
    miner.start()
    wait_for(lambda: any(m.online for m in coordinator.client().miners()), 60, "miner online")
    return miner


def _final(client, job_id: str, timeout: float = 60):
    return wait_for(lambda: (j := client.get_job(job_id)).status in ("completed", "failed", "expired", "cancelled")
                    and j, timeout, f"job {job_id} final")


def test_supply_and_audit_hold_across_a_real_job(tmp_path, chain, coordinator, ollama_server, tiny_model):
    from aitbc.audit import audit
    miner = _real_miner_online(tmp_path, chain, coordinator, ollama_server.url)
    try:
        supply = chain.rpc.query("/supply")["total"]
        before = {n: chain.balance(n) for n in ("alice", "miner1")}
        client = coordinator.client()
        job = _final(client, client.submit_job(chain.sign_job("alice")).job_id)
        assert job.status == "completed"
        receipt = chain.rpc.query(f"/receipt/{job.job_id}")
        assert (receipt["id"], receipt["amount_paid"], receipt["result_hash"]) == \
            (job.receipt_id, job.amount_paid, job.result_hash)
        # paid billed time x price, the rest refunded, the submit tx's fee burned, nothing created or lost
        assert receipt["billed_ms"] == min(receipt["compute_time_ms"], receipt["ms_per_token"]
                                           * (receipt["prompt_tokens"] + receipt["tokens_generated"]))
        assert receipt["amount_paid"] == receipt["billed_ms"] * receipt["price_per_second"] // 1000
        wait_for(lambda: chain.balance("miner1") == before["miner1"] + receipt["amount_paid"], 10, "miner paid")
        assert chain.balance("alice") == before["alice"] - receipt["amount_paid"] - client.get_job(job.job_id).fee
        assert chain.rpc.query("/supply")["total"] == supply and audit(chain.rpc).ok
    finally:
        miner.stop()


def test_ollama_down_fails_the_job_and_pays_nothing(tmp_path, chain, coordinator, tiny_model_path):
    from aitbc.miner.ollama_client import run_sync
    from aitbc.ops.ollama_server import OllamaServer
    from aitbc.ops import procs

    own = OllamaServer(procs.free_port(), tmp_path / "models", tmp_path / "ollama.log")
    own.start()
    miner = None
    try:
        run_sync(own.url, lambda c: c.ensure_model(TINY_MODEL_NAME, tiny_model_path))
        miner = _real_miner_online(tmp_path, chain, coordinator, own.url)
        own.stop()
        before = {n: chain.balance(n) for n in ("alice", "miner1")}
        client = coordinator.client()
        job = _final(client, client.submit_job(chain.sign_job("alice")).job_id)
        assert job.status == "failed" and "ollama" in (job.error or "").lower(), job
        wait_for(lambda: (chain.job(job.job_id) or {}).get("status") == "failed", 10, "failed on chain")
        # refunded in full (the submit tx's fee stays burned), nobody paid
        assert {n: chain.balance(n) for n in ("alice", "miner1")} == {**before, "alice": before["alice"] - job.fee}
    finally:
        if miner:
            miner.stop()
        own.stop()


def test_miner_killed_mid_job_is_refunded(tmp_path, chain, coordinator_factory, ollama_server, tiny_model):
    from aitbc.ops import procs
    from aitbc.api.coordinator_models import JobOptions

    coordinator = coordinator_factory(miner_offline_after_s=3)
    miner = _real_miner_online(tmp_path, chain, coordinator, ollama_server.url)
    try:
        before = chain.balance("alice")
        stake = chain.rpc.query(f"/miner/{KEYS['miner1'].address}")["stake"]
        client = coordinator.client()
        # At most 1024 tokens: Ollama runs a killed miner's generation to its end, and this module's
        # Ollama serves the tests after this one.
        long_job = chain.sign_job("alice", options=JobOptions(temperature=0.7, seed=1, num_predict=1024))
        job_id = client.submit_job(long_job).job_id
        wait_for(lambda: client.get_job(job_id).status == "running", 30, "job running", interval=0.05)
        procs.kill9(miner.proc)
        job = _final(client, job_id, timeout=60)
        assert job.status in ("failed", "expired") and job.amount_paid in (None, 0), job
        wait_for(lambda: (chain.job(job_id) or {}).get("status") in ("failed", "expired"), 15, "closed on chain")
        # refunded in full, less the submit tx's fee; an expiry also hands the client part of the miner's slash
        params, compensation = chain.rpc.query("/params"), 0
        if chain.job(job_id)["status"] == "expired":
            slashed = stake * int(params["expiry_slash_bps"]) // 10_000
            compensation = slashed * int(params["slash_to_client_bps"]) // 10_000
        assert chain.balance("alice") == before - job.fee + compensation
    finally:
        miner.stop()
