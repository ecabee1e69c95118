"""The miner's HTTP API with fake chain, Ollama and coordinator: auth, capacity, idempotency, reports."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from aitbc import tx as txlib
from aitbc.signed_http import sign_request
from aitbc.api.coordinator_models import JobComplete
from aitbc.miner.app import create_app
from aitbc.miner.ollama_client import GenerateResult, GenerationAborted, ModelNotFound, OllamaUnavailable
from aitbc.coordinator.proofs import verify_completion
from tests.unit.test_miner_fakes import (
    CHAIN_ID, COORDINATOR, MINER, MINER_TARGET, MODEL, STRANGER, FakeChain, FakeCoordinator, FakeOllama, assignment,
    daemon, signed, wait_until,
)


@pytest.fixture
def world(tmp_path: Path):
    chain, ollama, coordinator = FakeChain(), FakeOllama(), FakeCoordinator()
    miner = daemon(tmp_path, chain, ollama, coordinator)
    with TestClient(create_app(miner.settings, miner)) as client:
        yield client, chain, ollama, coordinator


def test_start_registers_on_chain_and_with_coordinator(world) -> None:
    client, chain, _, coordinator = world
    assert [tx.kind for tx in chain.txs] == ["register_miner"]
    msg = chain.txs[0].msg
    assert (list(msg.models), msg.capacity, msg.price_per_second, msg.stake, msg.endpoint) == \
        ([MODEL], 1, 20_000, 100_000_000, "http://127.0.0.1:18001")
    register = coordinator.wait_for("/v1/miners/register")
    assert register == {"endpoint": "http://127.0.0.1:18001", "models": [MODEL], "capacity": 1}
    coordinator.wait_for("/v1/miners/heartbeat")
    assert {signer for _, _, signer in coordinator.calls} == {MINER.address}


def test_unsigned_assignment_is_401(world) -> None:
    client, _, ollama, _ = world
    response = client.post("/v1/jobs/assign", json=assignment().model_dump())
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert "signed" in response.json()["detail"]
    assert ollama.calls == []


def test_assignment_signed_by_another_key_is_403(world) -> None:
    client, _, ollama, _ = world
    response = client.post("/v1/jobs/assign", **signed(assignment(), STRANGER))
    assert response.status_code == 403
    assert COORDINATOR.address in response.json()["detail"] and STRANGER.address in response.json()["detail"]
    assert ollama.calls == []


def test_tampered_body_is_401(world) -> None:
    client, *_ = world
    kwargs = signed(assignment(prompt="hi"))
    kwargs["content"] = kwargs["content"].replace(b'"hi"', b'"ho"')
    assert client.post("/v1/jobs/assign", **kwargs).status_code == 401


def test_coordinator_assignment_runs_and_reports_signed_proof(world) -> None:
    client, _, ollama, coordinator = world
    response = client.post("/v1/jobs/assign", **signed(assignment(prompt="what is ml")))
    assert response.status_code == 202
    assert response.json()["accepted"] is True
    body = JobComplete.model_validate(coordinator.wait_for("/v1/jobs/job_1/complete"))
    assert body.result == "echo: what is ml"
    proof = verify_completion(body, "job_1", CHAIN_ID, MINER.address, MINER.public_key).proof
    assert (proof.chain_id, proof.job_id, proof.miner, proof.model) == (CHAIN_ID, "job_1", MINER.address, MODEL)
    assert (proof.compute_time_ms, proof.tokens_generated, proof.prompt_tokens) == (1234, 7, 5)
    assert txlib.verify_proof(MINER.public_key, base64.b64decode(body.proof.data), bytes.fromhex(body.proof.signature))
    assert body.metrics.compute_time == 1.234 and body.metrics.gpu_utilization is None
    # running, the text as generated (chunks; this fake writes it all at once, so it goes as the
    # last chunk, beside the completion), and the result with its proof
    coordinator.wait_for("/v1/jobs/job_1/chunks")
    assert set(coordinator.paths()) == {"/v1/jobs/job_1/status", "/v1/jobs/job_1/chunks", "/v1/jobs/job_1/complete"}
    chunks = [b for p, b, _ in coordinator.calls if p == "/v1/jobs/job_1/chunks"]
    assert [c["seq"] for c in chunks] == list(range(len(chunks)))
    assert "".join(c["text"] for c in chunks) == body.result
    running = coordinator.calls[[p for p, _, _ in coordinator.calls].index("/v1/jobs/job_1/status")][1]
    assert running["status"] == "running" and running["started_at"]
    assert ollama.calls == [(MODEL, "what is ml", {"temperature": 0.7, "seed": 0, "num_predict": 128})]


def test_capacity_limit_and_idempotent_reassignment(world) -> None:
    client, _, ollama, coordinator = world
    ollama.release.clear()  # the first job blocks inside Ollama
    assert client.post("/v1/jobs/assign", **signed(assignment("job_a"))).status_code == 202
    again = client.post("/v1/jobs/assign", **signed(assignment("job_a")))
    assert again.status_code == 202 and again.json()["active_jobs"] == 1
    busy = client.post("/v1/jobs/assign", **signed(assignment("job_b")))
    assert busy.status_code == 429
    assert "capacity" in busy.json()["detail"] and busy.headers["retry-after"]
    assert client.get("/health").json()["active_jobs"] == 1
    ollama.release.set()
    coordinator.wait_for("/v1/jobs/job_a/complete")
    assert len(ollama.calls) == 1  # the repeat did not run the job twice
    # finished and acknowledged: still accepted, not re-run, and its result sent again
    completions = len(coordinator.paths("/v1/jobs/job_a/complete"))
    assert client.post("/v1/jobs/assign", **signed(assignment("job_a"))).status_code == 202
    wait_until(lambda: len(coordinator.paths("/v1/jobs/job_a/complete")) == completions + 1)
    assert len(ollama.calls) == 1
    assert client.post("/v1/jobs/assign", **signed(assignment("job_b"))).status_code == 202


def test_repeat_of_unacknowledged_result_resends_it(world) -> None:
    client, _, _, coordinator = world
    coordinator.status_for = lambda path: 503 if path.endswith("/complete") else 200
    client.app.state.daemon.outbox.first_delay_s = 60  # so only the repeated assignment can trigger a resend
    client.post("/v1/jobs/assign", **signed(assignment("job_r")))
    coordinator.wait_for("/v1/jobs/job_r/complete")
    assert client.get("/health").json()["pending_reports"] == 1
    coordinator.status_for = lambda path: 200
    tries = len(coordinator.paths("/v1/jobs/job_r/complete"))
    assert client.post("/v1/jobs/assign", **signed(assignment("job_r"))).status_code == 202
    wait_until(lambda: client.get("/health").json()["pending_reports"] == 0)
    assert len(coordinator.paths("/v1/jobs/job_r/complete")) == tries + 1


def test_a_job_given_back_after_its_result_was_taken_gets_the_same_result_again(world) -> None:
    """The coordinator took the result, then the chain turned the assignment down (two jobs in
    one block for a full miner): the result was dropped, or replaced by another miner's when the
    job went there meanwhile. When the job comes back, the miner sends its own signed result
    again, whether the coordinator took it or refused it the first time."""
    client, _, ollama, coordinator = world
    for job_id, first_answer in (("job_taken", 200), ("job_refused", 409)):
        coordinator.status_for = lambda path, first=first_answer: first if path.endswith("/complete") else 200
        client.post("/v1/jobs/assign", **signed(assignment(job_id)))
        coordinator.wait_for(f"/v1/jobs/{job_id}/complete")
        wait_until(lambda: client.get("/health").json()["pending_reports"] == 0)
        coordinator.status_for = lambda path: 200
        assert client.post("/v1/jobs/assign", **signed(assignment(job_id))).status_code == 202
        wait_until(lambda: len(coordinator.paths(f"/v1/jobs/{job_id}/complete")) == 2)
        first, again = [b for p, b, _ in coordinator.calls if p == f"/v1/jobs/{job_id}/complete"]
        assert again == first  # the same signed proof, not a new run
    assert len(ollama.calls) == 2


@pytest.mark.parametrize("make_assignment, status, words", [
    (lambda: assignment(model="llama3.2"), 400, "not served"),
    (lambda: assignment(chain_id="other-chain"), 400, "other-chain"),
])
def test_bad_assignments_are_400(world, make_assignment, status, words) -> None:
    client, *_ = world
    response = client.post("/v1/jobs/assign", **signed(make_assignment()))
    assert response.status_code == status and words in response.json()["detail"]


def test_invalid_body_is_422_problem(world) -> None:
    client, *_ = world
    body = b'{"job_id": "x"}'
    response = client.post("/v1/jobs/assign", content=body,
                           headers={"Content-Type": "application/json",
                                    **sign_request(COORDINATOR, "POST", "/v1/jobs/assign", body,
                                                                 target=MINER_TARGET)})
    assert response.status_code == 422 and "job_data" in response.json()["detail"]


@pytest.mark.parametrize("error, words", [
    (ModelNotFound(MODEL), "not found"),
    (OllamaUnavailable("http://ollama", "ConnectError: refused"), "unavailable"),
    (GenerationAborted(GenerateResult()), "aborted"),
])
def test_ollama_errors_are_reported_as_failed(world, error, words) -> None:
    client, _, ollama, coordinator = world

    def fail(model: str, prompt: str) -> None:
        raise error

    ollama.behaviour = fail
    assert client.post("/v1/jobs/assign", **signed(assignment("job_f"))).status_code == 202

    def statuses() -> list[dict]:
        return [b for p, b, _ in coordinator.calls if p == "/v1/jobs/job_f/status"]

    wait_until(lambda: len(statuses()) == 2)
    assert [b["status"] for b in statuses()] == ["running", "failed"]
    failed = statuses()[-1]
    assert words in failed["error"]
    assert "/v1/jobs/job_f/complete" not in coordinator.paths()
    metrics = client.get("/metrics").text
    assert "miner_jobs_failed_total" in metrics and "miner_jobs_accepted_total 1.0" in metrics


def test_health_metrics_and_docs(world) -> None:
    client, *_ = world
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["address"] == MINER.address and health["ollama"] == "ok"
    assert health["chain_id"] == CHAIN_ID and health["models"] == [MODEL]
    text = client.get("/metrics").text
    for name in ("miner_jobs_accepted_total", "miner_jobs_completed_total", "miner_active_jobs",
                 "miner_ollama_request_seconds"):
        assert name in text
    assert "/v1/jobs/assign" in client.get("/openapi.json").json()["paths"]
    assert client.get("/docs").status_code == 404  # Swagger UI loads from a CDN: off by default
