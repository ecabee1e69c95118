"""Invariants of the state, as pure functions returning (message, broken).

They scan the whole state, so they belong in tests and audits, never in
the block path.
"""

from __future__ import annotations

import json
from typing import Callable

from aitbc.abci_app import records, state as st
from aitbc.abci_app.records import Account, Job
from aitbc.abci_app.state import State


def _scan(state: State, prefix: str):
    for key, value in state.store.iterate(*st.prefix_range(prefix)):
        yield key.decode()[len(prefix):], value


def supply_conserved(state: State) -> tuple[str, bool]:
    supply = st.get_supply(state)
    balances = sum(records.decode(Account, v).balance for _, v in _scan(state, st.ACCOUNT_PREFIX))
    escrow = sum(int(v) for _, v in _scan(state, st.ESCROW_PREFIX))
    miners = (json.loads(v) for _, v in _scan(state, st.MINER_PREFIX))
    staked = sum(m["stake"] + m.get("unbonding", 0) for m in miners)
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


ALL: list[Callable[[State], tuple[str, bool]]] = [supply_conserved, no_negative_balance, escrow_matches_open_jobs]


def broken(state: State) -> list[str]:
    """Messages of every broken invariant (empty when all hold)."""
    return [message for check in ALL for message, bad in [check(state)] if bad]
