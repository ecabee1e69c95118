"""Many coordinators in the pure transition: register with a bond, only a job's own
coordinator assigns it and records its receipt, a coordinator leaves once its jobs
have closed (docs/direct-jobs.md)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from aitbc.abci_app import events, invariants, query, state as st, transition
from aitbc.abci_app.records import Coordinator
from aitbc.codes import Code
from aitbc.ops.factories import (
    BALANCE, KEYS, PARAMS, Chain, Signer, receipt_fields, register_fields, submit_fields,
)
from tests.unit.block_steps import ok, refused

BOND = PARAMS.min_coordinator_bond
URL = "http://127.0.0.1:18100"
STAKE = 100_000_000


@pytest.fixture
def chain() -> Chain:
    return Chain()


@pytest.fixture
def signer() -> Signer:
    return Signer()


def coordinator(chain: Chain, name: str = "bob"):
    return st.get_registered_coordinator(chain.view(), KEYS[name].address)


def join(chain: Chain, signer: Signer, name: str = "bob", bond: int = BOND) -> None:
    ok(chain, signer.tx(name, "register_coordinator", url=URL, bond=bond))


def submit(chain: Chain, signer: Signer, via: str = "bob", **fields) -> str:
    job_id = signer.next_job_id("alice")
    ok(chain, signer.tx("alice", "submit_job", **submit_fields(**fields), coordinator=KEYS[via].address))
    return job_id


def ask(chain: Chain, path: str):
    view = chain.view()
    return query.answer(view, view, path)


# --- joining and leaving -------------------------------------------------------------

def test_register_locks_the_bond_as_stake(chain, signer):
    join(chain, signer)
    assert coordinator(chain) == Coordinator(address=KEYS["bob"].address, url=URL, bond=BOND,
                                             registered_height=chain.height, open_jobs=0)
    assert chain.balance("bob") == BALANCE - BOND
    assert st.get_supply(chain.view()).staked == BOND


def test_register_emits_an_indexed_coordinator_event(chain, signer):
    chain.begin()
    found = transition.apply_tx(chain._block, __import__("aitbc.tx", fromlist=["decode"]).decode(
        signer.tx("bob", "register_coordinator", url=URL, bond=BOND)))
    chain.end()
    [event] = [e for e in found if e.type == events.COORDINATOR]
    assert dict(event.attributes) == {"address": KEYS["bob"].address, "action": "register", "url": URL,
                                      "bond": str(BOND)}
    assert event.indexed("address") and event.indexed("action")


@pytest.mark.parametrize("who, bond, code", [
    ("coordinator", BOND, Code.COORDINATOR_EXISTS),  # the genesis coordinator already is one
    ("bob", BOND - 1, Code.STAKE_TOO_LOW),
    ("bob", BALANCE + 1, Code.INSUFFICIENT_FUNDS),
])
def test_register_refusals(chain, signer, who, bond, code):
    assert refused(chain, signer, signer.tx(who, "register_coordinator", url=URL, bond=bond)) == code


def test_register_twice_is_refused(chain, signer):
    join(chain, signer)
    assert refused(chain, signer, signer.tx("bob", "register_coordinator", url=URL, bond=BOND)) \
        == Code.COORDINATOR_EXISTS


def test_unregister_with_no_open_job_returns_the_bond_at_once(chain, signer):
    join(chain, signer)
    job_id = submit(chain, signer)
    ok(chain, signer.tx("alice", "cancel_job", job_id=job_id))
    assert coordinator(chain).open_jobs == 0
    ok(chain, signer.tx("bob", "unregister_coordinator"))
    assert coordinator(chain) is None and chain.balance("bob") == BALANCE
    assert st.get_supply(chain.view()).staked == 0
    # gone: jobs can no longer name it, and it can register again
    assert refused(chain, signer, signer.tx("alice", "submit_job", **submit_fields(),
                                            coordinator=KEYS["bob"].address)) == Code.UNKNOWN_COORDINATOR
    join(chain, signer)


def test_unregister_with_open_jobs_leaves_when_the_last_one_closes(chain, signer):
    """A rival naming bob in cheap jobs cannot keep its bond locked: once bob unregisters, no new
    job may name it, and the bond comes back with the close of the last open one."""
    join(chain, signer)
    ok(chain, signer.tx("miner1", "register_miner", **register_fields()))
    served, expiring = submit(chain, signer), submit(chain, signer)
    ok(chain, signer.tx("bob", "unregister_coordinator"))
    leaving = coordinator(chain)
    assert (leaving.leaving_height, leaving.open_jobs, leaving.bond) == (chain.height, 2, BOND)
    assert chain.balance("bob") == BALANCE - BOND and st.get_supply(chain.view()).staked == STAKE + BOND
    for raw in (signer.tx("alice", "submit_job", **submit_fields(), coordinator=KEYS["bob"].address),
                signer.tx("bob", "unregister_coordinator")):
        assert refused(chain, signer, raw) == Code.COORDINATOR_LEAVING
    assert refused(chain, signer, signer.tx("bob", "register_coordinator", url=URL, bond=BOND)) \
        == Code.COORDINATOR_EXISTS
    # it still serves the jobs its clients chose
    ok(chain, signer.tx("bob", "assign_job", job_id=served, miner=KEYS["miner1"].address))
    ok(chain, signer.tx("bob", "record_receipt", **receipt_fields(served)))
    assert coordinator(chain).open_jobs == 1 and chain.balance("bob") == BALANCE - BOND
    # the last one expires at a block start: the bond comes back there, with its event
    chain.begin(PARAMS.pending_timeout_s)
    [left] = [e for e in chain._block.events if e.type == events.COORDINATOR]
    chain.end()
    assert dict(left.attributes) == {"address": KEYS["bob"].address, "action": "unregister", "bond": str(BOND)}
    assert chain.job(expiring).status == "expired"
    assert coordinator(chain) is None and chain.balance("bob") == BALANCE
    assert st.get_supply(chain.view()).staked == STAKE and invariants.broken(chain.view()) == []


def test_a_leaving_coordinator_that_is_never_emptied_is_an_invariant_break(chain, signer):
    join(chain, signer)
    view = chain.view()
    st.set_registered_coordinator(view, replace(coordinator(chain), leaving_height=1))
    chain.store.write(view.store.changes)
    assert any("leaving with no open job" in m for m in invariants.broken(chain.view()))


def test_unregister_refusals(chain, signer):
    assert refused(chain, signer, signer.tx("bob", "unregister_coordinator")) == Code.UNKNOWN_COORDINATOR
    assert refused(chain, signer, signer.tx("coordinator", "unregister_coordinator")) == Code.UNAUTHORIZED


# --- jobs name their coordinator ------------------------------------------------------

def test_jobs_name_the_genesis_coordinator_by_default_and_unknown_ones_are_refused(chain, signer):
    job_id = signer.next_job_id("alice")
    ok(chain, signer.tx("alice", "submit_job", **submit_fields()))
    assert chain.job(job_id).coordinator == KEYS["coordinator"].address
    explicit = submit(chain, signer, via="coordinator")
    assert chain.job(explicit).coordinator == KEYS["coordinator"].address
    assert refused(chain, signer, signer.tx("alice", "submit_job", **submit_fields(),
                                            coordinator=KEYS["miner1"].address)) == Code.UNKNOWN_COORDINATOR


def test_a_chain_without_a_genesis_coordinator_refuses_coordinator_jobs(signer):
    chain = Chain()
    view = chain.view()
    st.set_coordinator(view, "")
    chain.store.write(view.store.changes)
    assert refused(chain, signer, signer.tx("alice", "submit_job", **submit_fields())) == Code.UNKNOWN_COORDINATOR


def test_only_the_jobs_coordinator_assigns_records_and_fails_it(chain, signer):
    join(chain, signer)
    ok(chain, *[signer.tx(m, "register_miner", **register_fields()) for m in ("miner1", "miner2")])
    bobs = submit(chain, signer)
    genesis_job = submit(chain, signer, via="coordinator")
    miner1 = KEYS["miner1"].address
    # each coordinator is a stranger to the other's job
    assert refused(chain, signer, signer.tx("coordinator", "assign_job", job_id=bobs, miner=miner1)) \
        == Code.UNAUTHORIZED
    assert refused(chain, signer, signer.tx("bob", "assign_job", job_id=genesis_job, miner=miner1)) \
        == Code.UNAUTHORIZED
    assert refused(chain, signer, signer.tx("coordinator", "fail_job", job_id=bobs)) == Code.UNAUTHORIZED
    ok(chain, signer.tx("bob", "assign_job", job_id=bobs, miner=miner1),
       signer.tx("coordinator", "assign_job", job_id=genesis_job, miner=KEYS["miner2"].address))
    assert refused(chain, signer, signer.tx("coordinator", "record_receipt", **receipt_fields(bobs))) \
        == Code.UNAUTHORIZED
    assert refused(chain, signer, signer.tx("bob", "record_receipt",
                                            **receipt_fields(genesis_job, miner="miner2"))) == Code.UNAUTHORIZED
    ok(chain, signer.tx("bob", "record_receipt", **receipt_fields(bobs)))
    assert chain.job(bobs).status == "completed" and coordinator(chain).open_jobs == 0
    ok(chain, signer.tx("coordinator", "fail_job", job_id=genesis_job, reason="gave up"))


def test_every_final_status_closes_the_count(chain, signer):
    join(chain, signer)
    ok(chain, signer.tx("miner1", "register_miner", **register_fields(capacity=4)))
    expired = submit(chain, signer)
    cancelled = submit(chain, signer)
    failed = submit(chain, signer)
    done = submit(chain, signer)
    assert coordinator(chain).open_jobs == 4
    ok(chain, signer.tx("alice", "cancel_job", job_id=cancelled),
       signer.tx("bob", "assign_job", job_id=failed, miner=KEYS["miner1"].address),
       signer.tx("bob", "assign_job", job_id=done, miner=KEYS["miner1"].address))
    ok(chain, signer.tx("miner1", "fail_job", job_id=failed),
       signer.tx("bob", "record_receipt", **receipt_fields(done)))
    assert coordinator(chain).open_jobs == 1
    ok(chain, seconds=PARAMS.pending_timeout_s)
    assert chain.job(expired).status == "expired" and coordinator(chain).open_jobs == 0


def test_a_spot_checked_job_counts_until_its_check_decides(signer):
    chain = Chain(replace(PARAMS, check_share_bps=10_000, check_window_blocks=3))
    join(chain, signer)
    ok(chain, *[signer.tx(m, "register_miner", **register_fields()) for m in ("miner1", "miner2")])
    job_id = submit(chain, signer)
    ok(chain, signer.tx("bob", "assign_job", job_id=job_id, miner=KEYS["miner1"].address))
    ok(chain, signer.tx("bob", "record_receipt", **receipt_fields(job_id)))
    assert chain.job(job_id).status == "verifying" and coordinator(chain).open_jobs == 1
    check = receipt_fields(job_id, miner="miner2", compute_time_ms=10_000)
    assert refused(chain, signer, signer.tx("coordinator", "record_check", **check)) == Code.UNAUTHORIZED
    ok(chain, signer.tx("bob", "record_check", **check))  # its coordinator, on the checker's behalf
    assert chain.job(job_id).status == "completed" and coordinator(chain).open_jobs == 0


def test_a_lapsed_check_closes_the_count(signer):
    chain = Chain(replace(PARAMS, check_share_bps=10_000, check_window_blocks=3))
    join(chain, signer)
    ok(chain, *[signer.tx(m, "register_miner", **register_fields()) for m in ("miner1", "miner2")])
    job_id = submit(chain, signer)
    ok(chain, signer.tx("bob", "assign_job", job_id=job_id, miner=KEYS["miner1"].address))
    ok(chain, signer.tx("bob", "record_receipt", **receipt_fields(job_id)))
    for _ in range(3):
        ok(chain)
    assert chain.job(job_id).check_status == "lapsed" and coordinator(chain).open_jobs == 0


def test_job_events_name_the_coordinator(chain, signer):
    join(chain, signer)
    chain.begin()
    from aitbc import tx as txlib
    found = transition.apply_tx(chain._block, txlib.decode(
        signer.tx("alice", "submit_job", **submit_fields(), coordinator=KEYS["bob"].address)))
    chain.end()
    [job_event] = [e for e in found if e.type == events.JOB]
    assert dict(job_event.attributes)["coordinator"] == KEYS["bob"].address and job_event.indexed("coordinator")


def test_a_registered_coordinators_jobs_do_not_work_off_strikes(chain, signer):
    """bob may be miner1's own sybil: jobs it assigns say nothing about miner1 (only the genesis
    coordinator's, or a passed spot check, work a strike off)."""
    join(chain, signer)
    ok(chain, signer.tx("miner1", "register_miner", **register_fields(capacity=4)))
    faulty, served = submit(chain, signer), submit(chain, signer)
    ok(chain, signer.tx("bob", "assign_job", job_id=faulty, miner=KEYS["miner1"].address),
       signer.tx("bob", "assign_job", job_id=served, miner=KEYS["miner1"].address))
    ok(chain, signer.tx("miner1", "fail_job", job_id=faulty))
    ok(chain, signer.tx("bob", "record_receipt", **receipt_fields(served)))
    miner = st.get_miner(chain.view(), KEYS["miner1"].address)
    assert (miner.strikes, miner.completed) == (1, 1)


# --- queries ---------------------------------------------------------------------------

def test_coordinator_queries_list_the_genesis_one_first(chain, signer):
    join(chain, signer)
    submit(chain, signer)
    listed = ask(chain, "/coordinators")
    assert listed[0] == {"address": KEYS["coordinator"].address, "url": "", "bond": 0, "registered_height": 0,
                         "open_jobs": 0, "leaving_height": 0, "genesis": True}
    assert listed[1:] == [{"address": KEYS["bob"].address, "url": URL, "bond": BOND, "registered_height": 1,
                           "open_jobs": 1, "leaving_height": 0, "genesis": False}]
    assert ask(chain, f"/coordinator/{KEYS['bob'].address}") == listed[1]
    assert ask(chain, f"/coordinator/{KEYS['coordinator'].address}") == listed[0]
    with pytest.raises(query.QueryError) as err:
        ask(chain, f"/coordinator/{KEYS['alice'].address}")
    assert err.value.code == Code.NOT_FOUND
    with pytest.raises(query.QueryError) as err:
        ask(chain, "/nothing")
    assert "/coordinators" in str(err.value)
