"""Spot checks in the pure transition: selection, re-runs, majority, slashing, lapse."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest

from aitbc.abci_app import checks, invariants, state as st
from aitbc.codes import Code
from aitbc.ops.factories import BALANCE, KEYS, PARAMS, Chain, Signer, receipt_fields, register_fields, submit_fields

ALWAYS = replace(PARAMS, check_share_bps=10_000, check_window_blocks=5)
STAKE = 100_000_000


@pytest.fixture
def chain() -> Chain:
    return Chain(ALWAYS)


@pytest.fixture
def signer() -> Signer:
    return Signer()


def miner(chain, name):
    return st.get_miner(chain.view(), KEYS[name].address)


def completed_under_check(chain: Chain, signer: Signer, result: str = "an answer") -> str:
    chain.block([signer.tx(m, "register_miner", **register_fields()) for m in ("miner1", "miner2", "bob")])
    job_id = signer.next_job_id("alice")
    chain.block([signer.tx("alice", "submit_job", **submit_fields())])
    chain.block([signer.tx("coordinator", "assign_job", job_id=job_id, miner=KEYS["miner1"].address)])
    assert chain.block([signer.tx("coordinator", "record_receipt", **receipt_fields(job_id, result=result))]) == [0]
    job = chain.job(job_id)
    assert (job.status, job.check_status, job.held_payment) == ("verifying", "pending", 250_000)
    assert chain.balance("alice") == BALANCE - 1_000_000  # nothing paid or refunded yet
    return job_id


def rerun(chain: Chain, signer: Signer, job_id: str, result: str = "an answer", ms: int = 10_000,
          tokens: tuple[int, int] = (15, 16)) -> str:
    """The chain-drawn checker re-runs the job and reports; returns the checker's name."""
    address = chain.job(job_id).checker
    assert address, "the chain drew no checker"
    checker = next(name for name, k in KEYS.items() if k.address == address)
    outcome = chain.block([signer.tx("coordinator", "record_check", **receipt_fields(
        job_id, miner=checker, result=result, compute_time_ms=ms, tokens=tokens))])
    assert outcome == [0], outcome
    assert invariants.broken(chain.view()) == []
    return checker


def test_matching_rerun_passes_and_pays_both(chain, signer):
    job_id = completed_under_check(chain, signer)
    checker = rerun(chain, signer, job_id)
    job = chain.job(job_id)
    assert (job.status, job.check_status, job.payment, job.check_paid) == ("completed", "passed", 250_000, 200_000)
    assert chain.balance("alice") == BALANCE - 450_000
    assert chain.balance("miner1") == BALANCE - STAKE + 250_000
    assert chain.balance(checker) == BALANCE - STAKE + 200_000
    assert miner(chain, "miner1").completed == 1 and miner(chain, checker).checks_done == 1
    receipt = st.get_receipt(chain.view(), job.receipt_id)
    assert (receipt.check_status, receipt.amount_paid, receipt.model_digest) == ("passed", 250_000, "sha256:tiny")


def test_tampering_miner_is_slashed_after_escalation(chain, signer):
    job_id = completed_under_check(chain, signer, result="a made-up answer")
    first = rerun(chain, signer, job_id)
    job = chain.job(job_id)
    assert job.status == "verifying" and job.checker not in ("", first)  # one mismatch escalates to another
    rerun(chain, signer, job_id)
    job = chain.job(job_id)
    assert (job.status, job.check_status, job.payment) == ("failed", "failed", 0)
    slashed = STAKE * ALWAYS.slash_bps // 10_000
    to_client = slashed * ALWAYS.slash_to_client_bps // 10_000
    assert miner(chain, "miner1").stake == STAKE - slashed and miner(chain, "miner1").slashed == 1
    assert chain.balance("alice") == BALANCE - 400_000 + to_client  # paid only the two honest re-runs
    assert st.get_supply(chain.view()).burned == slashed - to_client
    assert st.get_receipt(chain.view(), job.receipt_id).slashed == slashed


def test_lying_checker_is_outvoted_and_slashed(chain, signer):
    job_id = completed_under_check(chain, signer)
    liar = rerun(chain, signer, job_id, result="wrong")
    rerun(chain, signer, job_id)
    job = chain.job(job_id)
    assert (job.status, job.check_status, job.payment) == ("completed", "passed", 250_000)
    assert miner(chain, "miner1").slashed == 0 and miner(chain, liar).slashed == 1
    assert chain.balance(liar) == BALANCE - STAKE  # not paid for a wrong re-run


