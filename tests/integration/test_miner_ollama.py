"""The miner daemon alone, against a real Ollama and a real single-node chain.

Real: `ollama serve` with the generated tiny model, a CometBFT node with our
ABCI app (registration, and one job settled on chain from the miner's proof),
and the miner started as a process with `python -m aitbc.miner start`. Stand-in:
the coordinator is a small recording HTTP server that checks each signed
call and answers as told; this is a test of the miner, not of the coordinator.
"""

# ruff: noqa: F811  (imported fixtures are redefined as test parameters)

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from aitbc import jobspec, tx as txlib

from aitbc.ops import procs
from aitbc.crypto import PrivateKey
from aitbc.ops.nodehome import Node, Ports, init_home
from aitbc.rpc import ChainRPC
from aitbc.signed_http import SignatureRejected, verify_request
from aitbc.api.coordinator_models import JobComplete, JobOptions
from aitbc.api.miner_client import MinerClient, MinerRejected, MinerUnavailable
from aitbc.api.miner_models import JobAssignment, JobData
from aitbc.miner.ollama_client import ModelInfo, run_sync
from aitbc.ops.ollama_server import OllamaServer
from aitbc.coordinator.proofs import verify_completion
from tests.integration.ollama_fixtures import (  # noqa: F401 (fixtures)
    group_alive,
    ollama_server,
    tiny_model,
    tiny_model_path,
)

pytestmark = pytest.mark.integration

CHAIN_ID = "aitbc-miner-it"
KEYS = {name: PrivateKey.generate() for name in ("coordinator", "miner1", "alice", "stranger")}
GONE = "aitbc-gone"  # offered at start, then deleted from Ollama: the "unknown model" case
OPTIONS = JobOptions(temperature=0, seed=42, num_predict=16)


