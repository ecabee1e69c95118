"""Crash recovery: kill -9 the coordinator with jobs in every state, restart it,
and every accepted job still ends completed or refunded on chain.

The miner side is driven by hand from the test (aitbc.ops.harness's
HandMiner): a test of the coordinator alone.
"""

from __future__ import annotations

import base64
import time

import pytest

from aitbc import tx as txlib
from aitbc.coordinator.apikeys import ApiKeys
from aitbc.coordinator.store import StoredJob, Store
from aitbc.ops.factories import KEYS
from aitbc.ops.harness import CLIENT_API_KEY, wait_for

pytestmark = pytest.mark.integration


def store_unbroadcast_job(db_path, request, api_key: str) -> str:
    """What a crash between 'stored' and 'broadcast' leaves behind in the store."""
    raw = base64.b64decode(request.signed_tx)
    signed = txlib.decode(raw)
    job_id = txlib.job_id_for(signed.sender, signed.nonce, signed.chain_id)
    store = Store(db_path)
    try:
        key_hash = ApiKeys(store).authenticate(api_key).key_hash
        store.insert_job(StoredJob(
            id=job_id, api_key_hash=key_hash, client=signed.sender, type="inference", model=request.model,
            prompt=request.prompt, max_reward=signed.msg.max_reward,
            # as job_submission stores it: with the seed the chain derives when the client gave none
            options=request.options.model_copy(update={"seed": txlib.job_seed(job_id, request.options.seed)})
            .model_dump_json(),
            signed_tx=raw, tx_hash=signed.hash, status="pending", submitted_at=time.time()))
        store.add_tx(signed.hash, job_id, "submit_job", raw, "stored")
    finally:
        store.close()
    return job_id


def test_kill_9_with_jobs_in_flight_then_restart(chain, coordinator_factory, hand_miner, tmp_path):
    coordinator = coordinator_factory(miner_offline_after_s=10)
    chain.register_miner("miner1", hand_miner.endpoint, capacity=2)
    hand_miner.join(coordinator.url, capacity=2)
    hand_miner.start_heartbeats(every_s=0.5)
    client = coordinator.client()
    start_balance = {name: chain.balance(name) for name in ("alice", "bob")}

    done_before_crash = client.submit_job(chain.sign_job("alice", prompt="one")).job_id
    held_by_miner = client.submit_job(chain.sign_job("alice", prompt="two")).job_id
    assigned = {hand_miner.next_assignment()["job_id"], hand_miner.next_assignment()["job_id"]}
    assert assigned == {done_before_crash, held_by_miner}
    waiting = client.submit_job(chain.sign_job("alice", prompt="three")).job_id  # no capacity left: queued
    assert hand_miner.report(done_before_crash, "running").status_code == 200
    assert hand_miner.complete(done_before_crash, "result one").status_code == 200
    coordinator.kill9()  # the receipt may still be in the mempool; "two" is running, "three" queued

    never_sent = store_unbroadcast_job(coordinator.root / "data" / "coordinator.db",
                                       chain.sign_job("bob", prompt="four"), CLIENT_API_KEY)
    coordinator.start()
    hand_miner.serve_automatically()

    jobs = [done_before_crash, held_by_miner, waiting, never_sent]
    finals = {job_id: wait_for(lambda j=job_id: (lambda p: p if p.status in ("completed", "failed", "expired")
                                                 else None)(client.get_job(j)), 60, f"{job_id} final")
              for job_id in jobs}
    assert {j: f.status for j, f in finals.items()} == {j: "completed" for j in jobs}
    assert held_by_miner in hand_miner.worked_on  # its assignment was pushed again after the restart
    wait_for(lambda: chain.rpc.query("/jobs/open") == [], 15, "no open job on chain")
    for job_id in jobs:
        assert chain.job(job_id)["status"] == "completed"
    paid = {name: sum(finals[j].amount_paid + finals[j].fee for j in jobs if finals[j].client == KEYS[name].address)
            for name in ("alice", "bob")}  # the miner's pay and each submit tx's fee
    assert {name: chain.balance(name) for name in ("alice", "bob")} == \
        {name: start_balance[name] - paid[name] for name in ("alice", "bob")}
    assert coordinator.log_events("recovered")


def test_restart_without_the_miner_refunds_its_jobs(chain, coordinator_factory, hand_miner):
    coordinator = coordinator_factory(miner_offline_after_s=3)
    chain.register_miner("miner1", hand_miner.endpoint)
    hand_miner.join(coordinator.url)
    hand_miner.start_heartbeats(every_s=0.5)
    client = coordinator.client()
    before = chain.balance("alice")
    job_id = client.submit_job(chain.sign_job("alice")).job_id
    hand_miner.next_assignment()
    coordinator.kill9()
    hand_miner.stop_heartbeats()
    hand_miner.accept = False  # the miner is gone for good: it declines the re-pushed assignment
    coordinator.start()
    job = wait_for(lambda: (lambda p: p if p.status == "failed" else None)(client.get_job(job_id)), 30, "failed")
    assert "refunded" in job.error
    wait_for(lambda: chain.job(job_id)["status"] == "failed", 15, "failed on chain")
    assert chain.balance("alice") == before - job.fee  # refunded in full; the submit tx's fee stays burned
