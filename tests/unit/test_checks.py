"""Spot checks in the pure transition: selection, re-runs, majority, slashing, lapse."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest

from abci_app import checks, invariants, state as st
from aitbc.codes import Code
from tests.factories import BALANCE, KEYS, PARAMS, Chain, Signer, receipt_fields, register_fields, submit_fields

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


def rerun(chain: Chain, signer: Signer, job_id: str, checker: str, result: str = "an answer", ms: int = 10_000):
    assert chain.block([signer.tx("coordinator", "assign_check", job_id=job_id, checker=KEYS[checker].address)]) == [0]
    outcome = chain.block([signer.tx("coordinator", "record_check",
                                     **receipt_fields(job_id, miner=checker, result=result, compute_time_ms=ms))])
    assert outcome == [0], outcome
    assert invariants.broken(chain.view()) == []


def test_matching_rerun_passes_and_pays_both(chain, signer):
    job_id = completed_under_check(chain, signer)
    rerun(chain, signer, job_id, "miner2")
    job = chain.job(job_id)
    assert (job.status, job.check_status, job.payment, job.check_paid) == ("completed", "passed", 250_000, 200_000)
    assert chain.balance("alice") == BALANCE - 450_000
    assert chain.balance("miner1") == BALANCE - STAKE + 250_000
    assert chain.balance("miner2") == BALANCE - STAKE + 200_000
    assert miner(chain, "miner1").completed == 1 and miner(chain, "miner2").checks_done == 1
    receipt = st.get_receipt(chain.view(), job.receipt_id)
    assert (receipt.check_status, receipt.amount_paid, receipt.model_digest) == ("passed", 250_000, "sha256:tiny")


def test_tampering_miner_is_slashed_after_escalation(chain, signer):
    job_id = completed_under_check(chain, signer, result="a made-up answer")
    rerun(chain, signer, job_id, "miner2")
    assert chain.job(job_id).status == "verifying"  # one mismatch escalates
    rerun(chain, signer, job_id, "bob")
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
    rerun(chain, signer, job_id, "miner2", result="wrong")
    rerun(chain, signer, job_id, "bob")
    job = chain.job(job_id)
    assert (job.status, job.check_status, job.payment) == ("completed", "passed", 250_000)
    assert miner(chain, "miner1").slashed == 0 and miner(chain, "miner2").slashed == 1
    assert chain.balance("miner2") == BALANCE - STAKE  # not paid for a wrong re-run


def test_three_different_results_slash_nobody(chain, signer):
    job_id = completed_under_check(chain, signer)
    rerun(chain, signer, job_id, "miner2", result="two")
    rerun(chain, signer, job_id, "bob", result="three")
    job = chain.job(job_id)
    assert job.check_status == "inconclusive" and job.payment == 250_000
    assert all(miner(chain, m).slashed == 0 for m in ("miner1", "miner2", "bob"))


def test_check_not_decided_in_the_window_lapses_and_pays(chain, signer):
    job_id = completed_under_check(chain, signer)
    chain.block([signer.tx("coordinator", "assign_check", job_id=job_id, checker=KEYS["miner2"].address)])
    for _ in range(ALWAYS.check_window_blocks):
        chain.block([])
    job = chain.job(job_id)
    assert (job.status, job.check_status, job.payment) == ("completed", "lapsed", 250_000)
    assert miner(chain, "miner2").active_jobs == 0
    assert invariants.broken(chain.view()) == []


def test_check_rules(signer):
    chain = Chain(replace(ALWAYS, check_window_blocks=50))  # room for the rejected attempts below
    job_id = completed_under_check(chain, signer)
    def code(raw):
        [result] = chain.block([raw])
        signer.forget(raw)
        return getattr(result, "code", result)
    assert code(signer.tx("coordinator", "assign_check", job_id=job_id, checker=KEYS["miner1"].address)) \
        == Code.INVALID_FIELD  # not the miner that ran it
    assert code(signer.tx("alice", "assign_check", job_id=job_id, checker=KEYS["miner2"].address)) \
        == Code.UNAUTHORIZED
    assert code(signer.tx("coordinator", "record_check", **receipt_fields(job_id, miner="miner2"))) \
        == Code.BAD_JOB_STATUS  # no checker assigned yet
    assert chain.block([signer.tx("coordinator", "assign_check", job_id=job_id, checker=KEYS["miner2"].address)]) \
        == [0]
    assert code(signer.tx("coordinator", "record_check", **receipt_fields(job_id, miner="bob"))) \
        == Code.NOT_ASSIGNED_MINER
    assert code(signer.tx("coordinator", "record_check", **receipt_fields(job_id, miner="miner2", digest="other"))) \
        == Code.PROOF_MISMATCH
    assert code(signer.tx("coordinator", "record_check", **receipt_fields(job_id, miner="miner2", prompt="other"))) \
        == Code.PROOF_MISMATCH


def test_selection_follows_the_share_and_cannot_be_steered():
    hashes = [hashlib.sha256(str(i).encode()).digest() for i in range(4000)]
    share = sum(checks.selected(h, "job_1", 1_000) for h in hashes) / len(hashes)
    assert 0.08 < share < 0.12
    assert not any(checks.selected(h, "job_1", 0) for h in hashes[:100])
    assert not checks.selected(b"", "job_1", 10_000)  # CheckTx has no block hash: never selects


def test_non_deterministic_jobs_are_not_checked(chain, signer):
    chain.block([signer.tx("miner1", "register_miner", **register_fields())])
    job_id = signer.next_job_id("alice")
    chain.block([signer.tx("alice", "submit_job", **submit_fields(options={"temperature_milli": 700, "seed": 0,
                                                                           "num_predict": 16}))])
    chain.block([signer.tx("coordinator", "assign_job", job_id=job_id, miner=KEYS["miner1"].address)])
    fields = receipt_fields(job_id)
    from aitbc_pb import tx_pb2
    from aitbc import tx as txlib
    proof = tx_pb2.ComputeProof.FromString(fields["proof"])
    proof.options.temperature_milli, proof.options.seed = 700, 0
    data, signature = txlib.sign_proof(KEYS["miner1"], proof)
    assert chain.block([signer.tx("coordinator", "record_receipt", proof=data, miner_signature=signature)]) == [0]
    assert chain.job(job_id).status == "completed" and chain.job(job_id).check_status == ""
