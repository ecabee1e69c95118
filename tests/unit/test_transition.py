"""The pure state transition, block by block, without ABCI or storage."""

from __future__ import annotations

import hashlib
import os

import pytest

from aitbc.abci_app import invariants, records
from aitbc.abci_app.records import Account
from aitbc import tx as txlib
from aitbc.codes import Code
from aitbc.errors import TxError
from aitbc.ops.factories import (
    BALANCE, CHAIN_ID, KEYS, PARAMS, Chain, Signer, receipt_fields, register_fields, submit_fields,
)


@pytest.fixture
def chain() -> Chain:
    return Chain()


@pytest.fixture
def signer() -> Signer:
    return Signer()


def code_of(result) -> int:
    return result.code if isinstance(result, TxError) else result


def assert_invariants(chain: Chain) -> None:
    assert invariants.broken(chain.view()) == []


def test_transfer_moves_funds(chain, signer):
    assert chain.block([signer.tx("alice", "transfer", to=KEYS["bob"].address, amount=250_000)]) == [0]
    assert chain.balance("alice") == BALANCE - 250_000
    assert chain.balance("bob") == BALANCE + 250_000
    assert chain.account("alice").nonce == 1
    assert_invariants(chain)


def test_transfer_to_new_account_creates_it(chain, signer):
    new = "aitbc" + "ab" * 20
    chain.block([signer.tx("alice", "transfer", to=new, amount=5)])
    from aitbc.abci_app import state as st
    assert st.get_account(chain.view(), new).balance == 5


def full_job(chain: Chain, signer: Signer, compute_ms: int = 12_500, max_reward: int = 1_000_000) -> str:
    chain.block([signer.tx("miner1", "register_miner", **register_fields())])
    job_id = signer.next_job_id("alice")
    assert chain.block([signer.tx("alice", "submit_job", **submit_fields(max_reward=max_reward))]) == [0]
    assert chain.block([signer.tx("coordinator", "assign_job", job_id=job_id, miner=KEYS["miner1"].address)]) == [0]
    assert chain.block([signer.tx("coordinator", "record_receipt", **receipt_fields(job_id, compute_time_ms=compute_ms))]) == [0]
    return job_id


def test_job_lifecycle_pays_compute_time_and_refunds_the_rest(chain, signer):
    job_id = full_job(chain, signer)
    job = chain.job(job_id)
    assert job.status == "completed"
    assert job.payment == 250_000  # 12.5 s x 0.02 AITBC/s = 0.25 AITBC
    assert job.refund == 750_000
    assert chain.balance("alice") == BALANCE - 250_000
    assert chain.balance("miner1") == BALANCE - PARAMS.min_miner_stake + 250_000
    from aitbc.abci_app import state as st
    receipt = st.get_receipt(chain.view(), job.receipt_id)
    assert receipt.amount_paid == 250_000 and receipt.block_height == chain.height
    assert receipt.result_hash == hashlib.sha256(b"an answer").hexdigest()
    miner = st.get_miner(chain.view(), KEYS["miner1"].address)
    assert (miner.active_jobs, miner.completed, miner.failed) == (0, 1, 0)
    assert_invariants(chain)


def test_payment_is_capped_at_the_escrow(chain, signer):
    job_id = full_job(chain, signer, compute_ms=3_600_000, max_reward=100_000)
    assert chain.job(job_id).payment == 100_000 and chain.job(job_id).refund == 0
    assert_invariants(chain)


def test_pending_job_expires_by_block_time_with_full_refund(chain, signer):
    job_id = signer.next_job_id("alice")
    chain.block([signer.tx("alice", "submit_job", **submit_fields())])
    assert chain.balance("alice") == BALANCE - 1_000_000
    chain.block([], seconds=PARAMS.pending_timeout_s - 2)
    assert chain.job(job_id).status == "pending"
    chain.block([], seconds=2)
    assert chain.job(job_id).status == "expired"
    assert chain.balance("alice") == BALANCE
    assert_invariants(chain)


