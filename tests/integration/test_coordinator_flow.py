"""The coordinator against a real single-node chain (cometbft + our app).

The miner side is driven by hand from the test (signed HTTP requests and a
small HTTP endpoint that takes assignments): these are tests of the
coordinator alone, not of the miner daemon.
"""

from __future__ import annotations

import base64

import httpx
import pytest

from aitbc import tx as txlib
from aitbc.pb.aitbc_pb import tx_pb2
from aitbc.api.coordinator_client import ApiError, CoordinatorClient, sign_cancel
from aitbc.ops.factories import CHAIN_ID, KEYS
from aitbc.ops.harness import MODEL, ChainStack, HandMiner, wait_for

pytestmark = pytest.mark.integration


def final(client: CoordinatorClient, job_id: str, timeout: float = 30):
    return wait_for(lambda: (lambda j: j if j.status in ("completed", "failed", "expired", "cancelled") else None)(
        client.get_job(job_id)), timeout, f"{job_id} final")


def settled(chain: ChainStack, job_id: str, timeout: float = 15) -> dict:
    return wait_for(lambda: (lambda j: j if j and j["status"] not in ("pending", "assigned") else None)(
        chain.job(job_id)), timeout, f"{job_id} closed on chain")


def test_happy_path_pays_the_miner_and_refunds_the_rest(chain, coordinator, hand_miner):
    chain.register_miner("miner1", hand_miner.endpoint)
    assert hand_miner.join(coordinator.url).status_code == 200
    hand_miner.start_heartbeats()
    client = coordinator.client()
    before = chain.balance("alice")
    submitted = client.submit_job(chain.sign_job("alice", max_reward=1_000_000))
    assert submitted.status == "pending"
    # escrow is locked on chain by the client's own tx
    on_chain = wait_for(lambda: chain.rpc.query("/jobs/open"), 10, "job on chain")
    assert on_chain[0]["id"] == submitted.job_id and on_chain[0]["max_reward"] == 1_000_000
    assignment = hand_miner.next_assignment()
    assert assignment["job_id"] == submitted.job_id and assignment["job_data"]["prompt"] == "What is machine learning?"
    assert hand_miner.report(submitted.job_id, "running").json()["status"] == "running"
    done = hand_miner.complete(submitted.job_id, "Machine learning is ...", compute_time_ms=12_500)
    assert done.status_code == 200, done.text
    job = final(client, submitted.job_id)
    assert job.status == "completed" and job.result == "Machine learning is ..."
    assert job.receipt_id == txlib.receipt_id_for(submitted.job_id) and job.amount_paid == 250_000
    receipt = client.receipt(job.receipt_id)
    assert receipt.amount_paid == 250_000 and receipt.refund == 750_000 and receipt.miner == hand_miner.address
    assert chain.balance("alice") == before - 250_000 - job.fee
    assert "aitbc_jobs_completed_total 1.0" in httpx.get(f"{coordinator.url}/metrics").text
    assert coordinator.log_events("job_completed")[0]["job_id"] == submitted.job_id


def test_blocks_drive_the_tracker_and_a_long_poll_sees_the_receipt(chain, coordinator_factory, hand_miner):
    """With the scheduler's timer at 30 s, only the node's new-block notifications (its websocket)
    make it read blocks: the job still goes through, and a client waiting with long polls sees
    each change as the coordinator writes it (one request per change, not one per poll)."""
    coordinator = coordinator_factory(tick_s=30)
    chain.register_miner("miner1", hand_miner.endpoint)
    hand_miner.join(coordinator.url)
    hand_miner.start_heartbeats()
    client = coordinator.client()
    job_id = client.submit_job(chain.sign_job("alice")).job_id
    hand_miner.next_assignment(timeout=20)
    hand_miner.report(job_id, "running")
    assert hand_miner.complete(job_id, "Machine learning is ...", compute_time_ms=1_000).status_code == 200
    seen = [job.status for job in client.job_updates(job_id, timeout=20)]
    assert seen[-1] == "completed", seen  # well before the timer's 30 s
    assert len(seen) <= 4, seen  # a poll would have answered every quarter second
    assert client.get_job(job_id).receipt_id == txlib.receipt_id_for(job_id)


def _tx_height(chain: ChainStack, tx_hash: str) -> int:
    return int(chain.rpc.call("tx", hash=base64.b64encode(bytes.fromhex(tx_hash)).decode())["height"])


