"""The audit's rules over hand-made snapshots: each broken invariant is reported."""

from __future__ import annotations

import copy

from aitbc.audit import Snapshot, check

JOB = {"status": "completed", "max_reward": 1000, "payment": 250, "refund": 750}
RECEIPT = {"job_id": "j1", "compute_time_ms": 12_500, "price_per_second": 20, "amount_paid": 250}


def healthy() -> Snapshot:
    return Snapshot(height=5, genesis_supply=10_000, supply={"total": 10_000, "staked": 1000},
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


GENESIS = {"address": "g", "url": "", "bond": 0, "open_jobs": 0, "genesis": True}


def with_coordinator(open_jobs: int = 1) -> Snapshot:
    """The healthy snapshot with a registered coordinator c1 (bond 500) named by the open job j2."""
    snap = healthy()
    snap.accounts["a"]["balance"] -= 500
    snap.supply["staked"] += 500
    snap.coordinators = [dict(GENESIS), {"address": "c1", "url": "http://c1:1", "bond": 500,
                                          "open_jobs": open_jobs, "genesis": False}]
    snap.jobs["j2"]["coordinator"] = "c1"
    return snap


def test_coordinator_bonds_are_staked_and_count_their_open_jobs():
    assert check(with_coordinator()).ok
    snap = with_coordinator(); snap.supply["staked"] -= 500  # the chain's count forgot the bond
    assert list(broken(snap)) == ["staked equals miners' stake and coordinators' bonds"]
    assert list(broken(with_coordinator(open_jobs=0))) == ["every coordinator counts its open jobs"]
    snap = with_coordinator(); snap.jobs["j2"]["coordinator"] = "nobody"; snap.coordinators[1]["open_jobs"] = 0
    assert list(broken(snap)) == ["every coordinator counts its open jobs"]


def test_direct_jobs_go_to_their_candidates_only():
    snap = healthy()
    snap.jobs["j2"].update(status="assigned", candidates=["m1", "m2"], declined=["m1"], miner="m2", coordinator="")
    assert check(snap).ok
    for change in ({"miner": "m1"}, {"miner": "m3"}, {"coordinator": "g"}):
        bad = healthy(); bad.jobs["j2"].update({**snap.jobs["j2"], **change}); bad.coordinators = [dict(GENESIS)]
        assert list(broken(bad)) == ["direct jobs go to their candidates only"], change
    bad = healthy(); bad.jobs["j1"].update(candidates=["m1"], miner="m1")
    assert list(broken(bad)) == ["direct jobs go to their candidates only"]  # completed without receipt_tx
