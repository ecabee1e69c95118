"""The check state's log (abci_app/check_state.py): RECHECK confirms what a block left valid without
running it and still evicts what a block invalidated; FinalizeBlock reuses CheckTx's writes only
where they are what a node that never saw the txs computes (same app hash, results and events)."""

from __future__ import annotations

import hashlib
import json
import random

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from aitbc.abci_app import state as chainstate
from aitbc.abci_app.app import Application
from aitbc.abci_app.store import LevelDBStore
from aitbc.codes import Code
from aitbc.ops.factories import BALANCE, CHAIN_ID, KEYS, Chain, Signer, genesis, register_fields, submit_fields
from aitbc.pb.tendermint.abci import types_pb2 as abci
from tests.unit import test_properties as props

T0 = 1_700_000_000


def init(app: Application, params=None) -> None:
    state = json.dumps((genesis(params) if params else genesis()).to_json()).encode()
    app.init_chain(abci.RequestInitChain(chain_id=CHAIN_ID, app_state_bytes=state, time=Timestamp(seconds=T0)))


def block(app: Application, txs: list[bytes], seconds: int = 1) -> abci.ResponseFinalizeBlock:
    height = app.height + 1
    response = app.finalize_block(abci.RequestFinalizeBlock(
        txs=txs, height=height, time=Timestamp(seconds=T0 + height * seconds),
        hash=hashlib.sha256(f"block {height}".encode()).digest()))
    app.commit(abci.RequestCommit())
    return response


def check(app: Application, raw: bytes) -> int:
    return app.check_tx(abci.RequestCheckTx(tx=raw)).code


def recheck(app: Application, raw: bytes) -> int:
    return app.check_tx(abci.RequestCheckTx(tx=raw, type=abci.RECHECK)).code


def pending_nonce(app: Application, name: str) -> int:
    return json.loads(app.query(abci.RequestQuery(path=f"/nonce/{KEYS[name].address}")).value)["nonce"]


@pytest.fixture
def app(tmp_path):
    store = LevelDBStore(str(tmp_path / "db"))
    application = Application(store)
    init(application)
    block(application, [])
    yield application
    store.close()


def pay(signer: Signer, amount: int = 1, sender: str = "alice") -> bytes:
    return signer.tx(sender, "transfer", to=KEYS["bob"].address, amount=amount)


def test_a_block_of_our_own_txs_leaves_the_rest_confirmed_without_running_them(app):
    signer = Signer()
    txs = [pay(signer) for _ in range(5)]
    assert [check(app, t) for t in txs] == [0] * 5
    block(app, txs[:2])
    assert [recheck(app, t) for t in txs[2:]] == [0, 0, 0]
    assert app.check_state.reruns == 0
    assert app.metrics.reuse == {"finalize": 2, "recheck_confirmed": 3}
    assert pending_nonce(app, "alice") == 5
    assert check(app, pay(signer)) == 0  # the next nonce goes on from the confirmed ones


def test_recheck_evicts_a_tx_whose_nonce_or_funds_a_block_made_elsewhere_used(app):
    ours, theirs = Signer(), Signer()
    first = pay(ours, 10)                       # nonce 0
    second = pay(ours, BALANCE - 20)            # nonce 1: needs the balance the other tx spends
    third = pay(ours, 1)                        # nonce 2
    assert [check(app, t) for t in (first, second, third)] == [0, 0, 0]
    # Another proposer's block: a different tx with nonce 0 that spends almost everything.
    assert block(app, [pay(theirs, BALANCE - 5)]).tx_results[0].code == 0
    assert recheck(app, first) == Code.NONCE_TOO_LOW
    assert recheck(app, second) == Code.INSUFFICIENT_FUNDS
    assert recheck(app, third) != 0           # its nonce is now a gap
    assert app.check_state.reruns == 3
    assert pending_nonce(app, "alice") == 1


def test_a_tx_the_mempool_no_longer_holds_leaves_the_check_state(app):
    signer = Signer()
    txs = [pay(signer) for _ in range(4)]
    assert [check(app, t) for t in txs] == [0] * 4
    block(app, txs[:2])
    assert recheck(app, txs[2]) == 0            # txs[3] gets no RECHECK: CometBFT dropped it
    assert pending_nonce(app, "alice") == 4     # until the next new CheckTx or Commit
    replacement = Signer(nonces={KEYS["alice"].address: 3})
    assert check(app, pay(replacement, 2)) == 0  # nonce 3 is free again
    assert pending_nonce(app, "alice") == 4


