"""Binding a job to a miner: who may take it, the chain's draw for direct jobs, the terms fixed.

A coordinator job's miner is named by its coordinator (`jobs.assign`). A direct
job's miner is drawn by the chain among the client's candidates that may take
it now, weighted by stake, seeded by the job id and its number of declines: the
seed does not depend on the block, so a proposer cannot steer it by ordering
txs, and a decline moves the draw on. A direct job nobody may take yet waits
in the `am/` index; every block start tries again, until its pending deadline
refunds it. Either way the same `bind` fixes the price, the ms-per-token
ceiling and the deadline into the job.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

from aitbc.abci_app import events, miners, state as st
from aitbc.abci_app.records import Job, Miner
from aitbc.abci_app.state import State
from aitbc.errors import (
    MinerAtCapacity, MinerJailed, MinerNotFound, ModelNotServed, PriceAboveCap, StakeTooLow, TxError,
)

NS = 1_000_000_000
ASSIGN_DOMAIN = b"aitbc/assign/v1\n"
# Direct jobs waiting for a miner are retried at most this many per block.
MAX_ASSIGNS_PER_BLOCK = 100


def refusal(state: State, address: str, miner: Miner | None, job: Job) -> TxError | None:
    """Why the miner at `address` (its record `miner`) may not take `job` now, or None if it may."""
    if miner is None or miner.stake == 0:
        return MinerNotFound(address)
    minimum = st.get_params(state).min_miner_stake
    if miner.stake < minimum:
        return StakeTooLow(minimum, miner.stake)
    if miners.is_jailed(miner, state.time_ns):
        return MinerJailed(address, miner.jailed_until_ns)
    if job.model not in miner.models:
        return ModelNotServed(address, job.model)
    if job.max_price_per_second and miner.price_per_second > job.max_price_per_second:
        return PriceAboveCap(address, miner.price_per_second, job.max_price_per_second)
    if miner.active_jobs >= miner.capacity:
        return MinerAtCapacity(address, miner.capacity)
    return None


def fit_miner(state: State, address: str, job: Job) -> Miner:
    """The miner a coordinator names for `job`, if it may take it. Raises MinerNotFound, StakeTooLow,
    MinerJailed, ModelNotServed, PriceAboveCap, MinerAtCapacity."""
    miner = st.get_miner(state, address)
    error = refusal(state, address, miner, job)
    if error is not None:
        raise error
    assert miner is not None
    return miner


def eligible(state: State, job: Job) -> list[Miner]:
    """The candidates of direct `job` the chain may assign now, in the client's order: not declined,
    with an encryption key (the job key is sealed to it), and free to take it as for `fit_miner`."""
    pool = []
    for address in job.candidates:
        if address in job.declined:
            continue
        miner = st.get_miner(state, address)
        if miner is not None and miner.encryption_key and refusal(state, address, miner, job) is None:
            pool.append(miner)
    return pool


def draw(state: State, job: Job) -> Miner | None:
    """The stake-weighted draw among the eligible candidates of direct `job` (None: nobody yet)."""
    seed = hashlib.sha256(ASSIGN_DOMAIN + job.id.encode() + len(job.declined).to_bytes(2, "big")).digest()
    return miners.stake_weighted(eligible(state, job), seed)


def bind(state: State, job: Job, miner: Miner) -> Job:
    """Give pending `job` to `miner`: take one of its slots, fix the job's price and ms-per-token
    ceiling, and give it `job_timeout_s` to finish. Stores the job and emits its event."""
    params = st.get_params(state)
    deadline = state.time_ns + params.job_timeout_s * NS
    st.move_deadline(state, job.id, job.deadline_ns, deadline)
    st.set_miner(state, replace(miner, active_jobs=miner.active_jobs + 1))
    job = replace(job, status="assigned", miner=miner.address, price_per_second=miner.price_per_second,
                  ms_per_token=miners.rate_for(miner, job.model, params), assigned_height=state.height,
                  assigned_time_ns=state.time_ns, deadline_ns=deadline)
    st.set_job(state, job)
    state.events.append(events.job_event(job))
    return job


def assign_direct(state: State, job: Job) -> Job:
    """Draw a miner for pending direct `job` (already stored) and bind it; or keep the job in the
    `am/` index to try again at the next block start. Returns the job as it now stands."""
    miner = draw(state, job)
    if miner is None:
        state.store.set(st.awaiting_miner_key(job.id), b"")
        return job
    state.store.delete(st.awaiting_miner_key(job.id))
    return bind(state, job, miner)


def assign_waiting(state: State) -> None:
    """Block start: try again to assign direct jobs that found no candidate free.

    At most MAX_ASSIGNS_PER_BLOCK, round robin: a block that cannot try every waiting job
    leaves a cursor and the next goes on after it, so that jobs nobody can take (their
    candidates busy or gone) cannot keep the others waiting until they expire.
    """
    start, stop = st.AWAITING_MINER
    cursor = st.get_assign_cursor(state)
    after = st.awaiting_miner_key(cursor) + b"\x00" if cursor else start
    tried = st.last_segments(state, (after, stop), MAX_ASSIGNS_PER_BLOCK)
    if len(tried) < MAX_ASSIGNS_PER_BLOCK:  # wrap around
        tried += st.last_segments(state, (start, after), MAX_ASSIGNS_PER_BLOCK - len(tried))
    for job_id in tried:
        job = st.get_job(state, job_id)
        assert job is not None and job.status == "pending" and job.is_direct, f"miner queue: {job_id}"
        assign_direct(state, job)
    st.set_assign_cursor(state, tried[-1] if len(tried) == MAX_ASSIGNS_PER_BLOCK else "")


def leave_queue(state: State, job: Job) -> None:
    """A direct job that reaches a final status while pending stops waiting for a miner."""
    if job.is_direct and job.status == "pending":
        state.store.delete(st.awaiting_miner_key(job.id))