def test_three_different_results_slash_nobody_and_pay_no_contradicted_result(chain, signer):
    job_id = completed_under_check(chain, signer)
    rerun(chain, signer, job_id, result="two")
    rerun(chain, signer, job_id, result="three")
    job = chain.job(job_id)
    assert (job.status, job.check_status, job.payment, job.check_burned) == ("failed", "inconclusive", 0, 250_000)
    assert all(miner(chain, m).slashed == 0 for m in ("miner1", "miner2", "bob"))
    # The re-runs are paid; the contradicted result is not, and its held payment goes to nobody:
    # a client whose sybils contradicted it would otherwise get the inference free.
    assert chain.balance("alice") == BALANCE - 400_000 - 250_000


def test_inflated_time_is_proven_wrong_by_two_reruns(chain, signer):
    chain.block([signer.tx(m, "register_miner", **register_fields()) for m in ("miner1", "miner2", "bob")])
    job_id = signer.next_job_id("alice")
    chain.block([signer.tx("alice", "submit_job", **submit_fields())])
    chain.block([signer.tx("coordinator", "assign_job", job_id=job_id, miner=KEYS["miner1"].address)])
    # Same result and tokens as the re-runs, but 30 s claimed for what re-runs do in 0.3 s.
    chain.block([signer.tx("coordinator", "record_receipt", **receipt_fields(job_id, compute_time_ms=30_000))])
    rerun(chain, signer, job_id, ms=300)
    assert chain.job(job_id).status == "verifying"
    rerun(chain, signer, job_id, ms=300)
    job = chain.job(job_id)
    assert (job.status, job.check_status, job.payment) == ("failed", "failed", 0)
    assert job.reason == "claimed compute time out of bounds of every re-run"
    assert miner(chain, "miner1").slashed == 1
    assert all(miner(chain, m).slashed == 0 for m in ("miner2", "bob"))  # honest checkers are paid, not slashed


def test_lapse_without_a_checker_pays_but_after_a_contradiction_refunds(chain, signer):
    # Only one possible checker: the first re-run contradicts, no second checker exists.
    chain.block([signer.tx(m, "register_miner", **register_fields()) for m in ("miner1", "miner2")])
    job_id = signer.next_job_id("alice")
    chain.block([signer.tx("alice", "submit_job", **submit_fields())])
    chain.block([signer.tx("coordinator", "assign_job", job_id=job_id, miner=KEYS["miner1"].address)])
    chain.block([signer.tx("coordinator", "record_receipt", **receipt_fields(job_id))])
    rerun(chain, signer, job_id, result="different")
    for _ in range(ALWAYS.check_window_blocks):
        chain.block([])
    job = chain.job(job_id)
    assert (job.status, job.check_status, job.payment, job.check_burned) == ("failed", "unresolved", 0, 250_000)
    assert miner(chain, "miner1").slashed == 0 and miner(chain, "miner2").slashed == 0
    assert chain.balance("alice") == BALANCE - 200_000 - 250_000  # the re-run's cost; the held payment burned
    assert invariants.broken(chain.view()) == []


def test_check_not_decided_in_the_window_lapses_and_pays(chain, signer):
    job_id = completed_under_check(chain, signer)
    checker = chain.job(job_id).checker
    for _ in range(ALWAYS.check_window_blocks):
        chain.block([])
    job = chain.job(job_id)
    assert (job.status, job.check_status, job.payment) == ("completed", "lapsed", 250_000)
    assert st.get_miner(chain.view(), checker).active_jobs == 0
    assert invariants.broken(chain.view()) == []


def test_check_rules(signer):
    chain = Chain(replace(ALWAYS, check_window_blocks=50))  # room for the rejected attempts below
    job_id = completed_under_check(chain, signer)
    checker = next(n for n, k in KEYS.items() if k.address == chain.job(job_id).checker)
    other = "bob" if checker == "miner2" else "miner2"
    def code(raw):
        [result] = chain.block([raw])
        signer.forget(raw, result)
        return getattr(result, "code", result)
    # Nobody chooses checkers any more, not even the coordinator.
    assert code(signer.tx("coordinator", "assign_check", job_id=job_id, checker=KEYS[other].address)) \
        == Code.UNAUTHORIZED
    assert code(signer.tx("alice", "record_check", **receipt_fields(job_id, miner=checker))) == Code.UNAUTHORIZED
    assert code(signer.tx("coordinator", "record_check", **receipt_fields(job_id, miner=other))) \
        == Code.NOT_ASSIGNED_MINER
    assert code(signer.tx("coordinator", "record_check", **receipt_fields(job_id, miner=checker, prompt="other"))) \
        == Code.PROOF_MISMATCH
    # The checker may report its own re-run.
    assert code(signer.tx(checker, "record_check", **receipt_fields(job_id, miner=checker))) == 0


