"""The coordinator's HTTP API in-process, against a fake node RPC: validation
-> 400 messages, auth -> 401, rate limit -> 429, size -> 413, CheckTx -> 402."""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3

import pytest
from fastapi.testclient import TestClient

from aitbc import tx as txlib
from aitbc.codes import Code
from aitbc.rpc import BroadcastResult, QueryFailed, RPCError
from aitbc.pb.aitbc_pb import tx_pb2
from aitbc.coordinator.http.app import create_app
from aitbc.api.coordinator_client import sign_job
from aitbc.api.coordinator_models import MAX_PROMPT_CHARS, JobOptions
from aitbc.coordinator.settings import CoordinatorSettings
from aitbc.ops.factories import CHAIN_ID, KEYS
from tests.unit.store_faults import failing_commits

ALICE = KEYS["alice"]
CLIENT, OTHER, ADMIN = "client-key", "other-key", "admin-key"
MINER = {"address": KEYS["miner1"].address, "stake": 100_000_000, "models": ["aitbc-tiny"], "capacity": 2,
         "active_jobs": 0, "completed": 0, "failed": 0, "endpoint": "http://127.0.0.1:1", "public_key": "",
         "price_per_second": 20_000}


class FakeRPC:
    """Just enough of AsyncChainRPC: params, miners, nonces, and a scripted CheckTx."""

    height = 0  # of the committed state its answers stand for

    def __init__(self) -> None:
        self.broadcasts: list[bytes] = []
        self.check_code = 0
        self.check_log = ""

    async def query_at(self, path: str):
        """The answer and the committed height it stands for (these fakes have one state)."""
        return await self.query(path), self.height

    async def query(self, path: str):
        parts = path.strip("/").split("/")
        if parts == ["params"]:
            return {"chain_id": CHAIN_ID, "coordinator": KEYS["coordinator"].address, "price_per_second": 20_000,
                    "pending_timeout_s": 60, "job_timeout_s": 600, "min_miner_stake": 100_000_000}
        if parts == ["miners"]:
            return [MINER]
        if parts[0] in ("nonce", "account"):
            return {"address": parts[1], "exists": True, "balance": 5_000_000, "nonce": 0}
        raise QueryFailed(path, Code.NOT_FOUND, "not found")

    async def broadcast(self, raw: bytes, mode: str = "sync") -> BroadcastResult:
        self.broadcasts.append(raw)
        return BroadcastResult(txlib.tx_hash(raw), self.check_code, self.check_log)

    async def call(self, method: str, **params):
        if method == "unconfirmed_txs":
            return {"txs": []}
        raise RPCError(f"{method}: not found")

    async def status(self):
        return {"sync_info": {"latest_block_height": "7"}}

    async def aclose(self) -> None:
        pass


@pytest.fixture
def rpc() -> FakeRPC:
    return FakeRPC()


@pytest.fixture
def api(tmp_path, rpc):
    settings = CoordinatorSettings(data_dir=tmp_path, client_api_keys=[CLIENT, OTHER], admin_api_keys=[ADMIN],
                                   rate_limit_per_minute=60, rate_limit_burst=100, max_body_bytes=64 * 1024)
    app = create_app(settings, rpc=rpc, key=KEYS["coordinator"], run_scheduler=False)
    with TestClient(app) as client:
        client.headers["X-Api-Key"] = CLIENT
        yield client


def job_body(prompt: str = "What is machine learning?", nonce: int = 0, **overrides) -> dict:
    body = sign_job(ALICE, CHAIN_ID, nonce, prompt, "aitbc-tiny", 1_000_000).model_dump(mode="json")
    body.update(overrides)
    return body