def test_a_miner_is_offered_its_next_job_before_the_receipt_of_its_last_is_in_a_block(
        chain, coordinator, hand_miner):
    """A miner that runs one job at a time gets the next as soon as our receipt for the last has
    passed CheckTx: the assign_job can go into the receipt's own block (our nonces put the
    receipt first). Before, the coordinator waited for the committed count of the miner's open
    jobs, so no assign_job could share the block of the receipt that freed its slot, and the
    miner sat idle for a block or more after every job."""
    chain.register_miner("miner1", hand_miner.endpoint, capacity=1)
    hand_miner.join(coordinator.url, capacity=1)
    hand_miner.start_heartbeats()

    def once_assigned_on_chain(assignment: dict) -> str:
        # The committed count holds the job from then on: its slot frees only through our receipt.
        wait_for(lambda: (chain.job(assignment["job_id"]) or {}).get("status") == "assigned", 15,
                 "the assignment in a block")
        return "done"

    hand_miner.serve_automatically(once_assigned_on_chain)
    client = coordinator.client()
    ids = [client.submit_job(chain.sign_job("alice", prompt=f"job {n}")).job_id for n in range(5)]
    for job_id in ids:
        assert final(client, job_id, 60).status == "completed"
    sent = [e for e in coordinator.log_events("tx_broadcast") if e["kind"] in ("assign_job", "record_receipt")]
    height = {(e["kind"], e["job_id"]): _tx_height(chain, e["tx_hash"]) for e in sent}
    order = [e["job_id"] for e in sent if e["kind"] == "assign_job"]  # in nonce order
    assert sorted(order) == sorted(ids)
    shared = [height[("assign_job", after)] == height[("record_receipt", before)]
              for before, after in zip(order, order[1:])]
    assert sum(shared) >= 2, height  # usually all four; 0 when the slot waited for the block


def test_invalid_prompt_and_bad_keys(chain, coordinator, hand_miner):
    chain.register_miner("miner1", hand_miner.endpoint)
    request = chain.sign_job("alice", prompt="  ")
    with pytest.raises(ApiError) as err:
        coordinator.client().submit_job(request)
    assert err.value.status == 400 and "prompt must not be empty" in err.value.detail
    for key in (None, "wrong-key"):
        with pytest.raises(ApiError) as err:
            coordinator.client(api_key=key).list_jobs()
        assert err.value.status == 401
    with pytest.raises(ApiError) as err:
        coordinator.client().submit_job(chain.sign_job("alice", model="no-such-model"))
    assert err.value.status == 400 and f"offered: {MODEL}" in err.value.detail


def test_rate_limit_answers_429_with_retry_after(chain, coordinator_factory):
    coordinator = coordinator_factory(rate_limit_per_minute=6, rate_limit_burst=3)
    client = coordinator.client()
    for _ in range(3):
        client.list_jobs()
    with pytest.raises(ApiError) as err:
        client.list_jobs()
    assert err.value.status == 429 and int(err.value.headers["retry-after"]) >= 1


def test_checktx_rejection_is_a_problem_with_the_chains_code(chain, coordinator, hand_miner):
    chain.register_miner("miner1", hand_miner.endpoint)
    too_much = chain.sign_job("bob", max_reward=10**15)
    with pytest.raises(ApiError) as err:
        coordinator.client().submit_job(too_much)
    assert err.value.status == 402 and "INSUFFICIENT_FUNDS" in err.value.title


def test_completion_by_another_miner_is_refused_by_coordinator_and_chain(chain, coordinator, hand_miner):
    chain.register_miner("miner1", hand_miner.endpoint)
    hand_miner.join(coordinator.url)
    hand_miner.start_heartbeats()
    with HandMiner("miner2", KEYS["coordinator"].address) as intruder:
        chain.register_miner("miner2", intruder.endpoint)  # registered on chain, but not assigned
        intruder.coordinator_url = coordinator.url
        client = coordinator.client()
        job_id = client.submit_job(chain.sign_job("alice")).job_id
        assert hand_miner.next_assignment()["job_id"] == job_id
        response = intruder.complete(job_id, "stolen result")
        # Answered as for an unknown job: another miner learns nothing about it, not even that it exists.
        assert response.status_code == 404
        assert "not found among the jobs assigned to you" in response.json()["detail"]
        assert hand_miner.address not in response.text
        # Nor can it put words into the client's live stream of the job.
        injected = intruder.post(f"/v1/jobs/{job_id}/chunks", {"seq": 0, "text": "stolen words"})
        assert injected.status_code == 404, injected.text
        # The chain says the same if the intruder's proof reaches it as a record_receipt tx.
        wait_for(lambda: (chain.job(job_id) or {}).get("status") == "assigned", 10, "assigned on chain")
        body = intruder.completion(job_id, "stolen result")
        raw = txlib.build(KEYS["coordinator"], CHAIN_ID, chain.next_nonce("coordinator"), "record_receipt",
                          proof=base64.b64decode(body["proof"]["data"]),
                          miner_signature=bytes.fromhex(body["proof"]["signature"]))
        result = chain.rpc.broadcast(raw, "sync")
        assert result.code_name == "NOT_ASSIGNED_MINER", result.log
        # the real miner still gets paid
        assert hand_miner.complete(job_id, "the real result").status_code == 200
        assert final(client, job_id).status == "completed"
        text = ""  # what a client following the stream ends with: tokens append, a replace resets
        for event in client.stream_job(job_id):
            if event.kind == "token":
                text += event.token().text
            elif event.kind == "replace":
                text = event.replacement().text
        assert text == "the real result"


