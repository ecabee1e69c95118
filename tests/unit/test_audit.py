"""The audit's rules over hand-made snapshots: each broken invariant is reported."""

from __future__ import annotations

import copy

from aitbc.audit import Snapshot, check

JOB = {"status": "completed", "max_reward": 1000, "payment": 250, "refund": 750}
RECEIPT = {"job_id": "j1", "compute_time_ms": 12_500, "price_per_second": 20, "amount_paid": 250}


def healthy() -> Snapshot:
    return Snapshot(height=5, genesis_supply=10_000, supply={"total": 10_000},
                    accounts={"a": {"balance": 8_000}, "b": {"balance": 0}}, escrows={"j2": 1000},
                    jobs={"j1": dict(JOB), "j2": {"status": "pending", "max_reward": 1000}},
                    receipts={"r1": dict(RECEIPT)}, miners=[{"stake": 1000}])


def broken(snap: Snapshot) -> dict[str, list[str]]:
    return {name: problems for name, problems in check(snap).checks.items() if problems}


def test_healthy_snapshot_passes():
    assert check(healthy()).ok


def test_each_rule_catches_its_break():
    snap = healthy(); snap.accounts["a"]["balance"] += 1
    assert list(broken(snap)) == ["total supply equals genesis supply"]
    snap = healthy(); snap.accounts["b"]["balance"] = -5; snap.accounts["a"]["balance"] += 5
    assert list(broken(snap)) == ["no negative balances"]
    snap = healthy(); snap.escrows["j2"] = 999; snap.accounts["a"]["balance"] += 1
    assert list(broken(snap)) == ["every open job has exactly its escrow"]
    snap = healthy(); snap.escrows["j1"] = 1; snap.accounts["a"]["balance"] -= 1
    assert list(broken(snap)) == ["no finished job holds escrow"]
    snap = healthy(); snap.receipts["r2"] = copy.deepcopy(RECEIPT)
    assert list(broken(snap)) == ["every completed job has one receipt paying billed time x price"]
    snap = healthy(); snap.receipts["r1"]["amount_paid"] = 300
    assert list(broken(snap)) == ["every completed job has one receipt paying billed time x price"]