def test_assigned_job_expires_and_counts_against_the_miner(chain, signer):
    chain.block([signer.tx("miner1", "register_miner", **register_fields())])
    job_id = signer.next_job_id("alice")
    chain.block([signer.tx("alice", "submit_job", **submit_fields())])
    chain.block([signer.tx("coordinator", "assign_job", job_id=job_id, miner=KEYS["miner1"].address)])
    chain.block([], seconds=PARAMS.job_timeout_s)
    assert chain.job(job_id).status == "expired"
    from aitbc.abci_app import state as st
    miner = st.get_miner(chain.view(), KEYS["miner1"].address)
    assert (miner.failed, miner.expired, miner.strikes) == (1, 1, 1)
    slashed = 100_000_000 * PARAMS.expiry_slash_bps // 10_000  # letting a job expire costs stake
    assert miner.stake == 100_000_000 - slashed
    assert chain.balance("alice") == BALANCE + slashed * PARAMS.slash_to_client_bps // 10_000
    assert_invariants(chain)


def test_cancel_and_fail_refund_in_full(chain, signer):
    first, second = signer.next_job_id("alice"), None
    chain.block([signer.tx("alice", "submit_job", **submit_fields())])
    second = signer.next_job_id("alice")
    chain.block([signer.tx("alice", "submit_job", **submit_fields())])
    assert chain.block([signer.tx("alice", "cancel_job", job_id=first),
                        signer.tx("coordinator", "fail_job", job_id=second, reason="no miner")]) == [0, 0]
    assert chain.job(first).status == "cancelled" and chain.job(second).status == "failed"
    assert chain.balance("alice") == BALANCE
    assert_invariants(chain)


def test_assigned_miner_may_fail_its_job(chain, signer):
    chain.block([signer.tx("miner1", "register_miner", **register_fields())])
    job_id = signer.next_job_id("alice")
    chain.block([signer.tx("alice", "submit_job", **submit_fields())])
    chain.block([signer.tx("coordinator", "assign_job", job_id=job_id, miner=KEYS["miner1"].address)])
    assert chain.block([signer.tx("miner1", "fail_job", job_id=job_id, reason="ollama down")]) == [0]
    assert chain.job(job_id).status == "failed" and chain.balance("alice") == BALANCE


def test_unbond_returns_stake_after_the_period_and_keeps_reputation(chain, signer):
    full_job(chain, signer)
    assert chain.block([signer.tx("miner1", "unbond")]) == [0]
    from aitbc.abci_app import state as st
    miner = st.get_miner(chain.view(), KEYS["miner1"].address)
    assert (miner.stake, miner.unbonding, miner.completed) == (0, 100_000_000, 1)
    assert chain.balance("miner1") == BALANCE - 100_000_000 + 250_000  # still locked, still slashable
    chain.block([], seconds=PARAMS.unbonding_period_s - 1)
    assert chain.balance("miner1") == BALANCE - 100_000_000 + 250_000
    chain.block([], seconds=1)  # the period is over, but a check window (in blocks) may still be open
    assert chain.balance("miner1") == BALANCE - 100_000_000 + 250_000
    for _ in range(PARAMS.check_window_blocks - 2):
        chain.block([])
    assert chain.balance("miner1") == BALANCE - 100_000_000 + 250_000
    chain.block([])
    assert chain.balance("miner1") == BALANCE + 250_000
    assert st.get_miner(chain.view(), KEYS["miner1"].address).unbonding == 0
    assert_invariants(chain)


# --- bad input: each rejected with its own code, state unchanged -----------------

def rejected(chain: Chain, raw: bytes, signer: Signer | None = None) -> int:
    """Apply `raw` in a block; it must fail and change nothing but, when it got past the
    ante step, its sender's nonce (and fee): a failed tx in a block cannot be replayed."""
    before = chain.snapshot()
    height = chain.height
    [result] = chain.block([raw])
    after = chain.snapshot()
    assert isinstance(result, TxError), "tx should have been rejected"
    assert chain.height == height + 1
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    if result.charged:
        sender = txlib.decode(raw).sender
        assert changed <= {f"acct/{sender}".encode(), b"meta/supply"}, f"a failed tx changed {changed}"
        account = chain.view().store.get(f"acct/{sender}".encode())
        assert records.decode(Account, account).nonce == records.decode(Account, before[f"acct/{sender}".encode()]).nonce + 1
    else:
        assert not changed, "a rejected tx changed state"
    assert result.log  # a person can read why
    if signer is not None:
        signer.forget(raw, result)
    return result.code