def test_a_recheck_out_of_order_runs_from_there_on(app):
    signer = Signer()
    txs = [pay(signer) for _ in range(4)]
    assert [check(app, t) for t in txs] == [0] * 4
    block(app, txs[:1])
    assert recheck(app, txs[1]) == 0
    assert recheck(app, txs[3]) == Code.NONCE_TOO_HIGH  # txs[2] was dropped: a gap
    assert app.check_state.reruns == 1
    assert pending_nonce(app, "alice") == 2


def to_miner(signer: Signer, sender: str, amount: int = 1) -> bytes:
    return signer.tx(sender, "transfer", to=KEYS["miner2"].address, amount=amount)


def test_rechecks_in_another_order_are_confirmed_when_the_senders_do_not_touch(app):
    """CometBFT's mempool order can differ a little from the order CheckTx answered in."""
    signer = Signer()
    txs = [to_miner(signer, name) for name in ("alice", "bob", "coordinator", "miner1")]
    assert [check(app, t) for t in txs] == [0] * 4
    block(app, [])
    assert [recheck(app, t) for t in (txs[1], txs[0], txs[3], txs[2])] == [0, 0, 0, 0]
    assert app.check_state.reruns == 0
    assert check(app, to_miner(signer, "alice")) == 0  # the view kept every one of them
    assert pending_nonce(app, "alice") == 2 and pending_nonce(app, "miner1") == 1


def test_a_recheck_ahead_of_one_of_its_own_senders_txs_runs_and_is_refused(app):
    signer = Signer()
    txs = [pay(signer), pay(signer)]                # alice, nonces 0 and 1
    assert [check(app, t) for t in txs] == [0, 0]
    block(app, [])
    assert recheck(app, txs[1]) == Code.NONCE_TOO_HIGH  # before nonce 0, as CometBFT ordered them
    assert recheck(app, txs[0]) == 0
    assert pending_nonce(app, "alice") == 1


def test_a_tx_missing_from_the_rechecks_leaves_and_the_ones_after_it_run_again(app):
    signer = Signer()
    txs = [to_miner(signer, "alice"), to_miner(signer, "bob"), to_miner(signer, "coordinator")]
    assert [check(app, t) for t in txs] == [0, 0, 0]
    block(app, [])
    assert [recheck(app, t) for t in (txs[0], txs[2])] == [0, 0]  # bob's was dropped by CometBFT
    assert app.check_state.reruns == 0
    assert check(app, pay(signer)) == 0              # alice's nonce 1: the RECHECKs are over
    assert app.check_state.reruns == 1               # the coordinator's tx, after the gap
    assert [pending_nonce(app, n) for n in ("alice", "bob", "coordinator")] == [2, 0, 1]
    assert chainstate.get_account(app.check, KEYS["miner2"].address).balance == BALANCE + 2  # not bob's 1
    assert check(app, to_miner(Signer(), "bob")) == 0  # bob's nonce 0 is free again


def test_a_block_in_another_order_than_the_log_still_leaves_the_rest_confirmed(app, monkeypatch):
    signer = Signer()
    txs = [to_miner(signer, name) for name in ("alice", "bob", "coordinator", "miner1")]
    assert [check(app, t) for t in txs] == [0] * 4
    assert [r.code for r in block(app, [txs[1], txs[0]]).tx_results] == [0, 0]
    assert [recheck(app, t) for t in txs[2:]] == [0, 0]
    assert app.check_state.reruns == 0


def test_a_waiting_job_tx_runs_again_at_the_new_height(app):
    signer = Signer()
    txs = [pay(signer), signer.tx("alice", "submit_job", **submit_fields()), pay(signer)]
    assert [check(app, t) for t in txs] == [0, 0, 0]
    block(app, txs[:1])
    assert [recheck(app, t) for t in txs[1:]] == [0, 0]
    assert app.check_state.reruns == 2  # the job tx and everything after it