def test_reruns_on_other_weights_neither_pass_nor_slash(chain, signer):
    # A miner attesting a digest nobody else serves: re-runs on the real weights are recorded, never
    # confirm it, and cannot prove it wrong either. Undecided: no pay, no slash.
    job_id = completed_under_check(chain, signer)
    checker = next(n for n, k in KEYS.items() if k.address == chain.job(job_id).checker)
    assert chain.block([signer.tx("coordinator", "record_check",
                                  **receipt_fields(job_id, miner=checker, digest="sha256:real"))]) == [0]
    assert chain.job(job_id).status == "verifying"  # not confirmed: a second checker is drawn
    second = next(n for n, k in KEYS.items() if k.address == chain.job(job_id).checker)
    assert chain.block([signer.tx("coordinator", "record_check",
                                  **receipt_fields(job_id, miner=second, digest="sha256:real"))]) == [0]
    job = chain.job(job_id)
    assert (job.status, job.check_status, job.payment) == ("failed", "inconclusive", 0)
    assert all(miner(chain, m).slashed == 0 for m in ("miner1", "miner2", "bob"))
    assert invariants.broken(chain.view()) == []


def test_checkers_are_never_the_jobs_miner_or_client(signer):
    chain = Chain(ALWAYS)
    # alice (the client) stakes a miner too; only miner2 may be drawn.
    chain.block([signer.tx(m, "register_miner", **register_fields()) for m in ("miner1", "miner2", "alice")])
    for _ in range(20):
        job_id = signer.next_job_id("alice")
        chain.block([signer.tx("alice", "submit_job", **submit_fields())])
        chain.block([signer.tx("coordinator", "assign_job", job_id=job_id, miner=KEYS["miner1"].address)])
        chain.block([signer.tx("coordinator", "record_receipt", **receipt_fields(job_id))])
        assert chain.job(job_id).checker == KEYS["miner2"].address
        rerun(chain, signer, job_id)


def test_checker_price_is_fixed_when_it_is_drawn(chain, signer):
    job_id = completed_under_check(chain, signer)
    checker = next(n for n, k in KEYS.items() if k.address == chain.job(job_id).checker)
    raised = dict(register_fields(), price_per_second=10_000_000)
    del raised["stake"]
    assert chain.block([signer.tx(checker, "update_miner", add_stake=0, **raised)]) == [0]
    rerun(chain, signer, job_id)
    assert chain.job(job_id).check_paid == 200_000  # 10 s at the price it had when drawn


def test_selection_follows_the_share_and_cannot_be_steered():
    hashes = [hashlib.sha256(str(i).encode()).digest() for i in range(4000)]
    share = sum(checks.selected(h, "job_1", 1_000) for h in hashes) / len(hashes)
    assert 0.08 < share < 0.12
    assert not any(checks.selected(h, "job_1", 0) for h in hashes[:100])
    assert not checks.selected(b"", "job_1", 10_000)  # CheckTx has no block hash: never selects


def test_jobs_without_a_seed_get_one_and_are_checked(chain, signer):
    chain.block([signer.tx(m, "register_miner", **register_fields()) for m in ("miner1", "miner2")])
    job_id = signer.next_job_id("alice")
    chain.block([signer.tx("alice", "submit_job", **submit_fields(options={"temperature_milli": 700, "seed": 0,
                                                                           "num_predict": 16}))])
    job = chain.job(job_id)
    from aitbc import tx as txlib
    assert job.seed == txlib.job_seed(job_id, 0) != 0
    chain.block([signer.tx("coordinator", "assign_job", job_id=job_id, miner=KEYS["miner1"].address)])
    options = {"temperature_milli": 700, "seed": job.seed, "num_predict": 16}
    stale = dict(options, seed=0)  # a proof that ran without the job's seed is refused
    raw = signer.tx("coordinator", "record_receipt", **receipt_fields(job_id, options=stale))
    [refused] = chain.block([raw])
    signer.forget(raw, refused)
    assert refused.code == Code.PROOF_MISMATCH
    assert chain.block([signer.tx("coordinator", "record_receipt", **receipt_fields(job_id, options=options))]) == [0]
    assert chain.job(job_id).status == "verifying"