def bad_signature_tx() -> bytes:
    from aitbc.pb.aitbc_pb import tx_pb2
    envelope = tx_pb2.Tx.FromString(Signer().tx("alice", "transfer", to=KEYS["bob"].address, amount=1))
    envelope.signature = bytes(64)
    return envelope.SerializeToString()


@pytest.mark.parametrize("make, code", [
    (lambda s: os.urandom(100), None),  # random bytes: a decode error of some kind
    (lambda s: s.tx("alice", "transfer", to=KEYS["bob"].address, amount=1)[:-10], None),
    (lambda s: bad_signature_tx(), Code.BAD_SIGNATURE),
    (lambda s: Signer(chain_id="other-chain").tx("alice", "transfer", to=KEYS["bob"].address, amount=1),
     Code.WRONG_CHAIN_ID),
    (lambda s: (s.nonces.update({KEYS["alice"].address: 5}), s.tx("alice", "transfer", to=KEYS["bob"].address,
                                                                   amount=1))[1], Code.NONCE_TOO_HIGH),
    (lambda s: s.tx("alice", "transfer", to=KEYS["bob"].address, amount=BALANCE + 1), Code.INSUFFICIENT_FUNDS),
    (lambda s: txlib.build(__import__("aitbc.crypto", fromlist=["x"]).PrivateKey.generate(), CHAIN_ID, 0,
                           "transfer", to=KEYS["bob"].address, amount=1), Code.UNKNOWN_ACCOUNT),
    (lambda s: s.tx("alice", "transfer", to="not-an-address", amount=1), Code.INVALID_FIELD),
    (lambda s: s.tx("alice", "transfer", to=KEYS["bob"].address + "\n", amount=1), Code.INVALID_FIELD),
    (lambda s: s.tx("alice", "transfer", to=KEYS["bob"].address, amount=0), Code.INVALID_FIELD),
    (lambda s: s.tx("alice", "submit_job", **{**submit_fields(), "job_type": "mining"}), Code.INVALID_FIELD),
    (lambda s: s.tx("alice", "assign_job", job_id="job_x", miner=KEYS["miner1"].address), Code.UNAUTHORIZED),
    (lambda s: s.tx("miner1", "register_miner", **register_fields(stake=1)), Code.STAKE_TOO_LOW),
    (lambda s: s.tx("coordinator", "fail_job", job_id="job_missing"), Code.JOB_NOT_FOUND),
    (lambda s: s.tx("miner1", "unbond"), Code.MINER_NOT_FOUND),
    (lambda s: b"\x00" * (txlib.MAX_TX_BYTES + 1), Code.TX_TOO_LARGE),
])
def test_bad_input_is_rejected_without_state_change(chain, signer, make, code):
    got = rejected(chain, make(signer), signer)
    if code is None:
        assert got in (Code.TX_DECODE, Code.INVALID_FIELD, Code.BAD_SIGNATURE)
    else:
        assert got == code


def test_replayed_tx_is_rejected(chain, signer):
    raw = signer.tx("alice", "transfer", to=KEYS["bob"].address, amount=1)
    assert chain.block([raw]) == [0]
    assert rejected(chain, raw) == Code.NONCE_TOO_LOW


def test_receipt_from_a_miner_not_assigned_is_rejected(chain, signer):
    chain.block([signer.tx("miner1", "register_miner", **register_fields()),
                 signer.tx("miner2", "register_miner", **register_fields())])
    job_id = signer.next_job_id("alice")
    chain.block([signer.tx("alice", "submit_job", **submit_fields())])
    chain.block([signer.tx("coordinator", "assign_job", job_id=job_id, miner=KEYS["miner1"].address)])
    assert rejected(chain, signer.tx("coordinator", "record_receipt", **receipt_fields(job_id, miner="miner2")), signer) \
        == Code.NOT_ASSIGNED_MINER
    # the assigned miner's address, signed by someone else
    assert rejected(chain, signer.tx("coordinator", "record_receipt",
                                     **receipt_fields(job_id, miner="miner1", signer="miner2")), signer) \
        == Code.BAD_PROOF_SIGNATURE
    assert rejected(chain, signer.tx("coordinator", "record_receipt",
                                     **receipt_fields(job_id, chain_id="other")), signer) == Code.WRONG_CHAIN_ID