def runs_of(monkeypatch) -> list[str]:
    """The kinds of the txs FinalizeBlock (or CheckTx) runs from now on, in order."""
    from aitbc.abci_app import transition

    runs: list[str] = []
    real = transition.execute
    monkeypatch.setattr(transition, "execute", lambda *a, **k: runs.append(a[1].kind) or real(*a, **k))
    return runs


def fresh_node_hash(tmp_path, blocks: list[list[bytes]]) -> bytes:
    """The app hash of a node that never saw the txs and finalized `blocks` after the fixture's."""
    store = LevelDBStore(str(tmp_path / "fresh"))
    other = Application(store)
    init(other)
    block(other, [])
    for txs in blocks:
        block(other, txs)
    store.close()
    return other.app_hash


def test_finalize_takes_a_checked_transfer_after_a_job_tx_when_it_reads_what_it_read(app, monkeypatch):
    signer = Signer()
    txs = [pay(signer), pay(signer), signer.tx("alice", "submit_job", **submit_fields()), pay(signer)]
    assert [check(app, t) for t in txs] == [0] * 4
    runs = runs_of(monkeypatch)
    assert [r.code for r in block(app, txs).tx_results] == [0] * 4
    assert runs == ["submit_job"]  # alice's last transfer read the account the job left, here as there


def test_finalize_takes_checked_transfers_in_another_order_and_moves_the_fees_over(app, monkeypatch, tmp_path):
    signer = Signer()
    txs = [to_miner(signer, name, amount) for name, amount in (("alice", 5), ("bob", 7), ("coordinator", 9))]
    assert [check(app, t) for t in txs] == [0] * 3
    supply_before = chainstate.get_supply(app.check)
    runs = runs_of(monkeypatch)
    reordered = txs[::-1]  # all to one recipient, and each read the supply record another one wrote
    assert [r.code for r in block(app, reordered).tx_results] == [0] * 3
    assert runs == []
    assert app.app_hash == fresh_node_hash(tmp_path, [reordered])
    assert chainstate.get_account(app.check, KEYS["miner2"].address).balance == BALANCE + 21
    assert chainstate.get_supply(app.check) == supply_before  # CheckTx had burned the same fees


def test_a_recipient_that_then_spends_reads_the_credits_carried_over(app, monkeypatch, tmp_path):
    signer = Signer()
    credits = [to_miner(signer, "alice", 5), to_miner(signer, "bob", 7)]
    spend = signer.tx("miner2", "transfer", to=KEYS["alice"].address, amount=BALANCE + 10)  # needs both credits
    assert [check(app, t) for t in [*credits, spend]] == [0, 0, 0]
    runs = runs_of(monkeypatch)
    proposed = [credits[1], credits[0], spend]
    assert [r.code for r in block(app, proposed).tx_results] == [0, 0, 0]
    assert runs == []
    assert app.app_hash == fresh_node_hash(tmp_path, [proposed])


def test_finalize_runs_a_checked_transfer_whose_sender_a_tx_it_never_saw_paid(app, monkeypatch, tmp_path):
    signer = Signer()
    mine = pay(signer, sender="alice")
    assert check(app, mine) == 0
    unseen = signer.tx("coordinator", "transfer", to=KEYS["alice"].address, amount=3)  # from another node's mempool
    runs = runs_of(monkeypatch)
    assert [r.code for r in block(app, [unseen, mine]).tx_results] == [0, 0]
    assert runs == ["transfer", "transfer"]
    assert app.app_hash == fresh_node_hash(tmp_path, [[unseen, mine]])


def test_finalize_runs_a_checked_transfer_that_another_order_gives_another_nonce(app, monkeypatch):
    signer = Signer()
    first, second = pay(signer), pay(signer)
    assert [check(app, t) for t in (first, second)] == [0, 0]
    runs = runs_of(monkeypatch)
    results = block(app, [second, first]).tx_results  # a proposer that swapped one sender's nonces
    assert runs == ["transfer"]  # the second read nonce 1 here: it runs, and is refused
    assert [r.code for r in results] == [Code.NONCE_TOO_HIGH, 0]  # the first still reads what it read