def assert_problem(response, status: int, *fragments: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert set(problem) == {"type", "title", "status", "detail"} and problem["status"] == status
    for fragment in fragments:
        assert fragment in problem["detail"] or fragment in problem["title"], problem
    return problem


def test_submit_stores_broadcasts_and_answers_201(api, rpc):
    response = api.post("/v1/jobs", json=job_body())
    assert response.status_code == 201, response.text
    data = response.json()
    assert data["job_id"] == txlib.job_id_for(ALICE.address, 0, CHAIN_ID) and data["status"] == "pending"
    assert len(rpc.broadcasts) == 1 and data["tx_hash"] == txlib.tx_hash(rpc.broadcasts[0])
    job = api.get(f"/v1/jobs/{data['job_id']}").json()
    assert job["client"] == ALICE.address and job["max_reward"] == 1_000_000 and job["result"] is None
    # a retry of the same request is answered again, not broadcast twice as a new job
    again = api.post("/v1/jobs", json=job_body())
    assert again.status_code == 200 and again.json()["job_id"] == data["job_id"]


def test_a_submission_whose_commit_fails_keeps_nothing_and_broadcasts_nothing(api, rpc, monkeypatch):
    """The job and its submit tx are committed together before the broadcast: a commit that
    fails leaves neither, and the tx never reaches the node (its nonce stays the client's)."""
    store = api.app.state.coordinator.store
    real = store.transaction
    monkeypatch.setattr(store, "transaction", failing_commits(store))
    with pytest.raises(sqlite3.OperationalError):  # the test client raises what the server did (a 500)
        api.post("/v1/jobs", json=job_body())
    monkeypatch.setattr(store, "transaction", real)
    job_id = txlib.job_id_for(ALICE.address, 0, CHAIN_ID)
    assert store.get_job(job_id) is None and store.txs_in_flight() == [] and rpc.broadcasts == []
    # and the same request, sent again, is taken as new
    assert api.post("/v1/jobs", json=job_body()).status_code == 201 and len(rpc.broadcasts) == 1


def test_jobs_are_visible_to_their_key_and_to_admin(api):
    job_id = api.post("/v1/jobs", json=job_body()).json()["job_id"]
    assert_problem(api.get(f"/v1/jobs/{job_id}", headers={"X-Api-Key": OTHER}), 404, "not found")
    assert api.get(f"/v1/jobs/{job_id}", headers={"X-Api-Key": ADMIN}).status_code == 200
    assert [j["job_id"] for j in api.get("/v1/jobs").json()["jobs"]] == [job_id]
    assert api.get("/v1/jobs", headers={"X-Api-Key": OTHER}).json()["jobs"] == []
    assert api.get("/v1/jobs?status=completed").json()["jobs"] == []


@pytest.mark.parametrize("prompt, message", [
    ("", "prompt must not be empty"),
    ("   \n\t ", "prompt must not be empty"),
    ("x" * (MAX_PROMPT_CHARS + 1), f"the limit is {MAX_PROMPT_CHARS}"),
])
def test_invalid_prompt_is_400(api, prompt, message):
    assert_problem(api.post("/v1/jobs", json=job_body(prompt)), 400, message)


def test_unknown_type_and_unoffered_model_are_400(api):
    assert_problem(api.post("/v1/jobs", json=job_body(type="training")), 400, "unknown job type 'training'")
    body = sign_job(ALICE, CHAIN_ID, 0, "hi", "llama9", 1_000_000).model_dump(mode="json")
    assert_problem(api.post("/v1/jobs", json=body), 400, "model 'llama9' is not offered", "offered: aitbc-tiny")


def test_tx_problems_are_400(api):
    assert_problem(api.post("/v1/jobs", json=job_body(signed_tx="not base64!")), 400, "not valid base64")
    junk = base64.b64encode(b"\x01\x02junk").decode()
    assert_problem(api.post("/v1/jobs", json=job_body(signed_tx=junk)), 400, "not a valid AITBC transaction")
    transfer = txlib.build(ALICE, CHAIN_ID, 0, "transfer", to=KEYS["bob"].address, amount=1)
    assert_problem(api.post("/v1/jobs", json=job_body(signed_tx=base64.b64encode(transfer).decode())), 400,
                   "transfer transaction; expected submit_job")
    signed_for_other_prompt = job_body("another prompt")["signed_tx"]
    assert_problem(api.post("/v1/jobs", json=job_body(signed_tx=signed_for_other_prompt)), 400,
                   "prompt_hash is not the sha256")


def test_body_and_tx_must_agree_on_model_and_options(api):
    body = job_body(options={"temperature": 0.9, "seed": 0, "num_predict": 128})
    assert_problem(api.post("/v1/jobs", json=body), 400, "temperature 0.7 != 0.9")
    raw = txlib.build(ALICE, CHAIN_ID, 0, "submit_job", job_type="inference", model="aitbc-tiny",
                      prompt_hash=hashlib.sha256(b"hi").digest(), max_reward=5,
                      options=tx_pb2.JobOptions(temperature_milli=700, seed=1, num_predict=128))
    body = job_body("hi", signed_tx=base64.b64encode(raw).decode())
    assert_problem(api.post("/v1/jobs", json=body), 400, "seed 1 != 0")
    wrong_chain = sign_job(ALICE, "other-chain", 0, "hi", "aitbc-tiny", 5).model_dump(mode="json")
    assert_problem(api.post("/v1/jobs", json=wrong_chain), 400, "for chain 'other-chain'")


def test_malformed_json_is_a_400_problem(api):
    response = api.post("/v1/jobs", content=b"{", headers={"Content-Type": "application/json"})
    assert_problem(response, 400, "invalid request")
    assert_problem(api.post("/v1/jobs", json={"prompt": "x"}), 400, "model", "signed_tx")


def test_missing_or_wrong_api_key_is_401(api):
    assert_problem(api.get("/v1/jobs", headers={"X-Api-Key": ""}), 401, "missing X-Api-Key")
    assert_problem(api.post("/v1/jobs", json=job_body(), headers={"X-Api-Key": "wrong"}), 401, "not a known")


def test_body_over_the_limit_is_413(api):
    big = json.dumps(job_body(prompt="x" * 70_000)).encode()
    response = api.post("/v1/jobs", content=big, headers={"Content-Type": "application/json"})
    assert_problem(response, 413, "larger than 65536 bytes")


def test_rate_limit_is_429_with_retry_after(tmp_path, rpc):
    settings = CoordinatorSettings(data_dir=tmp_path, client_api_keys=[CLIENT], rate_limit_per_minute=6,
                                   rate_limit_burst=2)
    with TestClient(create_app(settings, rpc=rpc, key=KEYS["coordinator"], run_scheduler=False)) as client:
        client.headers["X-Api-Key"] = CLIENT
        assert [client.get("/v1/jobs").status_code for _ in range(2)] == [200, 200]
        response = client.get("/v1/jobs")
        assert_problem(response, 429, "rate limit")
        assert response.headers["Retry-After"] == "10"


def test_checktx_rejection_maps_status_and_forgets_the_job(api, rpc):
    rpc.check_code, rpc.check_log = Code.INSUFFICIENT_FUNDS, "alice has 5 uaitbc, needs 1000000 uaitbc"
    body = job_body()
    problem = assert_problem(api.post("/v1/jobs", json=body), 402, "INSUFFICIENT_FUNDS", "needs 1000000")
    assert problem["type"] == "urn:aitbc:problem:chain-insufficient-funds"
    assert_problem(api.get(f"/v1/jobs/{txlib.job_id_for(ALICE.address, 0, CHAIN_ID)}"), 404)
    rpc.check_code, rpc.check_log = Code.NONCE_TOO_LOW, "nonce 0 is already used"
    assert_problem(api.post("/v1/jobs", json=body), 409, "NONCE_TOO_LOW")


def test_miner_calls_need_a_signature(api):
    assert_problem(api.post("/v1/miners/heartbeat", json={"active_jobs": 0}), 401, "signature rejected")
    assert_problem(api.post("/v1/jobs/job_x/complete", json={}), 401, "signature rejected")


def test_chain_account_health_and_metrics(api):
    assert api.get("/health").json() == {"status": "ok"}
    assert api.get("/ready").json()["chain_id"] == CHAIN_ID
    chain = api.get("/v1/chain").json()
    assert chain["chain_id"] == CHAIN_ID and chain["price_per_second"] == 20_000
    assert api.get(f"/v1/accounts/{ALICE.address}").json()["nonce"] == 0
    assert_problem(api.get("/v1/accounts/bob"), 400, "not an address")
    api.post("/v1/jobs", json=job_body())
    text = api.get("/metrics").text
    assert "aitbc_jobs_submitted_total 1.0" in text and "aitbc_queue_depth 1.0" in text
    # Where the submission waited: its shared commit and the node's CheckTx answer, once each.
    assert "aitbc_store_commit_wait_seconds_count 1.0" in text and "aitbc_node_broadcast_seconds_count 1.0" in text
    assert api.get("/docs").status_code == 404  # Swagger UI loads from a CDN: off by default
    assert "/v1/jobs" in api.get("/openapi.json").json()["paths"]


def test_options_default_like_the_cli():
    assert JobOptions().temperature == 0.7


def test_uint64_amounts_beyond_what_sqlite_keeps_are_a_clear_answer_not_a_500(api):
    """The chain's amounts are uint64, SQLite's integers int64: a price cap above 2^63 - 1 is
    kept as that (no real price reaches it), a max_reward above it is refused before anything
    is stored or broadcast."""
    capped = sign_job(ALICE, CHAIN_ID, 0, "any price", "aitbc-tiny", 1_000_000, max_price_per_second=2**64 - 1)
    answer = api.post("/v1/jobs", json=capped.model_dump(mode="json"))
    assert answer.status_code == 201, answer.text
    assert api.get(f"/v1/jobs/{answer.json()['job_id']}").json()["status"] == "pending"
    rich = sign_job(ALICE, CHAIN_ID, 1, "all the money", "aitbc-tiny", 2**63)
    assert_problem(api.post("/v1/jobs", json=rich.model_dump(mode="json")), 400, "max_reward", str(2**63 - 1))
    assert len(api.get("/v1/jobs").json()["jobs"]) == 1


def test_a_miners_stated_job_counts_are_bounded():
    from pydantic import ValidationError

    from aitbc.api.coordinator_models import MAX_JOBS_AT_ONCE, MinerHeartbeat, MinerRegister
    assert MinerRegister(endpoint="http://m:1", models=["m"], capacity=MAX_JOBS_AT_ONCE).capacity == MAX_JOBS_AT_ONCE
    for bad in ({"capacity": 2**63}, {"capacity": 0}):
        with pytest.raises(ValidationError):
            MinerRegister(endpoint="http://m:1", models=["m"], **bad)
    with pytest.raises(ValidationError):
        MinerHeartbeat(active_jobs=2**63)


def test_metrics_count_requests_by_route_and_status_and_submissions_by_outcome(api, rpc):
    """RequestMetrics keeps one counter per (method, route template, status), and a submission's
    outcome counters are labelled once (coordinator/metrics.py): the counts must still add up."""
    for nonce in range(2):
        assert api.post("/v1/jobs", json=job_body(nonce=nonce)).status_code == 201
    assert api.post("/v1/jobs", json=job_body(nonce=9), headers={"X-Api-Key": "wrong"}).status_code == 401
    rpc.check_code, rpc.check_log = int(Code.INSUFFICIENT_FUNDS), "balance too low"
    assert api.post("/v1/jobs", json=job_body(nonce=2)).status_code >= 400
    assert api.get(f"/v1/jobs/{txlib.job_id_for(ALICE.address, 0, CHAIN_ID)}").status_code == 200
    text = api.get("/metrics").text

    def value(line_start: str) -> float:
        return next(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_start))

    assert value('aitbc_http_requests_total{method="POST",route="/v1/jobs",status="201"}') == 2
    assert value('aitbc_http_requests_total{method="POST",route="/v1/jobs",status="401"}') == 1
    assert value('aitbc_http_requests_total{method="GET",route="/v1/jobs/{job_id}",status="200"}') == 1
    assert value('aitbc_tx_broadcast_total{kind="submit_job",outcome="accepted"}') == 2
    assert value('aitbc_tx_broadcast_total{kind="submit_job",outcome="rejected"}') == 1
    assert value("aitbc_jobs_submitted_total") == 2
