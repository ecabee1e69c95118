"""Attacks on a real node: 10 000 generated malformed or mutated txs, forged and
reused signatures, replays, wrong chain id, nonce gaps, overspends, unknown
accounts, a miner claiming another's job, double receipts, coordinator-only
txs signed by someone else. Each is rejected with a clear error and changes
nothing."""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from aitbc import audit, crypto, tx as txlib
from aitbc.codes import Code
from aitbc.crypto import PrivateKey
from aitbc.rpc import ChainRPC, RPCError
from aitbc.pb.aitbc_pb import tx_pb2
from aitbc.ops.factories import BALANCE, CHAIN_ID, KEYS, Signer, receipt_fields, register_fields, submit_fields
from tests.integration.chain_fixtures import start_chain
from tests.unit.test_signature_rule import IDENTITY, mixed_order_r_signature

pytestmark = pytest.mark.attacks
FUZZ_TXS = 10_000
STATS = {"tried": 0, "rejected": 0, "accepted": 0}


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    node = start_chain(tmp_path_factory.mktemp("attack") / "node", pending_timeout_s=3600)
    yield node
    node.stop()


@pytest.fixture(scope="module")
def rpc(node):
    client = ChainRPC(node.rpc)
    yield client
    client.close()


@pytest.fixture(scope="module")
def world(rpc):
    """A miner, an assigned job and a completed job to attack."""
    signer = Signer(fee=None)
    ok = lambda raw: rpc.broadcast(raw, "commit")  # noqa: E731
    assert ok(signer.tx("miner1", "register_miner", **register_fields())).ok
    assert ok(signer.tx("miner2", "register_miner", **register_fields())).ok
    open_job = signer.next_job_id("alice")
    assert ok(signer.tx("alice", "submit_job", **submit_fields())).ok
    assert ok(signer.tx("coordinator", "assign_job", job_id=open_job, miner=KEYS["miner1"].address)).ok
    done_job = signer.next_job_id("alice")
    assert ok(signer.tx("alice", "submit_job", **submit_fields())).ok
    assert ok(signer.tx("coordinator", "assign_job", job_id=done_job, miner=KEYS["miner1"].address)).ok
    receipt = signer.tx("coordinator", "record_receipt", **receipt_fields(done_job))
    assert ok(receipt).ok
    return {"signer": signer, "open_job": open_job, "done_job": done_job, "receipt": receipt}


def state_of(rpc: ChainRPC) -> tuple:
    snap = audit.consistent_read(rpc)  # blocks keep coming while it reads
    return snap.accounts, snap.escrows, snap.jobs, snap.receipts, snap.miners


def expect_rejected(rpc: ChainRPC, raw: bytes, codes: set[int] | None = None) -> str:
    """Broadcast; the node must refuse with a code (and log) or an RPC error."""
    STATS["tried"] += 1
    try:
        result = rpc.broadcast(raw, "sync")
    except RPCError as err:  # e.g. the node's duplicate cache, or over its size limit
        STATS["rejected"] += 1
        return str(err)
    if result.ok:
        STATS["accepted"] += 1
        raise AssertionError(f"accepted a hostile tx: {raw[:40]!r}")
    STATS["rejected"] += 1
    assert result.log, "rejection without a readable reason"
    if codes is not None:
        assert result.code in codes, f"{result.code_name}: {result.log}"
    return result.log


def valid_samples(world) -> list[bytes]:
    s: Signer = world["signer"]
    return [
        s.tx_with_nonce_offset("alice", 0, "transfer", to=KEYS["bob"].address, amount=5),
        s.tx_with_nonce_offset("alice", 0, "submit_job", **submit_fields()),
        s.tx_with_nonce_offset("coordinator", 0, "record_receipt", **receipt_fields(world["open_job"])),
        s.tx_with_nonce_offset("miner2", 0, "update_miner", models=["x"], price_per_second=1, capacity=1),
    ]


mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(0, 7)),
    st.tuples(st.just("truncate"), st.integers(1, 400)),
    st.tuples(st.just("append"), st.binary(min_size=1, max_size=40)),
    st.tuples(st.just("splice"), st.integers(0, 10_000), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("random"), st.binary(max_size=300)),
    st.tuples(st.just("swap_key"), st.sampled_from(list(KEYS))),
    st.tuples(st.just("resign_body_byte"), st.integers(0, 10_000)),
)


def mutate(raw: bytes, how) -> bytes:
    kind = how[0]
    if kind == "flip":
        i = how[1] % len(raw)
        return raw[:i] + bytes([raw[i] ^ (1 << how[2])]) + raw[i + 1:]
    if kind == "truncate":
        return raw[: max(0, len(raw) - how[1])]
    if kind == "append":
        return raw + how[1]
    if kind == "splice":
        i = how[1] % len(raw)
        return raw[:i] + how[2] + raw[i:]
    if kind == "random":
        return how[1]
    envelope = tx_pb2.Tx.FromString(raw)
    if kind == "swap_key":  # someone else's public key on this body and signature
        envelope.public_key = KEYS[how[1]].public_key
    else:  # change the body, keep the old signature (a reused signature)
        body = bytearray(envelope.body)
        i = how[1] % len(body)
        body[i] ^= 0x01
        envelope.body = bytes(body)
    return envelope.SerializeToString()


