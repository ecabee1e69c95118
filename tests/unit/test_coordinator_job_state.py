"""The coordinator's job state: its own moves start only where ALLOWED_FROM says; chain moves from anywhere."""

import sqlite3

import pytest

from aitbc.coordinator import job_state
from aitbc.coordinator.store import Store
from aitbc.jobspec import JobStatus


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "c.db")
    yield s
    s.close()


def new_job(store, job_id="job_1"):
    return job_state.insert_pending(store, id=job_id, api_key_hash="h", client="c", type="inference", model="m",
                                    prompt="p", options="{}", max_reward=7, signed_tx=b"", tx_hash="t")


def test_a_job_walks_pending_assigned_running_and_is_paid(store):
    job = new_job(store)
    assert store.get_job(job.id).status == "pending"
    job_state.mark_assigned(store, store.get_job(job.id), "miner1")
    assigned = store.get_job(job.id)
    assert (assigned.status, assigned.miner, assigned.needs_push) == ("assigned", "miner1", 1)
    job_state.mark_running(store, assigned, 123.0)
    assert store.get_job(job.id).status == "running"
    job_state.mark_completed(store, store.get_job(job.id), {"id": "r1", "amount_paid": 5, "refund": 2,
                                                            "block_height": 9, "miner": "miner1"})
    done = store.get_job(job.id)
    assert (done.status, done.receipt_id, done.amount_paid, done.refund, done.needs_push) == \
        ("completed", "r1", 5, 2, 0)


def test_own_moves_refuse_a_status_they_may_not_start_from(store):
    job = new_job(store)
    with pytest.raises(job_state.BadTransition):
        job_state.mark_running(store, job, 1.0)  # never assigned
    job_state.mark_failed(store, job, "no_miner: ...")
    failed = store.get_job(job.id)
    assert (failed.status, failed.refund, failed.amount_paid) == ("failed", 7, 0)
    for move in (lambda j: job_state.mark_assigned(store, j, "m"), lambda j: job_state.mark_cancelled(store, j),
                 lambda j: job_state.mark_failed(store, j, "again")):
        with pytest.raises(job_state.BadTransition):
            move(failed)
    assert store.get_job(job.id).status == "failed"


def test_chain_moves_take_the_chains_view_from_any_status(store):
    job = new_job(store)
    job_state.mark_cancelled(store, job)
    job_state.requeue(store, store.get_job(job.id))
    assert store.get_job(job.id).status == "pending"
    assert job_state.follow_assignment(store, store.get_job(job.id), "miner1", push=False) is True
    job_state.mark_running(store, store.get_job(job.id), 1.0)
    # the same miner: a running job stays running
    assert job_state.follow_assignment(store, store.get_job(job.id), "miner1", push=True) is False
    assert store.get_job(job.id).status == "running"
    job_state.mark_closed(store, store.get_job(job.id), {"status": "expired", "reason": "", "refund": 7})
    closed = store.get_job(job.id)
    assert (closed.status, closed.error, closed.refund) == ("expired", "expired", 7)
    with pytest.raises(job_state.BadTransition):
        job_state.mark_closed(store, closed, {"status": "completed"})  # a receipt goes through mark_completed


def test_a_job_id_is_taken_in_once(store):
    new_job(store)
    with pytest.raises(sqlite3.IntegrityError):
        new_job(store)
    assert store.get_job("job_1").status == JobStatus.PENDING

