"""Attacks on the coordinator over real HTTP, with a real chain behind it: each
is refused with a clear problem-details error, and neither the chain's state
nor the coordinator's job list changes."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import httpx
import pytest

from aitbc import audit, tx as txlib
from aitbc.api.coordinator_client import sign_job
from aitbc.crypto import PrivateKey
from aitbc.signed_http import sign_request
from aitbc.api.coordinator_models import MAX_PROMPT_CHARS
from aitbc.ops.factories import CHAIN_ID, KEYS
from aitbc.ops.harness import ADMIN_API_KEY, CLIENT_API_KEY, MODEL, indexed_tx, wait_for
from aitbc.rpc import QueryFailed, RPCError

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


def test_two_jobs_for_one_escrow_raced_side_by_side_get_one(chain, coordinator_factory, hand_miner):
    """A client sends two differently worded jobs at once for each of its next nonces, nonce after
    nonce, hoping that both get past the coordinator while the chain locks one escrow per nonce.
    Submissions arriving together share one store commit (coordinator/group_commit.py), so the
    race is real: for every nonce one is taken (201) and the other refused (409), the taken one's
    tx is the one on chain with one escrow of max_reward, and the coordinator holds one job each.
    (Nonce after nonce: a nonce that reaches the node ahead of the one before it is refused as a
    gap, NONCE_TOO_HIGH, which a first version of this test, sending all 16 at once, ran into.)"""
    chain.register_miner("miner1", hand_miner.endpoint)  # the model is offered; no miner is online
    coordinator = coordinator_factory(rate_limit_per_minute=10_000, rate_limit_burst=1_000)
    first = chain.next_nonce("alice")
    nonces = range(first, first + 8)
    bodies = [sign_job(KEYS["alice"], CHAIN_ID, n, f"{wording} {n}", MODEL, 1_000_000).model_dump(mode="json")
              for n in nonces for wording in ("say it one way", "say it another way")]

    async def send_all() -> list[httpx.Response]:
        answers = []
        async with httpx.AsyncClient(timeout=60, headers={"X-Api-Key": CLIENT_API_KEY}) as client:
            for pair in zip(bodies[0::2], bodies[1::2]):
                answers += await asyncio.gather(*(client.post(f"{coordinator.url}/v1/jobs", json=b) for b in pair))
        return answers

    answers = asyncio.run(send_all())
    TRIED["requests"] += len(answers)
    taken: dict[str, str] = {}  # job id -> tx hash of the taken submission
    for n, pair in zip(nonces, zip(answers[0::2], answers[1::2])):
        assert sorted(a.status_code for a in pair) == [201, 409], [(a.status_code, a.text) for a in pair]
        winner, loser = sorted(pair, key=lambda a: a.status_code)
        assert "already exists" in loser.json()["detail"], loser.text
        TRIED["refused"] += 1
        taken[winner.json()["job_id"]] = winner.json()["tx_hash"]
    refused_hashes = {txlib.tx_hash(base64.b64decode(b["signed_tx"])) for b in bodies} - set(taken.values())

    wait_for(lambda: all(_on_chain(chain, j) for j in taken), 30, "the taken jobs in blocks")
    snap = audit.consistent_read(chain.rpc)
    assert {j: snap.escrows.get(j) for j in taken} == {j: 1_000_000 for j in taken}
    assert all(snap.jobs[j]["client"] == KEYS["alice"].address for j in taken)
    for tx_hash in taken.values():
        assert indexed_tx(chain.rpc, tx_hash)["tx_result"]["code"] == 0
    for tx_hash in refused_hashes:
        with pytest.raises(RPCError):
            chain.rpc.tx(tx_hash)  # never broadcast
    listed = httpx.get(f"{coordinator.url}/v1/jobs", headers={"X-Api-Key": ADMIN_API_KEY}).json()["jobs"]
    assert sorted((j["job_id"], j["tx_hash"]) for j in listed) == sorted(taken.items())


def _on_chain(chain, job_id: str) -> bool:
    try:
        return chain.rpc.query(f"/job/{job_id}")["status"] == "pending"
    except QueryFailed:
        return False


def _jobs_read(coordinator) -> float:
    """The coordinator's count of queued jobs its assignment passes have read."""
    for line in httpx.get(f"{coordinator.url}/metrics").text.splitlines():
        if line.startswith("aitbc_queue_jobs_read_total "):
            return float(line.split()[1])
    raise AssertionError("aitbc_queue_jobs_read_total is not exported")


def test_jobs_capped_below_every_miners_price_are_not_read_on_every_pass(chain, coordinator_factory, hand_miner):
    """A client queues, at its rate limit, jobs whose price cap the only miner does not meet,
    ahead of everyone else's. They are valid (escrow locked, fees paid) and wait for a cheaper
    miner until they time out, refunded. An assignment pass that read and tried each of them
    held the event loop for about 0.12 ms per job, on every tick and after every submission:
    a few thousand such jobs, from a handful of keys, stalled the coordinator for everyone.
    Now the store returns to a pass only jobs some online miner may take: the job behind them
    is assigned, and the passes after it get none of the capped ones."""
    chain.register_miner("miner1", hand_miner.endpoint)  # at 20 000 uaitbc a second
    coordinator = coordinator_factory(rate_limit_per_minute=10_000, rate_limit_burst=1_000)
    hand_miner.join(coordinator.url)
    hand_miner.start_heartbeats()
    first = chain.next_nonce("alice")
    capped = 50
    headers = {"X-Api-Key": CLIENT_API_KEY}
    capped_ids = []
    for n in range(first, first + capped):
        job = sign_job(KEYS["alice"], CHAIN_ID, n, f"cheap {n}", MODEL, 100_000, max_price_per_second=19_999)
        answer = httpx.post(f"{coordinator.url}/v1/jobs", json=job.model_dump(mode="json"), headers=headers, timeout=30)
        assert answer.status_code == 201, answer.text
        capped_ids.append(answer.json()["job_id"])
    fair = sign_job(KEYS["alice"], CHAIN_ID, first + capped, "at the going price", MODEL, 1_000_000,
                    max_price_per_second=20_000)
    answer = httpx.post(f"{coordinator.url}/v1/jobs", json=fair.model_dump(mode="json"), headers=headers, timeout=30)
    assert answer.status_code == 201, answer.text
    fair_id = answer.json()["job_id"]

    assignment = hand_miner.assignments.get(timeout=60)
    assert assignment["job_id"] == fair_id
    read = _jobs_read(coordinator)
    assert read < capped, read  # passes read the fair job, not the capped ones ahead of it
    statuses = {httpx.get(f"{coordinator.url}/v1/jobs/{j}", headers=headers).json()["status"] for j in capped_ids}
    assert statuses == {"pending"}  # still queued for a miner that meets their cap
    time.sleep(1.5)  # six ticks, each with a pass: the miner has a free slot for one more job
    assert _jobs_read(coordinator) == read
    assert hand_miner.assignments.empty()