def test_a_reading_overlay_keeps_what_was_decided_on_apart_from_what_was_only_added_to():
    from aitbc.abci_app.records import Account
    from aitbc.abci_app.store import MemoryStore, Overlay, ReadingOverlay

    store = MemoryStore()
    store.write({b"a/1": b"x", b"b": b"y", b"s": b"1", b"t": b"2"})
    overlay = ReadingOverlay(Overlay(store))
    overlay.set(b"c", b"z")
    assert (overlay.get(b"b"), overlay.get(b"c"), overlay.get(b"d")) == (b"y", b"z", None)
    assert overlay.get_to_add(b"s", Account, {"balance": 1}) == b"1"
    overlay.set_added(b"s", b"2")
    assert overlay.get_to_add(b"s", Account, {"balance": 2, "nonce": 1}) == b"2"  # the amounts sum up
    assert overlay.get_to_add(b"t", Account, {"balance": 1}) == b"2"
    overlay.set_added(b"t", b"3")
    assert overlay.get(b"t") == b"3"  # added to, then decided on: its first value counts
    assert overlay.get_to_add(b"b", Account, {"balance": 1}) == b"y"  # decided on first: stays so
    assert overlay.reads == {b"b": b"y", b"d": None, b"t": b"2"}  # not what it wrote itself
    assert overlay.added == {b"s": (b"1", Account, {"balance": 3, "nonce": 1})} and not overlay.iterated
    overlay.get_to_add(b"u", Account, {"balance": 1})
    overlay.set_added(b"u", b"4")
    assert b"u" in overlay.added
    overlay.set(b"u", b"5")  # then written outright: the value no longer depends on what was added to
    assert b"u" not in overlay.added and b"u" not in overlay.reads
    list(overlay.iterate(b"a/", b"a0"))
    assert overlay.iterated


def test_an_expiry_that_refunds_the_sender_makes_its_checked_transfers_run(tmp_path, monkeypatch):
    store = LevelDBStore(str(tmp_path / "db"))
    app = Application(store)
    init(app)
    signer = Signer()
    block(app, [signer.tx("alice", "submit_job", **submit_fields())])
    txs = [pay(signer), pay(signer)]
    assert [check(app, t) for t in txs] == [0, 0]
    runs = runs_of(monkeypatch)
    result = block(app, txs, seconds=120)  # past the pending timeout: alice's job expires first
    assert any(e.type == "job" for e in result.events)
    assert runs == ["transfer", "transfer"]
    store.close()


# --- the app hash does not depend on the path ---------------------------------------------

def mixed_blocks(seed: int, count: int) -> list[tuple[list[bytes], int]]:
    """Blocks of mixed txs (valid and not, fees on, spot checks, expiries), built against the
    pure transition as test_properties does."""
    rng = random.Random(seed)
    chain, signer, jobs = Chain(props.CHECKED), Signer(fee=None), []
    first = [signer.tx(m, "register_miner", **register_fields()) for m in ("miner1", "miner2")]
    chain.block(first)
    blocks = [(first, 1)]
    kinds = ["transfer"] * 8 + ["submit", "assign", "receipt", "lifecycle", "cancel", "fail", "bad_nonce", "garbage"]
    for _ in range(count):
        seconds = rng.choice([1, 1, 1, 5, 61])
        chain.begin(seconds)
        txs = []
        for _ in range(rng.randint(0, 12)):
            kind = rng.choice(kinds)
            act = {"transfer": lambda: (kind, rng.choice(props.USERS), rng.choice(props.USERS), rng.randint(0, 10**6)),
                   "submit": lambda: (kind, rng.choice(props.USERS), rng.randint(0, 5_000_000), "aitbc-tiny"),
                   "assign": lambda: (kind, "coordinator", rng.randint(0, 3), rng.choice(props.MINERS)),
                   "receipt": lambda: (kind, "assigned", rng.randint(0, 3), rng.randint(0, 600_000)),
                   "lifecycle": lambda: (kind, rng.choice(["miner1", "miner2"]), rng.randint(0, 600_000), "an answer"),
                   "cancel": lambda: (kind, rng.choice(props.USERS), rng.randint(0, 3)),
                   "fail": lambda: (kind, "coordinator", rng.randint(0, 3)),
                   "bad_nonce": lambda: (kind, rng.choice(props.USERS), rng.choice([-1, 1])),
                   "garbage": lambda: (kind, rng.randbytes(rng.randint(0, 40)))}[kind]()
            made = props.make_tx(chain, signer, jobs, act)
            for build in made if isinstance(made, list) else [lambda: made]:
                raw = build()
                outcome = chain.apply(raw)
                txs.append(raw)
                if outcome != 0:
                    if act[0] == "submit":
                        jobs.pop()
                    if act[0] != "bad_nonce":
                        signer.forget(raw, outcome)
        chain.end()
        blocks.append((txs, seconds))
    return blocks