class RecordingCoordinator:
    """Receives the miner's signed calls; `plan[path]` lists HTTP statuses to answer first (then 200)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any], str]] = []
        self.plan: dict[str, list[int]] = {}
        self.port = procs.free_port()
        app = FastAPI()

        @app.post("/{path:path}")
        async def record(path: str, request: Request) -> JSONResponse:
            body = await request.body()
            try:
                signer = verify_request(request.headers, "POST", request.url.path, body,
                                        target=KEYS["coordinator"].address)
            except SignatureRejected as exc:
                return JSONResponse({"detail": str(exc)}, status_code=401)
            self.calls.append((request.url.path, json.loads(body), signer.address))
            planned = self.plan.get(request.url.path)
            status = planned.pop(0) if planned else 200
            return JSONResponse({"ok": status == 200}, status_code=status)

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()
        procs.wait_until(lambda: self.server.started, 10, "recording coordinator")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [body for p, body, _ in self.calls if p == path]

    def wait(self, path: str, count: int = 1, timeout: float = 30) -> list[dict[str, Any]]:
        procs.wait_until(lambda: len(self.bodies(path)) >= count, timeout, f"{count} call(s) to {path}")
        return self.bodies(path)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    home = tmp_path_factory.mktemp("node")
    init_home(home, CHAIN_ID, Ports(rpc=procs.free_port(), p2p=procs.free_port(), abci=procs.free_port()),
              {k: v for k, v in KEYS.items() if k != "stranger"})
    chain = Node(home)
    with chain:
        chain.wait_for_height(1)
        yield chain
    assert chain.app.poll() is not None and chain.cometbft.poll() is not None


@pytest.fixture(scope="module")
def coordinator() -> Iterator[RecordingCoordinator]:
    server = RecordingCoordinator()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def miner(ollama_server: OllamaServer, tiny_model: ModelInfo, tiny_model_path: Path, node: Node,
          coordinator: RecordingCoordinator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    run_sync(ollama_server.url, lambda c: c.ensure_model(GONE, tiny_model_path))
    root = tmp_path_factory.mktemp("miner")
    port = procs.free_port()
    cmd = [sys.executable, "-m", "aitbc.miner", "start", "--node", node.rpc,
           "--coordinator-url", coordinator.url, "--port", str(port), "--ollama-url", ollama_server.url,
           "--model", "aitbc-tiny", "--model", GONE, "--capacity", "1", "--num-thread", "1",
           "--heartbeat-interval", "0.5", "--data-dir", str(root / "data")]
    proc = procs.spawn(cmd, root / "miner.out", env={"AITBC_HOME": str(root),
                                                     "AITBC_MINER_KEY": KEYS["miner1"].seed.hex()})
    endpoint = f"http://127.0.0.1:{port}"
    try:
        procs.wait_until(lambda: httpx.get(endpoint + "/health", timeout=1).status_code == 200, 60,
                         "miner /health", proc, root / "miner.out")
        yield {"endpoint": endpoint, "proc": proc, "log": root / "data" / "miner.log", "out": root / "miner.out"}
    finally:
        procs.stop(proc, timeout=15)
    assert proc.returncode is not None and not group_alive(proc.pid)


def on_chain(node: Node, model: str = "aitbc-tiny", prompt: str = "why is the sky blue",
             options: JobOptions = OPTIONS) -> str:
    """A job submitted by alice and assigned to miner1 on chain (a miner runs only those)."""
    rpc = ChainRPC(node.rpc)
    alice, boss = KEYS["alice"], KEYS["coordinator"]
    nonce = rpc.query(f"/nonce/{alice.address}")["nonce"]
    submit = txlib.build(alice, CHAIN_ID, nonce, "submit_job", job_type="inference", model=model,
                         prompt_hash=jobspec.prompt_hash(prompt), max_reward=1_000_000,
                         options={"temperature_milli": jobspec.temperature_milli(options.temperature),
                                  "seed": options.seed, "num_predict": options.num_predict})
    assert rpc.broadcast(submit, "commit").ok
    job_id = txlib.job_id_for(alice.address, nonce, CHAIN_ID)
    boss_nonce = rpc.query(f"/nonce/{boss.address}")["nonce"]
    result = rpc.broadcast(txlib.build(boss, CHAIN_ID, boss_nonce, "assign_job", job_id=job_id,
                                       miner=KEYS["miner1"].address), "commit")
    assert result.ok, result.log
    return job_id


def close_on_chain(node: Node, job_id: str) -> None:
    """fail_job by the coordinator key: frees the miner's capacity on chain."""
    rpc = ChainRPC(node.rpc)
    boss = KEYS["coordinator"]
    raw = txlib.build(boss, CHAIN_ID, rpc.query(f"/nonce/{boss.address}")["nonce"], "fail_job", job_id=job_id,
                      reason="test_done: freed for the next test")
    assert rpc.broadcast(raw, "commit").ok


def assign(endpoint: str, job_id: str, model: str = "aitbc-tiny", key: str = "coordinator",
           options: JobOptions = OPTIONS, prompt: str = "why is the sky blue") -> Any:
    assignment = JobAssignment(job_id=job_id, job_data=JobData(prompt=prompt, model=model, options=options),
                               reward=1_000_000, chain_id=CHAIN_ID)

    async def go():
        async with MinerClient(KEYS[key]) as client:
            return await client.assign(endpoint, assignment, KEYS["miner1"].address)

    return asyncio.run(go())


def log_events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def test_miner_registered_on_chain_and_with_coordinator(miner, node: Node, coordinator) -> None:
    rpc = ChainRPC(node.rpc)
    on_chain = rpc.query(f"/miner/{KEYS['miner1'].address}")
    params = rpc.query("/params")
    assert on_chain["models"] == ["aitbc-tiny", GONE] and on_chain["capacity"] == 1
    assert on_chain["endpoint"] == miner["endpoint"]
    assert on_chain["price_per_second"] == params["price_per_second"] == 20_000
    assert on_chain["stake"] == params["min_miner_stake"]
    register = coordinator.wait("/v1/miners/register")[0]
    assert register == {"endpoint": miner["endpoint"], "models": ["aitbc-tiny", GONE], "capacity": 1}
    coordinator.wait("/v1/miners/heartbeat", count=2)
    assert {signer for _, _, signer in coordinator.calls} == {KEYS["miner1"].address}


