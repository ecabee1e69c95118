"""Direct jobs in the pure transition: the chain assigns among the client's candidates,
a miner declines or records its own receipt with the sealed result, the client shares
its job key with a spot checker (docs/direct-jobs.md)."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest

from aitbc.abci_app import assignment, state as st
from aitbc import sealing, tx as txlib
from aitbc.codes import Code
from aitbc.ops.factories import (
    BALANCE, KEYS, PARAMS, Chain, Signer, direct_fields, receipt_fields, register_fields, sealed_result,
    submit_fields,
)
from tests.unit.block_steps import ok, refused

STAKE = 100_000_000
ALWAYS_CHECKED = replace(PARAMS, check_share_bps=10_000, check_window_blocks=20)


@pytest.fixture
def chain() -> Chain:
    return Chain()


@pytest.fixture
def signer() -> Signer:
    return Signer()


def register(chain: Chain, signer: Signer, *names: str, sealing_key: bool = True, **fields) -> None:
    ok(chain, *[signer.tx(n, "register_miner", **register_fields(sealing_key=n if sealing_key else "", **fields))
                for n in names])


def submit_direct(chain: Chain, signer: Signer, candidates=("miner1",), client: str = "alice", **overrides) -> str:
    job_id = signer.next_job_id(client)
    ok(chain, signer.tx(client, "submit_job", **direct_fields(client, job_id, candidates, **overrides)))
    return job_id


def miner(chain: Chain, name: str):
    return st.get_miner(chain.view(), KEYS[name].address)


def queued(chain: Chain) -> list[str]:
    return st.last_segments(chain.view(), st.AWAITING_MINER)


def direct_receipt(chain: Chain, sender: Signer, job_id: str, name: str, **fields) -> bytes:
    return sender.tx(name, "record_receipt", **receipt_fields(job_id, miner=name, **fields),
                     sealed_result=sealed_result("alice", job_id))


def name_of(address: str) -> str:
    return next(n for n, k in KEYS.items() if k.address == address)


# --- miners register an encryption key ----------------------------------------------

def test_miners_register_and_replace_their_encryption_key(chain, signer):
    register(chain, signer, "miner1")
    assert miner(chain, "miner1").encryption_key == sealing.encryption_public_key(KEYS["miner1"]).hex()
    fields = {k: v for k, v in register_fields().items() if k != "stake"}
    ok(chain, signer.tx("miner1", "update_miner", **fields))  # the key is part of the offer it replaces
    assert miner(chain, "miner1").encryption_key == ""
    fields = {k: v for k, v in register_fields(sealing_key="miner2").items() if k != "stake"}
    ok(chain, signer.tx("miner1", "update_miner", **fields))
    assert miner(chain, "miner1").encryption_key == sealing.encryption_public_key(KEYS["miner2"]).hex()


# --- submit and assignment ---------------------------------------------------------------

def test_direct_job_is_assigned_at_once_with_the_terms_of_an_assign_job(chain, signer):
    register(chain, signer, "miner1")
    job_id = signer.next_job_id("alice")
    raw = signer.tx("alice", "submit_job", **direct_fields("alice", job_id, ("miner1",)))
    ok(chain, raw)
    job = chain.job(job_id)
    assert (job.status, job.miner, job.coordinator) == ("assigned", KEYS["miner1"].address, "")
    assert job.candidates == (KEYS["miner1"].address,) and job.submit_tx == txlib.tx_hash(raw)
    assert (job.price_per_second, job.ms_per_token, job.assigned_height) == (20_000, PARAMS.max_ms_per_token,
                                                                              chain.height)
    assert job.deadline_ns == chain.time_ns + PARAMS.job_timeout_s * 1_000_000_000
    assert miner(chain, "miner1").active_jobs == 1 and queued(chain) == []
    assert chain.balance("alice") == BALANCE - 1_000_000


def test_candidates_keep_the_clients_order(chain, signer):
    job_id = submit_direct(chain, signer, ("miner2", "bob", "miner1"))
    assert chain.job(job_id).candidates == tuple(KEYS[n].address for n in ("miner2", "bob", "miner1"))


def test_a_job_nobody_can_take_waits_and_is_assigned_at_a_later_block_start(chain, signer):
    job_id = submit_direct(chain, signer, ("miner1",))
    assert chain.job(job_id).status == "pending" and queued(chain) == [job_id]
    register(chain, signer, "miner1")  # the block start came before the registration: still waiting
    assert chain.job(job_id).status == "pending"
    ok(chain)
    job = chain.job(job_id)
    assert (job.status, job.miner) == ("assigned", KEYS["miner1"].address) and queued(chain) == []


@pytest.mark.parametrize("why", ["no key", "model", "price cap", "capacity", "stake", "jailed", "not a miner"])
def test_only_candidates_that_may_take_the_job_are_drawn(chain, signer, why):
    register(chain, signer, "miner1", sealing_key=why != "no key", capacity=1)
    overrides = {}
    if why == "model":
        overrides = {"model": "other-model"}
    elif why == "price cap":
        overrides = {"max_price_per_second": 19_999}
    elif why == "capacity":
        submit_direct(chain, signer, ("miner1",))  # takes its only slot
    elif why == "stake":
        view = chain.view()
        st.set_params(view, replace(PARAMS, min_miner_stake=STAKE + 1))
        chain.store.write(view.store.changes)
    elif why == "jailed":
        view = chain.view()
        st.set_miner(view, replace(miner(chain, "miner1"), jailed_until_ns=chain.time_ns + 10**12))
        chain.store.write(view.store.changes)
    candidates = ("miner2",) if why == "not a miner" else ("miner1",)
    job_id = submit_direct(chain, signer, candidates, **overrides)
    assert chain.job(job_id).status == "pending" and job_id in queued(chain)


def test_the_draw_is_stake_weighted_and_seeded_by_the_job_and_its_declines(chain, signer):
    register(chain, signer, "miner1", stake=STAKE)
    register(chain, signer, "miner2", stake=3 * STAKE)
    view = chain.view()
    job = st.get_job(view, submit_direct(chain, signer, ("miner1", "miner2")))
    # the seed is the job id and the number of declines: no block hash, no tx order
    seed = hashlib.sha256(b"aitbc/assign/v1\n" + job.id.encode() + (0).to_bytes(2, "big")).digest()
    pool = [miner(chain, "miner1"), miner(chain, "miner2")]
    pick = STAKE <= int.from_bytes(seed, "big") % (4 * STAKE)
    assert job.miner == pool[pick].address
    # over many job ids the heavier stake wins about three times in four
    wins = sum(assignment.draw(view, replace(job, id=f"job_{i}", miner="")).address == KEYS["miner2"].address
               for i in range(400))
    assert 250 < wins < 350
    # a decline moves the draw on (deterministically)
    draws = {assignment.draw(view, replace(job, declined=("x",) * n)).address for n in range(12)}
    assert draws == {KEYS["miner1"].address, KEYS["miner2"].address}


def test_at_most_max_assigns_per_block_round_robin(chain, signer, monkeypatch):
    waiting = sorted(submit_direct(chain, signer, ("miner1",)) for _ in range(3))
    monkeypatch.setattr(assignment, "MAX_ASSIGNS_PER_BLOCK", 2)
    register(chain, signer, "miner1", capacity=3)  # its block start tried the first two, in vain
    assert st.get_assign_cursor(chain.view()) == waiting[1]
    ok(chain)  # the next goes on after them, then wraps around
    assert [chain.job(j).status for j in waiting] == ["assigned", "pending", "assigned"]
    assert st.get_assign_cursor(chain.view()) == waiting[0]
    ok(chain)  # fewer waiting than the limit: every one is tried, no cursor left
    assert all(chain.job(j).status == "assigned" for j in waiting) and queued(chain) == []
    assert st.get_assign_cursor(chain.view()) == "" and b"meta/assign_cursor" not in chain.snapshot()


def test_jobs_nobody_can_take_do_not_starve_the_others(chain, signer, monkeypatch):
    monkeypatch.setattr(assignment, "MAX_ASSIGNS_PER_BLOCK", 1)
    stuck = [submit_direct(chain, signer, ("bob",)) for _ in range(3)]  # bob never registers
    wanted = submit_direct(chain, signer, ("miner1",))
    register(chain, signer, "miner1")
    for _ in range(len(stuck) + 1):
        ok(chain)
    assert chain.job(wanted).status == "assigned"
    assert sorted(queued(chain)) == sorted(stuck)


def test_a_pending_direct_job_expires_and_leaves_the_queue(chain, signer):
    job_id = submit_direct(chain, signer, ("miner1",))
    ok(chain, seconds=PARAMS.pending_timeout_s)
    assert chain.job(job_id).status == "expired" and queued(chain) == []
    assert chain.balance("alice") == BALANCE


def test_a_cancelled_direct_job_leaves_the_queue(chain, signer):
    job_id = submit_direct(chain, signer, ("miner1",))
    ok(chain, signer.tx("alice", "cancel_job", job_id=job_id))
    assert chain.job(job_id).status == "cancelled" and queued(chain) == [] and chain.balance("alice") == BALANCE


def test_nobody_assigns_a_direct_job(chain, signer):
    register(chain, signer, "miner1")
    job_id = submit_direct(chain, signer, ("miner2",))
    for name in ("coordinator", "alice", "miner1"):
        assert refused(chain, signer, signer.tx(name, "assign_job", job_id=job_id,
                                                miner=KEYS["miner1"].address)) == Code.UNAUTHORIZED


# --- decline ---------------------------------------------------------------------------

def test_decline_frees_the_slot_and_the_next_candidate_gets_the_job(chain, signer):
    register(chain, signer, "miner1", "miner2")
    job_id = submit_direct(chain, signer, ("miner1", "miner2"))
    first = chain.job(job_id).miner
    other = ({KEYS["miner1"].address, KEYS["miner2"].address} - {first}).pop()
    ok(chain, signer.tx(name_of(first), "decline_job", job_id=job_id, reason="prompt does not open"))
    job = chain.job(job_id)
    assert (job.status, job.miner, job.declined) == ("assigned", other, (first,))
    declined = st.get_miner(chain.view(), first)
    assert (declined.active_jobs, declined.strikes, declined.failed, declined.stake) == (0, 0, 0, STAKE)
    # the next decline leaves nobody: pending again, a fresh pending deadline, waiting in the queue
    ok(chain, signer.tx(name_of(other), "decline_job", job_id=job_id))
    job = chain.job(job_id)
    assert (job.status, job.miner, job.price_per_second, job.declined) == ("pending", "", 0, (first, other))
    assert job.deadline_ns == chain.time_ns + PARAMS.pending_timeout_s * 1_000_000_000
    assert queued(chain) == [job_id]
    ok(chain)  # both are free again, both declined: never drawn again
    assert chain.job(job_id).status == "pending"
    ok(chain, seconds=PARAMS.pending_timeout_s)
    assert chain.job(job_id).status == "expired" and chain.balance("alice") == BALANCE and queued(chain) == []


def test_a_decline_after_the_grace_counts_a_strike(chain, signer):
    """Sitting on a job and handing it back just before its expiry is not free: past
    `decline_grace_s` a decline counts a strike, as fail_job does (no stake is taken)."""
    register(chain, signer, "miner1", "miner2", capacity=2)
    on_time, late = signer.next_job_id("alice"), txlib.job_id_for(KEYS["alice"].address, 1, signer.chain_id)
    ok(chain, *(signer.tx("alice", "submit_job", **direct_fields("alice", j, ("miner1",))) for j in (on_time, late)))
    assigned = chain.job(on_time).assigned_time_ns
    assert assigned == chain.time_ns and chain.job(late).assigned_time_ns == chain.time_ns
    chain.block([], seconds=PARAMS.decline_grace_s - 1)
    ok(chain, signer.tx("miner1", "decline_job", job_id=on_time))  # exactly at the grace: free
    assert chain.time_ns == assigned + PARAMS.decline_grace_s * 1_000_000_000
    assert miner(chain, "miner1").strikes == 0
    ok(chain, signer.tx("miner1", "decline_job", job_id=late, reason="busy"))  # a second later
    held = miner(chain, "miner1")
    assert (held.strikes, held.stake, held.active_jobs, held.failed) == (1, STAKE, 0, 0)
    job = chain.job(late)
    assert (job.status, job.declined) == ("pending", (KEYS["miner1"].address,))
    assert chain.balance("alice") == BALANCE - 2 * 1_000_000  # both still in escrow, waiting for a miner


def test_only_the_assigned_miner_declines_an_assigned_direct_job(chain, signer):
    register(chain, signer, "miner1", "miner2")
    job_id = submit_direct(chain, signer, ("miner1",))
    for name in ("miner2", "alice", "coordinator"):
        assert refused(chain, signer, signer.tx(name, "decline_job", job_id=job_id)) == Code.UNAUTHORIZED
    waiting = submit_direct(chain, signer, ("bob",))
    assert refused(chain, signer, signer.tx("miner1", "decline_job", job_id=waiting)) == Code.BAD_JOB_STATUS
    assert refused(chain, signer, signer.tx("miner1", "decline_job", job_id="job_nope")) == Code.JOB_NOT_FOUND


def test_a_coordinator_job_is_not_declined_but_failed(chain, signer):
    register(chain, signer, "miner1")
    job_id = signer.next_job_id("alice")
    ok(chain, signer.tx("alice", "submit_job", **submit_fields()))
    ok(chain, signer.tx("coordinator", "assign_job", job_id=job_id, miner=KEYS["miner1"].address))
    raw = signer.tx("miner1", "decline_job", job_id=job_id)
    [result] = chain.block([raw])
    assert result.code == Code.UNAUTHORIZED and "fail_job" in result.log


# --- receipts ----------------------------------------------------------------------------

def test_the_assigned_miner_records_its_receipt_with_the_sealed_result(chain, signer):
    register(chain, signer, "miner1")
    job_id = submit_direct(chain, signer, ("miner1",))
    raw = direct_receipt(chain, signer, job_id, "miner1")
    ok(chain, raw)
    job = chain.job(job_id)
    assert (job.status, job.payment, job.refund, job.receipt_tx) == ("completed", 250_000, 750_000, txlib.tx_hash(raw))
    assert chain.balance("miner1") == BALANCE - STAKE + 250_000 and chain.balance("alice") == BALANCE - 250_000
    sealed = txlib.decode(raw).msg.sealed_result
    assert sealing.open_text(sealing.job_key(KEYS["alice"], job_id), sealed) == "an answer"
    assert miner(chain, "miner1").completed == 1


def test_a_direct_receipt_needs_its_miner_and_its_sealed_result(chain, signer):
    register(chain, signer, "miner1", "miner2")
    job_id = submit_direct(chain, signer, ("miner1",))
    assert refused(chain, signer, signer.tx("miner1", "record_receipt", **receipt_fields(job_id))) \
        == Code.INVALID_FIELD
    for name, proof_of in (("miner2", "miner2"), ("miner2", "miner1"), ("coordinator", "miner1")):
        raw = signer.tx(name, "record_receipt", **receipt_fields(job_id, miner=proof_of),
                        sealed_result=sealed_result("alice", job_id))
        assert refused(chain, signer, raw) == Code.UNAUTHORIZED
    # the assigned miner cannot bill a proof signed for someone else, nor for another prompt
    assert refused(chain, signer, direct_receipt(chain, signer, job_id, "miner1", signer="miner2")) \
        == Code.BAD_PROOF_SIGNATURE
    assert refused(chain, signer, direct_receipt(chain, signer, job_id, "miner1", prompt="other")) \
        == Code.PROOF_MISMATCH


def test_a_coordinator_receipt_carries_no_sealed_result(chain, signer):
    register(chain, signer, "miner1")
    job_id = signer.next_job_id("alice")
    ok(chain, signer.tx("alice", "submit_job", **submit_fields()))
    ok(chain, signer.tx("coordinator", "assign_job", job_id=job_id, miner=KEYS["miner1"].address))
    raw = signer.tx("coordinator", "record_receipt", **receipt_fields(job_id), sealed_result=b"x" * 60)
    assert refused(chain, signer, raw) == Code.INVALID_FIELD
    raw = signer.tx("coordinator", "record_receipt", **receipt_fields(job_id))
    ok(chain, raw)
    assert chain.job(job_id).receipt_tx == txlib.tx_hash(raw)


def test_only_the_assigned_miner_fails_a_direct_job_and_it_costs_a_strike(chain, signer):
    register(chain, signer, "miner1")
    job_id = submit_direct(chain, signer, ("miner1",))
    for name in ("coordinator", "alice", "miner2"):
        assert refused(chain, signer, signer.tx(name, "fail_job", job_id=job_id)) == Code.UNAUTHORIZED
    ok(chain, signer.tx("miner1", "fail_job", job_id=job_id, reason="ollama down"))
    assert chain.job(job_id).status == "failed" and chain.balance("alice") == BALANCE
    assert miner(chain, "miner1").strikes == 1


def test_an_assigned_direct_job_expires_with_a_slash(chain, signer):
    register(chain, signer, "miner1")
    job_id = submit_direct(chain, signer, ("miner1",))
    ok(chain, seconds=PARAMS.job_timeout_s)
    assert chain.job(job_id).status == "expired" and chain.balance("alice") == BALANCE
    assert miner(chain, "miner1").stake == STAKE - STAKE * PARAMS.expiry_slash_bps // 10_000


# --- spot checks and shared keys -----------------------------------------------------------

def checked_direct_job(chain: Chain, signer: Signer) -> str:
    """A direct job of alice done by miner1, its receipt under check by miner2 (bob has no key)."""
    register(chain, signer, "miner1", "miner2")
    register(chain, signer, "bob", sealing_key=False)
    job_id = submit_direct(chain, signer, ("miner1",))
    ok(chain, direct_receipt(chain, signer, job_id, "miner1"))
    job = chain.job(job_id)
    assert (job.status, job.checker) == ("verifying", KEYS["miner2"].address)  # bob cannot read the prompt
    return job_id


def test_the_client_shares_its_job_key_with_the_checker(signer):
    chain = Chain(ALWAYS_CHECKED)
    job_id = checked_direct_job(chain, signer)
    job_key = sealing.job_key(KEYS["alice"], job_id)
    checker_key = sealing.encryption_public_key(KEYS["miner2"])
    first = sealing.seal_job_key(job_key, checker_key)
    ok(chain, signer.tx("alice", "share_job_key", job_id=job_id, recipient=KEYS["miner2"].address, sealed_key=first))
    second = sealing.seal_job_key(job_key, checker_key)
    ok(chain, signer.tx("alice", "share_job_key", job_id=job_id, recipient=KEYS["miner2"].address, sealed_key=second))
    [entry] = chain.job(job_id).shared_keys  # the later entry replaces the earlier
    address, sealed = entry.split(":")
    assert address == KEYS["miner2"].address and sealing.open_job_key(bytes.fromhex(sealed), KEYS["miner2"]) == job_key
    # the checker re-runs and records its check itself; the job's (absent) coordinator cannot
    check = receipt_fields(job_id, miner="miner2", compute_time_ms=10_000)
    assert refused(chain, signer, signer.tx("coordinator", "record_check", **check)) == Code.UNAUTHORIZED
    ok(chain, signer.tx("miner2", "record_check", **check))
    job = chain.job(job_id)
    assert (job.status, job.check_status) == ("completed", "passed")


def test_a_job_key_goes_to_the_current_checker_only(signer):
    chain = Chain(ALWAYS_CHECKED)
    job_id = checked_direct_job(chain, signer)
    sealed = sealing.seal_job_key(sealing.job_key(KEYS["alice"], job_id), sealing.encryption_public_key(KEYS["bob"]))
    share = lambda name, to: signer.tx(name, "share_job_key", job_id=job_id,  # noqa: E731
                                       recipient=KEYS[to].address, sealed_key=sealed)
    assert refused(chain, signer, share("alice", "bob")) == Code.INVALID_FIELD
    assert refused(chain, signer, share("alice", "miner1")) == Code.INVALID_FIELD
    assert refused(chain, signer, share("bob", "miner2")) == Code.UNAUTHORIZED
    pending = submit_direct(chain, signer, ("coordinator",))
    assert refused(chain, signer, signer.tx("alice", "share_job_key", job_id=pending,
                                            recipient=KEYS["miner2"].address, sealed_key=sealed)) \
        == Code.BAD_JOB_STATUS
    coordinator_job = signer.next_job_id("alice")
    ok(chain, signer.tx("alice", "submit_job", **submit_fields()))
    assert refused(chain, signer, signer.tx("alice", "share_job_key", job_id=coordinator_job,
                                            recipient=KEYS["miner2"].address, sealed_key=sealed)) \
        == Code.UNAUTHORIZED
    assert chain.job(job_id).shared_keys == ()


def test_a_direct_check_with_no_checker_holding_a_key_waits(signer):
    chain = Chain(ALWAYS_CHECKED)
    register(chain, signer, "miner1")
    register(chain, signer, "miner2", sealing_key=False)
    job_id = submit_direct(chain, signer, ("miner1",))
    ok(chain, direct_receipt(chain, signer, job_id, "miner1"))
    job = chain.job(job_id)
    assert (job.status, job.checker) == ("verifying", "")
    assert refused(chain, signer, signer.tx("alice", "share_job_key", job_id=job_id, recipient=KEYS["miner2"].address,
                                            sealed_key=bytes(sealing.SEALED_KEY_SIZE))) == Code.BAD_JOB_STATUS
    for _ in range(ALWAYS_CHECKED.check_window_blocks):
        ok(chain)
    job = chain.job(job_id)
    assert (job.status, job.check_status, job.payment) == ("completed", "lapsed", 250_000)


# --- disputes: a sealed result that does not open to its result hash ------------------------

GARBAGE = b"\x00" * 64  # what a cheating miner seals instead of its result (its proof's hash is right)


def done_direct_job(chain: Chain, signer: Signer, sealed: bytes, prompt: str = "What is machine learning?",
                    **submit_overrides) -> tuple[str, bytes]:
    """A direct job of alice, run by miner1, whose receipt carries `sealed` as its sealed result.
    Returns (job id, the submit's sealed prompt)."""
    job_id = signer.next_job_id("alice")
    fields = direct_fields("alice", job_id, ("miner1",), prompt=prompt, **submit_overrides)
    ok(chain, signer.tx("alice", "submit_job", **fields))
    ok(chain, signer.tx("miner1", "record_receipt", **receipt_fields(job_id, prompt=prompt), sealed_result=sealed))
    return job_id, fields["direct"].sealed_prompt


def dispute(signer: Signer, job_id: str, sealed_prompt: bytes, sealed: bytes, name: str = "alice",
            key_of: str | None = None) -> bytes:
    return signer.tx(name, "dispute_result", job_id=job_id, sealed_prompt=sealed_prompt, sealed_result=sealed,
                     job_key=sealing.job_key(KEYS["alice"], key_of or job_id))


@pytest.mark.parametrize("sealed", [GARBAGE, sealed_result("bob", "job_x"), sealed_result("alice", "job_x")],
                         ids=["garbage", "another client's key", "another job's key"])
def test_a_paid_result_proven_unreadable_is_slashed_and_the_payment_comes_back(chain, signer, sealed):
    register(chain, signer, "miner1")
    job_id, sealed_prompt = done_direct_job(chain, signer, sealed)
    assert chain.job(job_id).status == "completed" and chain.balance("alice") == BALANCE - 250_000
    burned = st.get_supply(chain.view()).burned
    ok(chain, dispute(signer, job_id, sealed_prompt, sealed))
    job = chain.job(job_id)
    slash = STAKE * PARAMS.slash_bps // 10_000
    assert (job.status, job.disputed_height, job.compensation, job.payment) == ("completed", chain.height,
                                                                                250_000, 250_000)
    assert "proven by its client" in job.reason
    assert chain.balance("alice") == BALANCE  # made whole, no more
    cheat = miner(chain, "miner1")
    assert (cheat.stake, cheat.slashed, cheat.strikes) == (STAKE - slash, 1, 1)
    assert chain.balance("miner1") == BALANCE - STAKE + 250_000
    assert st.get_supply(chain.view()).burned == burned + slash - 250_000
    assert st.get_receipt(chain.view(), job.receipt_id).slashed == slash
    # once only
    assert refused(chain, signer, dispute(signer, job_id, sealed_prompt, sealed)) == Code.BAD_JOB_STATUS


def test_a_held_result_proven_unreadable_fails_its_check(signer):
    chain = Chain(ALWAYS_CHECKED)
    register(chain, signer, "miner1", "miner2")
    job_id, sealed_prompt = done_direct_job(chain, signer, GARBAGE)
    job = chain.job(job_id)
    assert (job.status, job.checker) == ("verifying", KEYS["miner2"].address)
    ok(chain, dispute(signer, job_id, sealed_prompt, GARBAGE))
    job = chain.job(job_id)
    assert (job.status, job.check_status, job.payment, job.refund, job.compensation) == \
        ("failed", "failed", 0, 1_000_000, 0)
    assert chain.balance("alice") == BALANCE
    assert miner(chain, "miner1").stake == STAKE - STAKE * ALWAYS_CHECKED.slash_bps // 10_000
    assert miner(chain, "miner2").active_jobs == 0  # the seated checker is let go
    assert st.last_segments(chain.view(), st.ALL_CHECK_WINDOWS) == []


def test_an_honest_result_cannot_be_disputed(chain, signer):
    register(chain, signer, "miner1")
    job_id = signer.next_job_id("alice")
    honest = sealed_result("alice", job_id)
    _, sealed_prompt = done_direct_job(chain, signer, honest)
    assert refused(chain, signer, dispute(signer, job_id, sealed_prompt, honest)) == Code.RESULT_MATCHES
    assert chain.job(job_id).disputed_height == 0 and miner(chain, "miner1").stake == STAKE


def test_dispute_refusals(signer):
    chain = Chain()
    register(chain, signer, "miner1")
    job_id, sealed_prompt = done_direct_job(chain, signer, GARBAGE)
    other_id, other_prompt = done_direct_job(chain, signer, GARBAGE, prompt="another prompt")
    waiting = submit_direct(chain, signer, ("miner2",))
    coordinator_job = signer.next_job_id("alice")
    ok(chain, signer.tx("alice", "submit_job", **submit_fields()))
    cases = [  # (dispute_result arguments, code), each built when it is sent
        ((job_id, sealed_prompt, GARBAGE, "alice", other_id), Code.INVALID_FIELD),  # not its key
        ((job_id, other_prompt, GARBAGE), Code.INVALID_FIELD),  # not its sealed prompt
        ((job_id, sealed_prompt, GARBAGE + b"\x00"), Code.INVALID_FIELD),  # not its sealed result
        ((job_id, sealed_prompt, GARBAGE, "bob"), Code.UNAUTHORIZED),  # not its client
        (("job_nope", sealed_prompt, GARBAGE), Code.JOB_NOT_FOUND),
        ((waiting, sealed_prompt, GARBAGE), Code.BAD_JOB_STATUS),  # no result yet
        ((coordinator_job, sealed_prompt, GARBAGE), Code.UNAUTHORIZED),  # nothing sealed on chain
    ]
    for args, code in cases:
        assert refused(chain, signer, dispute(signer, *args)) == code, args
    # a key that opens the sealed prompt to something else than the job's prompt hash is not its key
    lied = signer.next_job_id("alice")
    fields = direct_fields("alice", lied, ("miner1",), prompt="the prompt sealed")
    ok(chain, signer.tx("alice", "submit_job", **{**fields, "prompt_hash": bytes.fromhex(chain.job(job_id).prompt_hash),
                                                  "prompt_bytes": fields["prompt_bytes"]}))
    ok(chain, signer.tx("miner1", "record_receipt", **receipt_fields(lied), sealed_result=GARBAGE))
    assert refused(chain, signer, dispute(signer, lied, fields["direct"].sealed_prompt, GARBAGE)) == Code.INVALID_FIELD
    # the window: unbonding_period_s after the receipt's block, while the miner's stake cannot have left,
    # even if it unbonded at once
    ok(chain, signer.tx("miner1", "unbond"))
    receipt_ns = st.get_receipt(chain.view(), chain.job(other_id).receipt_id).block_time_ns
    closes = receipt_ns + PARAMS.unbonding_period_s * 10**9
    chain.block([], seconds=(closes - chain.time_ns) / 10**9 - 2)
    ok(chain, dispute(signer, other_id, other_prompt, GARBAGE))  # a second before: the unbonding stake answers
    assert miner(chain, "miner1").unbonding == STAKE - STAKE * PARAMS.slash_bps // 10_000
    assert chain.job(other_id).compensation == chain.job(other_id).payment
    # job_id's receipt came two blocks earlier: its window has closed
    assert refused(chain, signer, dispute(signer, job_id, sealed_prompt, GARBAGE)) == Code.BAD_JOB_STATUS
    assert chain.job(job_id).disputed_height == 0


# --- the client's default price cap ----------------------------------------------------------

def test_the_cli_caps_a_direct_job_at_its_dearest_candidate():
    """No candidate can raise its price between the client's look and the assignment."""
    from aitbc.cli.direct_jobs import Candidate, price_cap

    picked = [Candidate("a", b"", 20_000), Candidate("b", b"", 35_000), Candidate("c", b"", 25_000)]
    assert price_cap(0, picked) == 35_000
    assert price_cap(30_000, picked) == 30_000  # the client's own cap stands
    assert price_cap(0, []) == 0  # a coordinator's job: no candidates, no cap


# --- strikes are worked off only by completions the miner could not arrange ----------------------

def test_self_dealt_direct_jobs_do_not_work_off_strikes(chain, signer):
    """A miner's sybil client (bob) names it in direct jobs: before, each completion worked off a
    strike for the price of two fees, so faults never added up to jail. Now only a job the genesis
    coordinator assigned, or a passed spot check, works one off."""
    register(chain, signer, "miner1", capacity=4)
    faulty = submit_direct(chain, signer, ("miner1",))
    ok(chain, signer.tx("miner1", "fail_job", job_id=faulty, reason="gave up"))
    assert miner(chain, "miner1").strikes == 1
    for _ in range(3):
        job_id = submit_direct(chain, signer, ("miner1",), client="bob")
        ok(chain, signer.tx("miner1", "record_receipt", **receipt_fields(job_id), sealed_result=b"x" * 60))
        assert chain.job(job_id).status == "completed"
    assert (miner(chain, "miner1").strikes, miner(chain, "miner1").completed) == (1, 3)
    vouched = signer.next_job_id("alice")
    ok(chain, signer.tx("alice", "submit_job", **submit_fields()))
    ok(chain, signer.tx("coordinator", "assign_job", job_id=vouched, miner=KEYS["miner1"].address))
    ok(chain, signer.tx("coordinator", "record_receipt", **receipt_fields(vouched)))
    assert miner(chain, "miner1").strikes == 0


def test_a_direct_job_that_passes_its_spot_check_works_off_a_strike(signer):
    chain = Chain(ALWAYS_CHECKED)
    register(chain, signer, "miner1", "miner2")
    faulty = submit_direct(chain, signer, ("miner1",))
    ok(chain, signer.tx("miner1", "fail_job", job_id=faulty))
    job_id = submit_direct(chain, signer, ("miner1",))
    ok(chain, direct_receipt(chain, signer, job_id, "miner1"))
    assert chain.job(job_id).checker == KEYS["miner2"].address and miner(chain, "miner1").strikes == 1
    ok(chain, signer.tx("miner2", "record_check", **receipt_fields(job_id, miner="miner2", compute_time_ms=10_000)))
    assert chain.job(job_id).check_status == "passed" and miner(chain, "miner1").strikes == 0