def transfer_blocks(seed: int, count: int, too_much: float) -> list[tuple[list[bytes], int]]:
    """Blocks of transfers among every key (fees on; a share `too_much` spends more than the sender has)."""
    rng = random.Random(seed)
    chain, signer = Chain(props.CHECKED), Signer(fee=None)
    blocks = []
    for _ in range(count):
        chain.begin(1)
        txs = []
        for _ in range(rng.randint(0, 30)):
            raw = signer.tx(rng.choice(props.USERS), "transfer", to=KEYS[rng.choice(props.USERS)].address,
                            amount=BALANCE // 2 if rng.random() < too_much else rng.choice([1, 1_000, 10**6]))
            outcome = chain.apply(raw)
            txs.append(raw)
            if outcome != 0:
                signer.forget(raw, outcome)
        chain.end()
        blocks.append((txs, 1))
    return blocks


def mempool_order(rng: random.Random, txs: list[bytes], swap: float, drop: float) -> list[bytes]:
    """As CometBFT may recheck them: now and then two neighbours swapped, or one left out."""
    txs = list(txs)
    for i in range(len(txs) - 1):
        if rng.random() < swap:
            txs[i], txs[i + 1] = txs[i + 1], txs[i]
    return [raw for raw in txs if rng.random() >= drop]


def outcome(response: abci.ResponseFinalizeBlock) -> tuple:
    return (response.app_hash, [(r.code, r.log, [(e.type, [(a.key, a.value, a.index) for a in e.attributes])
                                                 for e in r.events]) for r in response.tx_results],
            [(e.type, [(a.key, a.value) for a in e.attributes]) for e in response.events])


@pytest.mark.parametrize("seed, kind", [(1, "mixed"), (2, "mixed"), (3, "mixed"), (4, "transfers"), (5, "valid transfers")])
def test_a_node_that_checked_the_txs_commits_what_a_node_that_never_saw_them_commits(tmp_path, seed, kind):
    """Node A CheckTx's each block's txs one block ahead (as a mempool holds them), rechecks what a
    block left in an order a little off (and misses some), and sometimes gets a block in another
    order; node B only ever runs FinalizeBlock."""
    rng = random.Random(seed)
    blocks = mixed_blocks(seed, 60) if kind == "mixed" else transfer_blocks(seed, 60, 0.03 if kind == "transfers" else 0)
    swap, drop, reorder = (0.15, 0.05, 0.2) if kind != "valid transfers" else (0.03, 0.005, 0.05)
    apps = []
    for name in ("a", "b"):
        app = Application(LevelDBStore(str(tmp_path / name)))
        init(app, props.CHECKED)
        apps.append(app)
    a, b = apps
    t = T0
    for raw in blocks[0][0]:
        check(a, raw)
    for i, (txs, seconds) in enumerate(blocks):
        if i + 1 < len(blocks):
            for raw in blocks[i + 1][0]:
                check(a, raw)  # the next block's txs wait in the mempool meanwhile
        if rng.random() < reorder and len(txs) > 1:  # a proposer that ordered them otherwise
            txs = txs[1:] + txs[:1] if rng.random() < 0.5 else rng.sample(txs, len(txs))
        t += seconds
        request = abci.RequestFinalizeBlock(txs=txs, height=a.height + 1, time=Timestamp(seconds=t),
                                            hash=hashlib.sha256(f"block {a.height + 1}".encode()).digest())
        assert outcome(a.finalize_block(request)) == outcome(b.finalize_block(request)), f"block {i}"
        for app in apps:
            app.commit(abci.RequestCommit())
        if i + 1 < len(blocks):
            for raw in mempool_order(rng, blocks[i + 1][0], swap, drop):
                recheck(a, raw)
    assert a.app_hash == b.app_hash
    assert a.metrics.reuse["finalize"] > 0 and b.metrics.reuse["finalize"] == 0
    for app in apps:
        app.store.close()