def test_job_runs_on_ollama_and_its_proof_settles_on_chain(miner, node: Node, coordinator) -> None:
    rpc = ChainRPC(node.rpc)
    alice, boss = KEYS["alice"], KEYS["coordinator"]
    prompt = "what is machine learning"
    nonce = rpc.query(f"/nonce/{alice.address}")["nonce"]
    submit = txlib.build(alice, CHAIN_ID, nonce, "submit_job", job_type="inference", model="aitbc-tiny",
                         prompt_hash=jobspec.prompt_hash(prompt), max_reward=1_000_000,
                         options={"temperature_milli": 0, "seed": 42, "num_predict": 16})
    assert rpc.broadcast(submit, "commit").ok
    job_id = txlib.job_id_for(alice.address, nonce, CHAIN_ID)
    boss_nonce = rpc.query(f"/nonce/{boss.address}")["nonce"]
    assert rpc.broadcast(txlib.build(boss, CHAIN_ID, boss_nonce, "assign_job", job_id=job_id,
                                     miner=KEYS["miner1"].address), "commit").ok

    started = time.monotonic()
    accepted = assign(miner["endpoint"], job_id, prompt=prompt)
    assert accepted.accepted and accepted.job_id == job_id
    complete = JobComplete.model_validate(coordinator.wait(f"/v1/jobs/{job_id}/complete")[0])
    elapsed = time.monotonic() - started
    running = coordinator.bodies(f"/v1/jobs/{job_id}/status")
    assert [b["status"] for b in running] == ["running"]

    proof = verify_completion(complete, job_id, CHAIN_ID, KEYS["miner1"].address, KEYS["miner1"].public_key).proof
    assert proof.result_hash == hashlib.sha256(complete.result.encode()).digest()
    assert (proof.chain_id, proof.job_id, proof.miner, proof.model) == (CHAIN_ID, job_id, KEYS["miner1"].address,
                                                                         "aitbc-tiny")
    assert proof.tokens_generated == complete.metrics.tokens_generated == 16
    assert proof.prompt_tokens > 0 and proof.compute_time_ms >= 0
    assert complete.metrics.gpu_utilization is None  # no GPU on this machine

    # Acting as the coordinator: the chain accepts the miner's proof as it is and pays for it.
    boss_nonce = rpc.query(f"/nonce/{boss.address}")["nonce"]
    receipt_tx = txlib.build(boss, CHAIN_ID, boss_nonce, "record_receipt", proof=base64.b64decode(complete.proof.data),
                             miner_signature=bytes.fromhex(complete.proof.signature))
    result = rpc.broadcast(receipt_tx, "commit")
    assert result.ok, result.log
    receipt = rpc.query(f"/receipt/{job_id}")
    assert receipt["result_hash"] == complete.proof.hash
    assert receipt["amount_paid"] == min(proof.compute_time_ms * 20_000 // 1000, 1_000_000)

    ollama_call = next(e for e in log_events(miner["log"]) if e["msg"] == "ollama call" and e["job_id"] == job_id)
    print(f"\ninference: assign->complete {elapsed * 1000:.0f} ms; ollama wall {ollama_call['wall_ms']} ms, "
          f"total_duration {ollama_call['total_duration_ms']:.1f} ms (load {ollama_call['load_duration_ms']:.1f}), "
          f"{ollama_call['eval_count']} tokens; result {complete.result!r}")
    events = [e["msg"] for e in log_events(miner["log"]) if e.get("job_id") == job_id]
    for expected in ("assignment accepted", "job running", "ollama call", "job completed", "report delivered"):
        assert expected in events


def test_assignment_from_another_key_or_unsigned_is_refused(miner, coordinator) -> None:
    with pytest.raises(MinerRejected) as refused:
        assign(miner["endpoint"], "job_stranger", key="stranger")
    assert refused.value.status == 403 and KEYS["coordinator"].address in refused.value.detail
    unsigned = httpx.post(miner["endpoint"] + "/v1/jobs/assign", json={"job_id": "job_x"}, timeout=5)
    assert unsigned.status_code == 401 and unsigned.headers["content-type"] == "application/problem+json"
    time.sleep(0.5)
    assert not coordinator.bodies("/v1/jobs/job_stranger/status")


def test_job_the_chain_did_not_assign_to_it_is_refused(miner, node: Node, coordinator) -> None:
    unknown = "job_" + "ab" * 8  # signed by the coordinator, unknown to the chain: "not yet", retryable
    with pytest.raises(MinerUnavailable, match="503"):
        assign(miner["endpoint"], unknown)
    taken = on_chain(node)
    close_on_chain(node, taken)  # closed on chain: refused for good
    with pytest.raises(MinerRejected) as refused:
        assign(miner["endpoint"], taken)
    assert refused.value.status == 409 and "not assigned to this miner" in refused.value.detail
    assert not coordinator.bodies(f"/v1/jobs/{unknown}/status") and not coordinator.bodies(f"/v1/jobs/{taken}/status")


def test_model_missing_on_ollama_is_reported_failed(miner, ollama_server: OllamaServer, node: Node,
                                                    coordinator) -> None:
    assert httpx.request("DELETE", ollama_server.url + "/api/delete", json={"model": GONE}).status_code == 200
    job_gone = on_chain(node, model=GONE)
    assert assign(miner["endpoint"], job_gone, model=GONE).accepted
    statuses = coordinator.wait(f"/v1/jobs/{job_gone}/status", count=2)
    assert [s["status"] for s in statuses] == ["running", "failed"]
    assert f"model '{GONE}' not found" in statuses[1]["error"]
    assert not coordinator.bodies(f"/v1/jobs/{job_gone}/complete")
    close_on_chain(node, job_gone)


def test_capacity_is_respected(miner, node: Node, coordinator) -> None:
    long = JobOptions(temperature=0.8, seed=1, num_predict=3000)  # about a second or two on the tiny model
    job_long = on_chain(node, options=long)
    assert assign(miner["endpoint"], job_long, options=long).accepted
    with pytest.raises(MinerRejected) as busy:
        assign(miner["endpoint"], "job_extra")  # refused for capacity before any chain lookup
    assert busy.value.status == 429 and "capacity" in busy.value.detail
    assert assign(miner["endpoint"], job_long, options=long).accepted  # a repeat is not a second job
    coordinator.wait(f"/v1/jobs/{job_long}/complete", timeout=60)
    close_on_chain(node, job_long)
    job_extra = on_chain(node)
    assert assign(miner["endpoint"], job_extra).accepted
    coordinator.wait(f"/v1/jobs/{job_extra}/complete")
    close_on_chain(node, job_extra)


def test_completion_is_retried_until_the_coordinator_takes_it(miner, node: Node, coordinator) -> None:
    job_retry = on_chain(node)
    coordinator.plan[f"/v1/jobs/{job_retry}/complete"] = [503, 503]
    assert assign(miner["endpoint"], job_retry).accepted
    bodies = coordinator.wait(f"/v1/jobs/{job_retry}/complete", count=3, timeout=20)
    assert bodies[0] == bodies[2]  # the same signed result, resent
    procs.wait_until(lambda: httpx.get(miner["endpoint"] + "/health").json()["pending_reports"] == 0, 10,
                     "outbox empty")
    close_on_chain(node, job_retry)


def test_ollama_stopped_is_reported_failed(miner, ollama_server: OllamaServer, node: Node, coordinator) -> None:
    ollama_server.stop()
    job_down = on_chain(node)
    assert assign(miner["endpoint"], job_down).accepted
    statuses = coordinator.wait(f"/v1/jobs/{job_down}/status", count=2)
    assert [s["status"] for s in statuses] == ["running", "failed"]
    assert "Ollama unavailable" in statuses[1]["error"]
    health = httpx.get(miner["endpoint"] + "/health").json()
    assert health["status"] == "degraded" and health["ollama"] != "ok"
    status = subprocess.run([sys.executable, "-m", "aitbc.miner", "status", "--url", miner["endpoint"]],
                            capture_output=True, text=True, timeout=30)
    assert status.returncode == 2 and "degraded" in status.stdout
    metrics = httpx.get(miner["endpoint"] + "/metrics").text
    assert 'miner_jobs_failed_total{reason="ollama_unavailable"} 1.0' in metrics
    assert 'miner_jobs_failed_total{reason="model_not_found"} 1.0' in metrics