def test_ten_thousand_mutated_txs_are_all_rejected(rpc, world):
    samples = valid_samples(world)
    before = state_of(rpc)

    @settings(max_examples=FUZZ_TXS, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(which=st.integers(0, len(samples) - 1), how=mutation)
    def attack(which, how):
        original = samples[which]
        hostile = mutate(original, how)
        if hostile == original:
            return
        expect_rejected(rpc, hostile)

    attack()
    assert state_of(rpc) == before
    assert STATS["accepted"] == 0 and STATS["tried"] >= FUZZ_TXS * 0.95


def test_targeted_attacks_are_rejected_with_their_codes(rpc, world):
    s: Signer = world["signer"]
    before = state_of(rpc)
    stranger = PrivateKey.generate()
    other_body = tx_pb2.Tx.FromString(s.tx_with_nonce_offset("bob", 0, "transfer", to=KEYS["alice"].address,
                                                             amount=1))
    forged = tx_pb2.Tx(body=tx_pb2.Tx.FromString(s.tx_with_nonce_offset(
        "alice", 0, "transfer", to=KEYS["bob"].address, amount=BALANCE // 2)).body,
        public_key=KEYS["alice"].public_key, signature=stranger.sign(b"x" * 10) + bytes(0))
    cases = [
        ("forged signature", forged.SerializeToString(), {Code.BAD_SIGNATURE, Code.TX_DECODE}),
        ("reused signature of another tx", tx_pb2.Tx(
            body=tx_pb2.Tx.FromString(s.tx_with_nonce_offset("bob", 0, "transfer", to=KEYS["alice"].address,
                                                             amount=999)).body,
            public_key=other_body.public_key, signature=other_body.signature).SerializeToString(),
         {Code.BAD_SIGNATURE}),
        ("wrong chain id", Signer(chain_id="evil", fee=None).tx_with_nonce_offset("alice", 0, "transfer",
                                                                       to=KEYS["bob"].address, amount=1),
         {Code.WRONG_CHAIN_ID}),
        ("nonce gap", s.tx_with_nonce_offset("alice", 7, "transfer", to=KEYS["bob"].address, amount=1),
         {Code.NONCE_TOO_HIGH}),
        ("stale nonce", txlib.build(KEYS["alice"], CHAIN_ID, 0, "transfer", memo="replay",
                                    to=KEYS["bob"].address, amount=1), {Code.NONCE_TOO_LOW}),
        ("overspend", s.tx_with_nonce_offset("bob", 0, "transfer", to=KEYS["alice"].address, amount=BALANCE + 1),
         {Code.INSUFFICIENT_FUNDS}),
        ("recipient with a trailing newline: an address no key could spend from", s.tx_with_nonce_offset(
            "bob", 0, "transfer", to=KEYS["alice"].address + "\n", amount=1), {Code.INVALID_FIELD}),
        ("account that does not exist", txlib.build(stranger, CHAIN_ID, 0, "transfer", to=KEYS["bob"].address,
                                                    amount=1), {Code.UNKNOWN_ACCOUNT}),
        ("miner claims a job assigned to another", s.tx_with_nonce_offset(
            "coordinator", 0, "record_receipt", **receipt_fields(world["open_job"], miner="miner2")),
         {Code.NOT_ASSIGNED_MINER}),
        ("proof for the assigned miner signed by another", s.tx_with_nonce_offset(
            "coordinator", 0, "record_receipt", **receipt_fields(world["open_job"], signer="miner2")),
         {Code.BAD_PROOF_SIGNATURE}),
        ("double receipt", s.tx_with_nonce_offset("coordinator", 0, "record_receipt",
                                                  **receipt_fields(world["done_job"])), {Code.BAD_JOB_STATUS}),
        ("coordinator-only tx signed by a miner", s.tx_with_nonce_offset(
            "miner1", 0, "record_receipt", **receipt_fields(world["open_job"])), {Code.UNAUTHORIZED}),
        ("assignment signed by a client", s.tx_with_nonce_offset(
            "alice", 0, "assign_job", job_id=world["open_job"], miner=KEYS["miner2"].address), {Code.UNAUTHORIZED}),
        ("someone else fails a job", s.tx_with_nonce_offset("bob", 0, "fail_job", job_id=world["open_job"]),
         {Code.UNAUTHORIZED}),
        ("oversized tx", b"\x0a" + b"\xff" * (txlib.MAX_TX_BYTES + 10), {Code.TX_TOO_LARGE}),
    ]
    for name, raw, codes in cases:
        log = expect_rejected(rpc, raw, codes)
        assert log, name
    assert "already exists" in expect_rejected(rpc, world["receipt"])  # exact replay of a committed tx
    assert state_of(rpc) == before


class _FixedSigner:
    """A 'key' that signs with a function of the message: for signatures no PrivateKey makes."""

    def __init__(self, public_key: bytes, sign):
        self.public_key, self.address, self.sign = public_key, crypto.address_of(public_key), sign


def test_signatures_under_the_chain_rule_through_a_real_node(rpc, world):
    """A small-order public key, for which anyone can make a signature that satisfies the ZIP-215
    equation, cannot spend what was sent to its address; a signer's own crafted signature (R
    with a small-order component: ZIP-215 takes it, libsodium does not) passes CheckTx and
    FinalizeBlock alike."""
    s: Signer = world["signer"]
    anyone = _FixedSigner(IDENTITY, lambda message: IDENTITY + bytes(32))
    crafty_seed = bytes(range(1, 33))
    crafty = _FixedSigner(crypto.PrivateKey(crafty_seed).public_key,
                          lambda message: mixed_order_r_signature(crafty_seed, message)[1])
    for target in (anyone, crafty):
        assert rpc.broadcast(s.tx("alice", "transfer", to=target.address, amount=50_000), "commit").ok
    before = rpc.query(f"/account/{anyone.address}")
    steal = txlib.build(anyone, CHAIN_ID, 0, "transfer", to=KEYS["bob"].address, amount=1)
    assert "signature does not match" in expect_rejected(rpc, steal, {Code.BAD_SIGNATURE})
    assert rpc.query(f"/account/{anyone.address}") == before
    own = txlib.build(crafty, CHAIN_ID, 0, "transfer", to=KEYS["bob"].address, amount=7)
    assert not crypto.libsodium_verify(crafty.public_key, tx_pb2.Tx.FromString(own).body,
                                       tx_pb2.Tx.FromString(own).signature)
    committed = rpc.broadcast(own, "commit")
    assert committed.ok, committed.log
    assert rpc.query(f"/account/{crafty.address}")["nonce"] == 1