def test_miner_failure_refunds_the_client(chain, coordinator, hand_miner):
    chain.register_miner("miner1", hand_miner.endpoint)
    hand_miner.join(coordinator.url)
    hand_miner.start_heartbeats()
    client = coordinator.client()
    before = chain.balance("alice")
    job_id = client.submit_job(chain.sign_job("alice")).job_id
    hand_miner.next_assignment()
    response = hand_miner.report(job_id, "failed", error="ollama: model 'aitbc-tiny' not found")
    assert response.status_code == 200 and response.json()["status"] == "failed"
    job = final(client, job_id)
    assert job.status == "failed" and "model 'aitbc-tiny' not found" in job.error and job.result is None
    assert settled(chain, job_id)["status"] == "failed"
    assert chain.balance("alice") == before - job.fee  # refunded in full; the submit tx's fee stays burned


def test_client_cancels_a_pending_job(chain, coordinator, hand_miner):
    chain.register_miner("miner1", hand_miner.endpoint)  # on chain, but never online: the job waits
    client = coordinator.client()
    before = chain.balance("alice")
    job_id = client.submit_job(chain.sign_job("alice")).job_id
    with pytest.raises(ApiError) as err:  # only the job's client may sign the cancel
        client.cancel_job(job_id, sign_cancel(KEYS["bob"], CHAIN_ID, chain.next_nonce("bob"), job_id))
    assert err.value.status == 403
    cancel = sign_cancel(KEYS["alice"], CHAIN_ID, chain.next_nonce("alice"), job_id)
    cancelled = client.cancel_job(job_id, cancel)
    assert cancelled.status == "cancelled"
    assert settled(chain, job_id)["status"] == "cancelled"
    fees = cancelled.fee + txlib.decode(base64.b64decode(cancel)).fee
    assert chain.balance("alice") == before - fees  # the escrow back in full; both txs' fees burned


def test_no_miner_fails_after_the_queue_timeout_with_full_refund(chain, coordinator_factory, hand_miner):
    coordinator = coordinator_factory(queue_timeout_s=2)
    chain.register_miner("miner1", hand_miner.endpoint)  # offers the model but never comes online
    client = coordinator.client()
    before = chain.balance("alice")
    job_id = client.submit_job(chain.sign_job("alice")).job_id
    job = final(client, job_id, timeout=20)
    assert job.status == "failed" and "no miner available" in job.error and job.refund == 1_000_000
    assert settled(chain, job_id)["status"] == "failed"  # by the coordinator, well before the chain's 30 s
    assert chain.balance("alice") == before - job.fee


def test_offline_miner_jobs_are_failed_and_refunded(chain, coordinator_factory, hand_miner):
    coordinator = coordinator_factory(miner_offline_after_s=2)
    chain.register_miner("miner1", hand_miner.endpoint)
    hand_miner.join(coordinator.url)
    hand_miner.start_heartbeats(every_s=0.5)
    client = coordinator.client()
    before = chain.balance("alice")
    job_id = client.submit_job(chain.sign_job("alice")).job_id
    hand_miner.next_assignment()
    hand_miner.report(job_id, "running")
    hand_miner.stop_heartbeats()  # the miner dies mid-job
    job = final(client, job_id, timeout=20)
    assert job.status == "failed" and "went offline" in job.error
    assert settled(chain, job_id)["status"] == "failed"
    assert chain.balance("alice") == before - job.fee


def test_push_failure_fails_the_job(chain, coordinator, hand_miner):
    chain.register_miner("miner1", hand_miner.endpoint)
    hand_miner.join(coordinator.url)
    hand_miner.start_heartbeats()
    hand_miner.accept = False  # the miner answers but declines
    client = coordinator.client()
    job_id = client.submit_job(chain.sign_job("alice")).job_id
    job = final(client, job_id)
    assert job.status == "failed" and "did not take the job" in job.error


def test_wrong_proof_from_the_assigned_miner_is_400(chain, coordinator, hand_miner):
    chain.register_miner("miner1", hand_miner.endpoint)
    hand_miner.join(coordinator.url)
    hand_miner.start_heartbeats()
    client = coordinator.client()
    job_id = client.submit_job(chain.sign_job("alice")).job_id
    hand_miner.next_assignment()
    body = hand_miner.completion(job_id, "result A")
    body["result"] = "result B"
    response = hand_miner.post(f"/v1/jobs/{job_id}/complete", body)
    assert response.status_code == 400 and "sha256" in response.json()["detail"]


def test_tx_kinds_used_by_tests_exist():
    assert {"record_receipt", "cancel_job"} <= set(txlib.MSG_KINDS) and tx_pb2.ComputeProof
