"""Invariants of the state, as pure functions returning (message, broken).

They scan the whole state, so they belong in tests and audits, never in
the block path.
"""

from __future__ import annotations

import json
from typing import Callable

from aitbc.abci_app import records, state as st
from aitbc.abci_app.records import Account, Coordinator, Job
from aitbc.abci_app.state import State


def _scan(state: State, prefix: str):
    for key, value in state.store.iterate(*st.prefix_range(prefix)):
        yield key.decode()[len(prefix):], value


def supply_conserved(state: State) -> tuple[str, bool]:
    supply = st.get_supply(state)
    balances = sum(records.decode(Account, v).balance for _, v in _scan(state, st.ACCOUNT_PREFIX))
    escrow = sum(int(v) for _, v in _scan(state, st.ESCROW_PREFIX))
    miners = (json.loads(v) for _, v in _scan(state, st.MINER_PREFIX))
    bonds = sum(records.decode(Coordinator, v).bond for _, v in _scan(state, st.COORDINATOR_PREFIX))
    staked = sum(m["stake"] + m.get("unbonding", 0) for m in miners) + bonds  # coordinators' bonds are locked too
    broken = (balances + escrow + staked + supply.burned + supply.fees != supply.total) \
        or escrow != supply.escrow or staked != supply.staked
    return (f"supply: balances {balances} + escrow {escrow} + staked {staked} + burned {supply.burned} "
            f"+ fees {supply.fees} vs total {supply.total} (tracked escrow {supply.escrow}, "
            f"staked {supply.staked})", broken)


def no_negative_balance(state: State) -> tuple[str, bool]:
    negative = [a for a, v in _scan(state, st.ACCOUNT_PREFIX) if records.decode(Account, v).balance < 0]
    return f"negative balances: {negative}", bool(negative)


def escrow_matches_open_jobs(state: State) -> tuple[str, bool]:
    escrows = {job_id: int(v) for job_id, v in _scan(state, st.ESCROW_PREFIX)}
    problems = []
    for job_id, value in _scan(state, st.JOB_PREFIX):
        job = records.decode(Job, value)
        if job.is_open and escrows.pop(job_id, None) != job.max_reward - job.check_paid:
            problems.append(f"open job {job_id} lacks its escrow")
        elif not job.is_open and escrows.pop(job_id, None) is not None:
            problems.append(f"finished job {job_id} still holds escrow")
        settled = job.payment + job.refund + job.check_paid + job.check_burned
        if not job.is_open and settled != job.max_reward:
            problems.append(f"{job.status} job {job_id} paid {job.payment} + refunded {job.refund} "
                            f"+ checks {job.check_paid} + burned {job.check_burned} != {job.max_reward}")
        if job.status == "completed" and not job.receipt_id:
            problems.append(f"completed job {job_id} has no receipt")
    problems += [f"escrow without job: {j}" for j in escrows]
    return "; ".join(problems) or "escrow ok", bool(problems)


def _jobs(state: State):
    return (records.decode(Job, value) for _, value in _scan(state, st.JOB_PREFIX))


def coordinators_count_their_open_jobs(state: State) -> tuple[str, bool]:
    """A registered coordinator's `open_jobs` is the number of open jobs naming it (what keeps it from leaving)."""
    counted = {c.address: c.open_jobs for c in st.all_registered_coordinators(state)}
    found = dict.fromkeys(counted, 0)
    for job in _jobs(state):
        if job.is_open and job.coordinator in found:
            found[job.coordinator] += 1
    problems = [f"coordinator {a} counts {counted[a]} open jobs, has {n}" for a, n in found.items() if counted[a] != n]
    # a leaving coordinator gets its bond back when its last job closes: with none open it must be gone
    problems += [f"coordinator {c.address} is leaving with no open job but still holds its bond"
                 for c in st.all_registered_coordinators(state) if c.leaving_height and not c.open_jobs]
    return "; ".join(problems) or "coordinator counts ok", bool(problems)


def direct_jobs_waiting_are_queued(state: State) -> tuple[str, bool]:
    """The am/ index holds exactly the pending direct jobs: none is forgotten, none assigned twice."""
    queued = set(st.last_segments(state, st.AWAITING_MINER))
    pending = {job.id for job in _jobs(state) if job.is_direct and job.status == "pending"}
    problems = [f"pending direct job {j} not queued for a miner" for j in sorted(pending - queued)]
    problems += [f"queued for a miner but not a pending direct job: {j}" for j in sorted(queued - pending)]
    return "; ".join(problems) or "miner queue ok", bool(problems)


def miner_slots_match_jobs(state: State) -> tuple[str, bool]:
    """A miner's `active_jobs` is the jobs assigned to it plus the re-runs it is seated for."""
    busy: dict[str, int] = {}
    for job in _jobs(state):
        if job.status == "assigned":
            busy[job.miner] = busy.get(job.miner, 0) + 1
        if job.status == "verifying" and job.checker:
            busy[job.checker] = busy.get(job.checker, 0) + 1
    problems = [f"miner {m.address} counts {m.active_jobs} active jobs, has {busy.get(m.address, 0)}"
                for m in st.all_miners(state) if m.active_jobs != busy.get(m.address, 0)]
    return "; ".join(problems) or "miner slots ok", bool(problems)


ALL: list[Callable[[State], tuple[str, bool]]] = [supply_conserved, no_negative_balance, escrow_matches_open_jobs,
                                                  coordinators_count_their_open_jobs, direct_jobs_waiting_are_queued,
                                                  miner_slots_match_jobs]


def broken(state: State) -> list[str]:
    """Messages of every broken invariant (empty when all hold)."""
    return [message for check in ALL for message, bad in [check(state)] if bad]
