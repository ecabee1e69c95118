"""Attacks on the coordinator over real HTTP, with a real chain behind it: each
is refused with a clear problem-details error, and neither the chain's state
nor the coordinator's job list changes."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest

from aitbc import audit
from aitbc.crypto import PrivateKey
from aitbc.signed_http import sign_request
from aitbc.api.coordinator_models import MAX_PROMPT_CHARS
from aitbc.ops.factories import KEYS
from aitbc.ops.harness import ADMIN_API_KEY, CLIENT_API_KEY, MODEL

pytestmark = pytest.mark.attacks
TRIED = {"requests": 0, "refused": 0}


def snapshot(chain, coordinator) -> tuple:
    snap = audit.consistent_read(chain.rpc)  # retried when a block commits mid-read
    jobs = httpx.get(f"{coordinator.url}/v1/jobs", headers={"X-Api-Key": ADMIN_API_KEY}).json()
    return snap.accounts, snap.jobs, snap.escrows, len(jobs["jobs"])


def refused(response: httpx.Response, status: int, words: str) -> None:
    TRIED["requests"] += 1
    assert response.status_code == status, (response.status_code, response.text)
    problem = response.json()
    assert problem["status"] == status and problem["detail"] and problem["title"], problem
    assert words.lower() in (problem["title"] + " " + problem["detail"]).lower(), problem
    TRIED["refused"] += 1


def body(chain, **changes) -> dict:
    return {**chain.sign_job("alice").model_dump(mode="json"), **changes}


def test_hostile_requests_change_nothing(chain, coordinator, hand_miner):
    chain.register_miner("miner1", hand_miner.endpoint)
    hand_miner.join(coordinator.url)
    url = coordinator.url
    before = snapshot(chain, coordinator)
    post = lambda path, json_body=None, key=CLIENT_API_KEY, **kw: httpx.post(  # noqa: E731
        url + path, json=json_body, headers={"X-Api-Key": key} if key else {}, timeout=10, **kw)

    refused(post("/v1/jobs", body(chain), key=None), 401, "api key")
    refused(post("/v1/jobs", body(chain), key="guessed-key"), 401, "api key")
    refused(post("/v1/jobs", body(chain, prompt="x" * (MAX_PROMPT_CHARS + 1))), 400, "prompt")
    refused(post("/v1/jobs", body(chain, prompt="")), 400, "prompt")
    refused(post("/v1/jobs", body(chain, type="mining")), 400, "type")
    refused(httpx.post(url + "/v1/jobs", content=b"{" + b" " * 70_000 + b"}",
                       headers={"X-Api-Key": CLIENT_API_KEY, "Content-Type": "application/json"}), 413, "")
    refused(post("/v1/jobs", body(chain, prompt="a different prompt than the signed one")), 400, "hash")
    refused(post("/v1/jobs", body(chain, signed_tx=base64.b64encode(b"garbage").decode())), 400, "")
    stolen = chain.sign_job("bob", max_reward=10**15)  # valid signature, money it does not have
    refused(post("/v1/jobs", stolen.model_dump(mode="json")), 402, "insufficient")

    # miners: forged, replayed and misdirected signed requests
    intruder = PrivateKey.generate()
    data = json.dumps({"active_jobs": 0}).encode()
    forged = sign_request(intruder, "POST", "/v1/miners/heartbeat", data, target=KEYS["coordinator"].address)
    forged["X-Aitbc-Public-Key"] = KEYS["miner1"].public_key.hex()  # claim to be miner1
    refused(httpx.post(url + "/v1/miners/heartbeat", content=data, headers=forged), 401, "signature")
    stale = sign_request(KEYS["miner1"], "POST", "/v1/miners/heartbeat", data, now=time.time() - 3600,
                         target=KEYS["coordinator"].address)
    refused(httpx.post(url + "/v1/miners/heartbeat", content=data, headers=stale), 401, "timestamp")
    unsigned = httpx.post(url + "/v1/miners/heartbeat", json={"active_jobs": 0})
    refused(unsigned, 401, "")
    refused(hand_miner.post("/v1/miners/register", {"endpoint": "http://x", "models": [MODEL], "capacity": 1},
                            key=intruder), 403, "")  # no stake on chain
    refused(hand_miner.post("/v1/jobs/job_0000000000000000/complete",
                            {"job_id": "job_0000000000000000", "result": "x",
                             "metrics": {"compute_time": 1, "tokens_generated": 1},
                             "proof": {"hash": "00", "data": "", "signature": "00"}}), 404, "")
    assert snapshot(chain, coordinator) == before


def test_flood_past_the_rate_limit_is_429_and_harmless(chain, coordinator_factory):
    # One token a minute: no refill during the flood however slow a loaded machine makes it.
    coordinator = coordinator_factory(rate_limit_per_minute=1, rate_limit_burst=5)
    before = snapshot(chain, coordinator)
    answers = [httpx.get(f"{coordinator.url}/v1/jobs", headers={"X-Api-Key": CLIENT_API_KEY}).status_code
               for _ in range(40)]
    TRIED["requests"] += len(answers)
    TRIED["refused"] += answers.count(429)
    assert answers[:5] == [200] * 5 and answers.count(429) == 35
    limited = httpx.get(f"{coordinator.url}/v1/jobs", headers={"X-Api-Key": CLIENT_API_KEY})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    # another key has its own bucket
    other = httpx.get(f"{coordinator.url}/v1/jobs", headers={"X-Api-Key": ADMIN_API_KEY})
    assert other.status_code == 200
    assert snapshot(chain, coordinator) == before
