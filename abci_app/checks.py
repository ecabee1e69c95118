"""Spot checks: re-run a share of jobs on another miner, slash whoever is proven wrong.

Which receipts are checked is decided by the hash of the block that records
the receipt: known only after the miner's result is committed, so the miner
can neither predict nor steer it. A checked job's payment is held while
checkers re-run it (deterministic decoding: temperature 0 or a fixed seed).
One matching re-run passes it; a mismatch escalates to one more checker and
the majority of the three results decides. Whoever is in the minority is
slashed; with no majority nobody is. A check not decided within the window
lapses and the held payment is released, so a job can never hang.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import replace

from abci_app import events, ledger, state as st
from abci_app.records import Job
from abci_app.state import State

BPS = 10_000


def checkable(job: Job) -> bool:
    """Only deterministic decoding can be compared: temperature 0 or a fixed seed."""
    return job.temperature_milli == 0 or job.seed != 0


def selected(block_hash: bytes, job_id: str, share_bps: int) -> bool:
    """Whether the receipt of `job_id` in the block with `block_hash` gets checked."""
    if share_bps <= 0 or not block_hash:
        return False
    draw = int.from_bytes(hashlib.sha256(block_hash + job_id.encode()).digest()[:8], "big") % BPS
    return draw < share_bps


def check_key(deadline_height: int, job_id: str) -> bytes:
    return f"cw/{deadline_height:012d}/{job_id}".encode()


def open_check(state: State, job: Job, payment: int) -> Job:
    """Hold the payment and wait for a checker."""
    deadline = state.height + st.get_params(state).check_window_blocks
    state.store.set(check_key(deadline, job.id), b"")
    state.events.append(events.event(events.CHECK, job_id=job.id, status="pending", miner=job.miner, round=1))
    return replace(job, status="verifying", held_payment=payment, check_status="pending",
                   check_deadline_height=deadline)


def slash(state: State, address: str, client: str, job_id: str) -> int:
    """Take a share of a miner's stake: part to the client, the rest burned. Returns it."""
    params = st.get_params(state)
    miner = st.get_miner(state, address)
    assert miner is not None
    amount = miner.stake * params.slash_bps // BPS
    to_client = amount * params.slash_to_client_bps // BPS
    st.set_miner(state, replace(miner, stake=miner.stake - amount, slashed=miner.slashed + 1))
    supply = st.get_supply(state)
    st.set_supply(state, replace(supply, staked=supply.staked - amount, burned=supply.burned + amount - to_client))
    if to_client:
        ledger.credit(state, client, to_client)
    state.events.append(events.event(events.SLASH, miner=address, job_id=job_id, amount=amount,
                                     to_client=to_client, burned=amount - to_client))
    return amount


def decide(job: Job, max_rounds: int) -> tuple[str, str | None]:
    """(check status, majority hash) from the results so far; 'pending' while undecided."""
    results = [job.result_hash, *job.check_hashes]
    if len(results) == 2 and results[0] == results[1]:
        return "passed", results[0]
    if len(results) - 1 < max_rounds:
        return "pending", None
    top, count = Counter(results).most_common(1)[0]
    if count * 2 <= len(results):
        return "inconclusive", None
    return ("passed" if top == job.result_hash else "failed"), top