def test_second_receipt_and_assigning_a_finished_job_are_rejected(chain, signer):
    job_id = full_job(chain, signer)
    assert rejected(chain, signer.tx("coordinator", "record_receipt", **receipt_fields(job_id)), signer) == Code.BAD_JOB_STATUS
    assert rejected(chain, signer.tx("coordinator", "assign_job", job_id=job_id, miner=KEYS["miner1"].address), signer) \
        == Code.BAD_JOB_STATUS


def test_assignment_rules(chain, signer):
    chain.block([signer.tx("miner1", "register_miner", **register_fields(capacity=1))])
    first, second = signer.next_job_id("alice"), None
    chain.block([signer.tx("alice", "submit_job", **submit_fields())])
    second = signer.next_job_id("alice")
    chain.block([signer.tx("alice", "submit_job", **submit_fields())])
    other = signer.next_job_id("alice")
    chain.block([signer.tx("alice", "submit_job", **submit_fields(model="llama3.2:latest"))])
    chain.block([signer.tx("coordinator", "assign_job", job_id=first, miner=KEYS["miner1"].address)])
    assert rejected(chain, signer.tx("coordinator", "assign_job", job_id=second, miner=KEYS["miner1"].address), signer) \
        == Code.MINER_AT_CAPACITY
    assert rejected(chain, signer.tx("coordinator", "assign_job", job_id=other, miner=KEYS["miner1"].address), signer) \
        == Code.MODEL_NOT_SERVED
    assert rejected(chain, signer.tx("coordinator", "assign_job", job_id=second, miner=KEYS["bob"].address), signer) \
        == Code.MINER_NOT_FOUND
    assert rejected(chain, signer.tx("bob", "cancel_job", job_id=second), signer) == Code.UNAUTHORIZED
    assert rejected(chain, signer.tx("alice", "cancel_job", job_id=first), signer) == Code.BAD_JOB_STATUS
    assert rejected(chain, signer.tx("miner1", "unbond"), signer) == Code.MINER_BUSY
    assert rejected(chain, signer.tx("miner1", "register_miner", **register_fields()), signer) == Code.MINER_EXISTS


def test_job_ids_differ_across_chains():
    from aitbc import tx as txlib
    alice = KEYS["alice"].address
    assert txlib.job_id_for(alice, 0, "aitbc-local") != txlib.job_id_for(alice, 0, "aitbc-testnet")
    assert txlib.receipt_id_for(txlib.job_id_for(alice, 0, "a")) != txlib.receipt_id_for(txlib.job_id_for(alice, 0, "b"))
    # and the chain names its jobs by its own chain id
    chain, signer = Chain(), Signer()
    job_id = signer.next_job_id("alice")
    chain.block([signer.tx("alice", "submit_job", **submit_fields())])
    assert chain.job(job_id) is not None and job_id == txlib.job_id_for(alice, 0, CHAIN_ID)


def test_builders_pay_exactly_the_default_fee_rule():
    from aitbc.abci_app.records import Params
    from aitbc import tx as txlib
    # The builders' defaults are the chain's defaults (aitbc.tx cannot import the state machine).
    assert (txlib.DEFAULT_MIN_FEE, txlib.DEFAULT_FEE_PER_BYTE) == (Params().min_fee, Params().fee_per_byte)
    for amount in (1, 300, 2**40):
        raw = txlib.build(KEYS["alice"], CHAIN_ID, 127, "transfer", to=KEYS["bob"].address, amount=amount)
        assert txlib.decode(raw).fee == txlib.required_fee(len(raw), Params().min_fee, Params().fee_per_byte)
