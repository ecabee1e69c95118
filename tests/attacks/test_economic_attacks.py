"""Economic attacks on the market's rules, driven as signed tx bytes through the
real ABCI Application (LevelDB in tmp_path) exactly as CometBFT calls it:
CheckTx, FinalizeBlock, Commit, Query.

Each test plays a rational attacker (miner, checker, client, spammer) and
asserts it gained nothing: exact balances and stake, and no broken invariant.
Tests marked xfail(strict=True) are rules we managed to break; their reason
says how. Quick tier: no node, no marker.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from aitbc.abci_app import checks, invariants, state as st
from aitbc.abci_app.app import Application
from aitbc.abci_app.records import Genesis, Params
from aitbc.abci_app.state import State
from aitbc.abci_app.store import LevelDBStore, Overlay
from aitbc import audit, tx as txlib
from aitbc.codes import Code
from aitbc.crypto import PrivateKey
from aitbc.pb.aitbc_pb import tx_pb2
from aitbc.pb.tendermint.abci import types_pb2 as abci
from aitbc.ops.factories import CHAIN_ID, PARAMS, SUBMIT_OPTIONS, key, register_fields, submit_fields

GENESIS_TIME = 1_700_000_000
BALANCE = 1_000_000_000
STAKE = 100_000_000
NS = 1_000_000_000
PROMPT = "What is machine learning?"
MODEL = "aitbc-tiny"
BASE = ("coordinator", "alice", "bob", "miner1", "miner2", "miner3")
# Spot checks on every checkable receipt, a short window.
CHECKED = replace(PARAMS, check_share_bps=10_000, check_window_blocks=5)


def keyof(name: str) -> PrivateKey:
    return key(name)


def addr(name: str) -> str:
    return keyof(name).address


class Net:
    """One node's Application, driven block by block; txs signed by name."""

    def __init__(self, root: Path, params: Params = PARAMS, names: tuple[str, ...] = BASE,
                 balance: int = BALANCE):
        self.params = params
        self.names = {addr(n): n for n in names}
        root.mkdir(parents=True, exist_ok=True)
        self.store = LevelDBStore(str(root / "db"))
        self.app = Application(self.store)
        self.genesis = Genesis(accounts={addr(n): balance for n in names}, coordinator=addr("coordinator"),
                               params=params)
        self.app.init_chain(abci.RequestInitChain(
            chain_id=CHAIN_ID, app_state_bytes=json.dumps(self.genesis.to_json()).encode(),
            time=Timestamp(seconds=GENESIS_TIME)))
        self.seconds = GENESIS_TIME
        self.nonces: dict[str, int] = {}
        self.block([])  # commit genesis

    # --- txs -------------------------------------------------------------------
    def nonce(self, name: str) -> int:
        address = addr(name)
        if address not in self.nonces:
            self.nonces[address] = self.q(f"/account/{address}")["nonce"]
        return self.nonces[address]

    def tx(self, name: str, kind: str, fee: int | None | str = "rule", **fields) -> bytes:
        """A signed tx of `name` with its next nonce; `fee` "rule" pays exactly what the genesis asks."""
        nonce = self.nonce(name)
        self.nonces[addr(name)] = nonce + 1
        if fee == "rule":
            fee = None if self.params.min_fee or self.params.fee_per_byte else 0
        return txlib.build(keyof(name), CHAIN_ID, nonce, kind, fee=fee, min_fee=self.params.min_fee,
                           fee_per_byte=self.params.fee_per_byte, **fields)

    def submit(self, name: str = "alice", **fields) -> tuple[bytes, str]:
        job_id = txlib.job_id_for(addr(name), self.nonce(name), CHAIN_ID)
        return self.tx(name, "submit_job", **{**submit_fields(), **fields}), job_id

    def block(self, txs: list[bytes], seconds: int = 1, block_hash: bytes | None = None) -> list[int]:
        height = self.app.height + 1
        self.seconds += seconds
        response = self.app.finalize_block(abci.RequestFinalizeBlock(
            txs=txs, height=height, time=Timestamp(seconds=self.seconds),
            hash=block_hash if block_hash is not None else hashlib.sha256(f"block {height}".encode()).digest()))
        self.app.commit(abci.RequestCommit())
        self.nonces.clear()  # refused txs did not use their nonce: re-read from the chain
        self.last = response
        return [r.code for r in response.tx_results]

    def ok(self, *txs: bytes, seconds: int = 1) -> None:
        codes = self.block(list(txs), seconds)
        assert codes == [0] * len(txs), [(Code(c).name, r.log) for c, r in zip(codes, self.last.tx_results)]

    def check(self, raw: bytes) -> abci.ResponseCheckTx:
        return self.app.check_tx(abci.RequestCheckTx(tx=raw))

    # --- reads -----------------------------------------------------------------
    def q(self, path: str):
        response = self.app.query(abci.RequestQuery(path=path))
        assert response.code == 0, response.log
        return json.loads(response.value)

    def state(self, block_hash: bytes = b"") -> State:
        return State(Overlay(self.store), self.app.height, self.seconds * NS, CHAIN_ID, block_hash=block_hash)

    def broken(self) -> list[str]:
        return invariants.broken(self.state())

    def balance(self, name: str) -> int:
        return self.q(f"/account/{addr(name)}")["balance"]

    def balances(self) -> dict[str, int]:
        return {n: self.balance(n) for n in self.names.values()}

    def miner(self, name: str) -> dict:
        return self.q(f"/miner/{addr(name)}")

    def job(self, job_id: str) -> dict:
        return self.q(f"/job/{job_id}")

    def supply(self) -> dict:
        return self.q("/supply")

    def name_of(self, address: str) -> str:
        return self.names[address]

    def only_charged(self, before: tuple, name: str, nonces: int = 1) -> None:
        """Since `before`, nothing changed but `name`'s nonce (+`nonces`) and the fees it burned:
        what a tx that fails in a block costs its sender."""
        after = self.snapshot_state()
        assert after[1:5] == before[1:5], "a failed tx changed jobs, escrow, receipts or miners"
        accounts = lambda snap: {i["key"]: i["value"] for i in snap[0]}  # noqa: E731
        old, new = accounts(before), accounts(after)
        for address in old.keys() | new.keys():
            if address != addr(name):
                assert old.get(address) == new.get(address), address
        burned = new[addr(name)]
        assert burned["nonce"] == old[addr(name)]["nonce"] + nonces
        fee = old[addr(name)]["balance"] - burned["balance"]
        assert after[5]["fees"] - before[5]["fees"] == fee >= 0

    def snapshot_state(self) -> tuple:
        """Everything an attack could change (for 'changed nothing' assertions)."""
        return tuple(self.q(f"/{path}?limit=1000")["items"] for path in ("accounts", "jobs", "escrows", "receipts")) \
            + (self.q("/miners"), self.supply())

    def close(self) -> None:
        self.store.close()


def proof(job_id: str, miner: str, *, ms: int = 12_500, result: str = "an answer", tokens: tuple[int, int] = (15, 16),
          model: str = MODEL, digest: str = "sha256:tiny", prompt: str = PROMPT, options: dict | None = None,
          drop: tuple[str, ...] = (), junk: bytes = b"") -> dict:
    """A record_receipt / record_check body: `miner`'s signed proof, optionally with fields dropped or junk appended."""
    message = tx_pb2.ComputeProof(
        chain_id=CHAIN_ID, job_id=job_id, miner=addr(miner), model=model,
        result_hash=hashlib.sha256(result.encode()).digest(), compute_time_ms=ms, prompt_tokens=tokens[0],
        tokens_generated=tokens[1], model_digest=digest, prompt_hash=hashlib.sha256(prompt.encode()).digest(),
        options=tx_pb2.JobOptions(**(options or SUBMIT_OPTIONS)))
    for name in drop:
        message.ClearField(name)
    data = message.SerializeToString(deterministic=True) + junk
    return dict(proof=data, miner_signature=keyof(miner).sign(txlib.PROOF_DOMAIN + data))


def offer(**changes) -> dict:
    """An update_miner body: register_fields without the stake."""
    fields = {**register_fields(), **changes}
    fields.pop("stake", None)
    return {"add_stake": 0, **fields}


@pytest.fixture
def make(tmp_path):
    nets: list[Net] = []

    def build(params: Params = PARAMS, names: tuple[str, ...] = BASE, **kw) -> Net:
        net = Net(tmp_path / f"n{len(nets)}", params, names, **kw)
        nets.append(net)
        return net

    yield build
    for net in nets:
        net.close()


def verifying_job(net: Net, miner: str = "miner1", result: str = "an answer", **proof_kw) -> str:
    """alice's job, assigned to `miner` and receipted, now under check with a drawn checker."""
    raw, job_id = net.submit()
    net.ok(raw)
    net.ok(net.tx("coordinator", "assign_job", job_id=job_id, miner=addr(miner)))
    net.ok(net.tx("coordinator", "record_receipt", **proof(job_id, miner, result=result, **proof_kw)))
    job = net.job(job_id)
    assert job["status"] == "verifying" and job["checker"], job
    return job_id


def rerun(net: Net, job_id: str, result: str = "an answer", ms: int = 10_000, sender: str | None = None,
          **proof_kw) -> str:
    """The drawn checker reports its re-run (itself, or via `sender`); returns its name."""
    checker = net.name_of(net.job(job_id)["checker"])
    net.ok(net.tx(sender or checker, "record_check", **proof(job_id, checker, result=result, ms=ms, **proof_kw)))
    assert net.broken() == []
    return checker


# --- 1. over-claimed time; checker raising its price after the draw ------------------------------

def test_1_claimed_time_is_bounded_by_tokens_times_declared_rate(make):
    net = make()
    net.ok(net.tx("miner1", "register_miner", **register_fields(), ms_per_token={MODEL: 50}))
    raw, job_id = net.submit(max_reward=100_000_000)
    net.ok(raw)
    net.ok(net.tx("coordinator", "assign_job", job_id=job_id, miner=addr("miner1")))
    # A raised rate after assignment changes nothing: the job's ceiling was fixed at assign_job.
    net.ok(net.tx("miner1", "update_miner", **offer(ms_per_token={MODEL: PARAMS.max_ms_per_token})))
    before = net.balances()
    # More tokens than num_predict (16), or prompt tokens above the chain's ceiling: refused.
    for tokens in ((15, 17), (PARAMS.max_tokens_per_job + 1, 16)):
        assert net.block([net.tx("coordinator", "record_receipt",
                                 **proof(job_id, "miner1", ms=10**9, tokens=tokens))]) == [Code.PROOF_MISMATCH]
    net.ok(net.tx("coordinator", "record_receipt", **proof(job_id, "miner1", ms=10**9, tokens=(15, 16))))
    due = (15 + 16) * 50 * 20_000 // 1000  # 1550 ms at 0.02 AITBC/s
    assert due == 31_000
    job = net.job(job_id)
    assert (job["status"], job["billed_ms"], job["payment"], job["claimed_ms"]) == ("completed", 1550, due, 10**9)
    after = net.balances()
    assert after["miner1"] - before["miner1"] == due
    assert before["alice"] + 100_000_000 - after["alice"] == due
    assert net.q(f"/receipt/{job_id}")["billed_ms"] == 1550
    assert net.broken() == []


def test_1_checker_raising_its_price_after_the_draw_is_paid_the_drawn_price(make):
    net = make(CHECKED)
    for m in ("miner1", "miner2"):
        net.ok(net.tx(m, "register_miner", **register_fields()))
    job_id = verifying_job(net)
    assert net.job(job_id)["checker"] == addr("miner2")  # the only eligible miner
    assert net.job(job_id)["checker_price_per_second"] == 20_000
    net.ok(net.tx("miner2", "update_miner", **offer(price_per_second=10**9)))
    before = net.balances()
    rerun(net, job_id, ms=10**6)  # and it claims a huge re-run time: bounded by 31 tokens x the ceiling
    job = net.job(job_id)
    cost = min(10**6, 31 * CHECKED.max_ms_per_token) * 20_000 // 1000
    assert (job["status"], job["check_status"], job["check_paid"], job["payment"]) == \
        ("completed", "passed", cost, 250_000)
    after = net.balances()
    assert after["miner2"] - before["miner2"] == cost
    assert after["miner1"] - before["miner1"] == 250_000
    assert after["alice"] - before["alice"] == 1_000_000 - 250_000 - cost  # the rest of the escrow refunded
    assert net.broken() == []


# --- 2. leaving before the slash -------------------------------------------------------------------

def three_miners(net: Net) -> None:
    net.ok(*[net.tx(m, "register_miner", **register_fields()) for m in ("miner1", "miner2", "miner3")])


def test_2_miner_under_check_unbonds_at_once_and_is_still_slashed(make):
    net = make(CHECKED)
    three_miners(net)
    job_id = verifying_job(net, result="a made-up answer")
    net.ok(net.tx("miner1", "unbond"))  # active_jobs is 0 while its job is verifying
    m = net.miner("miner1")
    assert (m["stake"], m["unbonding"]) == (0, STAKE)
    release_ns = m["unbonding_release_ns"]
    alice = net.balance("alice")
    rerun(net, job_id, result="the true answer")
    rerun(net, job_id, result="the true answer")
    job = net.job(job_id)
    assert (job["status"], job["check_status"]) == ("failed", "failed")
    m = net.miner("miner1")
    assert (m["stake"], m["unbonding"], m["slashed"]) == (0, STAKE // 2, 1)  # taken from the unbonding stake
    # alice: refund minus the two re-runs (10 s each at 0.02/s); the slash is burned
    # (slash_to_client_bps is 0 by default: a client must not profit from a slash its sybils arrange)
    assert net.balance("alice") - alice == 1_000_000 - 2 * 200_000
    supply = net.supply()
    assert supply["burned"] == STAKE // 2
    # Nothing is paid out before the period ends, however many blocks pass.
    miner_balance = net.balance("miner1")
    while (net.seconds + 50) * NS < release_ns:
        net.ok(seconds=50)
    assert net.balance("miner1") == miner_balance and net.miner("miner1")["unbonding"] == STAKE // 2
    net.ok(seconds=60)
    assert net.balance("miner1") == miner_balance + STAKE // 2
    # Coming back keeps the record of the slash.
    net.ok(net.tx("miner1", "register_miner", **register_fields()))
    m = net.miner("miner1")
    assert (m["stake"], m["unbonding"], m["slashed"], m["failed"]) == (STAKE, 0, 1, 1)
    assert net.broken() == []


def test_2_outvoted_checker_that_unbonds_is_still_slashed(make):
    net = make(CHECKED)
    three_miners(net)
    job_id = verifying_job(net)
    liar = rerun(net, job_id, result="a lie")
    net.ok(net.tx(liar, "unbond"))  # its re-run is in: its slot is free, so it may leave
    assert net.miner(liar)["unbonding"] == STAKE
    honest = rerun(net, job_id)
    assert honest != liar
    job = net.job(job_id)
    assert (job["status"], job["check_status"], job["payment"]) == ("completed", "passed", 250_000)
    m = net.miner(liar)
    assert (m["stake"], m["unbonding"], m["slashed"], m["checks_done"]) == (0, STAKE // 2, 1, 0)
    assert net.balance(liar) == BALANCE - STAKE  # and its re-run was not paid
    assert net.broken() == []


def test_2_slow_blocks_do_not_let_a_miner_under_check_leave_before_the_slash(make):
    # Check windows count blocks, unbonding counts seconds: the release waits for both.
    net = make(replace(CHECKED, check_window_blocks=30))
    three_miners(net)
    job_id = verifying_job(net, result="a made-up answer")
    net.ok(net.tx("miner1", "unbond"))
    for _ in range(13):  # 13 empty blocks, 100 s apart: the 1200 s unbonding period is over
        net.ok(seconds=100)
    assert net.job(job_id)["status"] == "verifying"  # the window (30 blocks) is still open
    assert net.balance("miner1") == BALANCE - STAKE  # ... so the stake is still locked
    rerun(net, job_id, result="the true answer")
    rerun(net, job_id, result="the true answer")
    assert net.job(job_id)["check_status"] == "failed"
    assert net.miner("miner1")["unbonding"] == STAKE // 2  # slashed 50 % from the unbonding stake
    for _ in range(30):
        net.ok(seconds=100)
    assert net.balance("miner1") == BALANCE - STAKE // 2 and net.broken() == []


# --- 3. checker capture -----------------------------------------------------------------------------

HONEST = tuple(f"honest{i}" for i in range(3))
SYBILS = tuple(f"sybil{i}" for i in range(2))


def test_3_client_sybils_are_drawn_only_by_stake_share_and_the_client_never(make):
    names = ("coordinator", "alice", "miner1", *HONEST, *SYBILS)
    net = make(replace(CHECKED, check_window_blocks=1000), names=names)
    # alice (the client) runs a miner itself and two sybils of equal stake; three honest miners.
    net.ok(*[net.tx(m, "register_miner", **register_fields(capacity=16))
             for m in ("miner1", "alice", *HONEST, *SYBILS)])
    drawn = []
    for _ in range(12):
        drawn.append(net.job(verifying_job(net))["checker"])
    assert addr("alice") not in drawn and addr("miner1") not in drawn
    # The draw over many block hashes (deterministic, so no flakiness): ~ stake share.
    job = st.get_job(net.state(), verifying_job(net))
    view = net.state()
    first_sybil = both_sybil = 0
    n = 3000
    sybils = {addr(s) for s in SYBILS}
    for i in range(n):
        view.block_hash = hashlib.sha256(f"hash {i}".encode()).digest()
        first = checks.draw_checker(view, replace(job, checkers=()))
        assert first.address not in (addr("alice"), addr("miner1"))
        if first.address in sybils:
            first_sybil += 1
            second = checks.draw_checker(view, replace(job, checkers=(first.address,)))
            both_sybil += second.address in sybils
    share = len(SYBILS) / (len(SYBILS) + len(HONEST))  # 0.4
    assert abs(first_sybil / n - share) < 0.05
    # Both seats: s x (m-1)/(n-1) = 0.4 x 1/4 = 0.1 without replacement (s^2 = 0.16 is the bound).
    assert abs(both_sybil / n - share * (len(SYBILS) - 1) / (len(SYBILS) + len(HONEST) - 1)) < 0.04
    assert net.broken() == []


def test_3_client_with_sybil_checkers_cannot_profit_from_slashing_an_honest_miner(make):
    names = ("coordinator", "alice", "miner1", *SYBILS)
    net = make(CHECKED, names=names)
    net.ok(*[net.tx(m, "register_miner", **register_fields()) for m in ("miner1", *SYBILS)])
    # alice's wealth counts her sybils' balances and stakes.
    wealth = lambda: net.balance("alice") + sum(net.balance(s) + net.miner(s)["stake"] for s in SYBILS)  # noqa: E731
    start = wealth()
    job_id = verifying_job(net)  # miner1 ran it honestly
    rerun(net, job_id, result="a lie")
    rerun(net, job_id, result="a lie")
    assert net.job(job_id)["check_status"] == "failed"
    assert net.broken() == []
    assert wealth() <= start  # the client gained nothing from its sybils' verdict


# --- 4. contradicted and unresolved; seed 0 ----------------------------------------------------------

def test_4_contradicted_result_without_a_second_checker_is_unresolved(make):
    net = make(CHECKED)
    net.ok(*[net.tx(m, "register_miner", **register_fields()) for m in ("miner1", "miner2")])
    job_id = verifying_job(net)
    before = net.balances()
    rerun(net, job_id, result="something else")
    job = net.job(job_id)
    assert job["status"] == "verifying" and job["checker"] == ""  # nobody left to draw: waiting
    for _ in range(CHECKED.check_window_blocks):
        net.ok()
    job = net.job(job_id)
    assert (job["status"], job["check_status"], job["payment"]) == ("failed", "unresolved", 0)
    after = net.balances()
    assert after["miner1"] == before["miner1"]  # the contradicted result is not paid
    assert after["miner2"] - before["miner2"] == 200_000  # the re-run is paid at its price
    # the held payment goes to nobody: the client does not get the inference free
    assert after["alice"] - before["alice"] == 1_000_000 - 200_000 - 250_000
    for m in ("miner1", "miner2"):  # nobody slashed
        assert (net.miner(m)["stake"], net.miner(m)["slashed"]) == (STAKE, 0)
    assert net.supply()["burned"] == 250_000
    assert net.q(f"/receipt/{job_id}")["check_status"] == "unresolved"
    assert net.broken() == []


def test_4_a_lone_sybil_checker_gains_its_client_nothing(make):
    # One lying checker with nobody to outvote it leaves the check unresolved: the honest miner is not
    # paid (documented: it is never slashed), but the held payment is burned, so the client whose
    # sybil lied does not get the inference free.
    net = make(CHECKED, names=("coordinator", "alice", "miner1", "sybil0"))
    net.ok(*[net.tx(m, "register_miner", **register_fields()) for m in ("miner1", "sybil0")])
    wealth = lambda: net.balance("alice") + net.balance("sybil0") + net.miner("sybil0")["stake"]  # noqa: E731
    start, miner_start = wealth(), net.balance("miner1")
    job_id = verifying_job(net)
    rerun(net, job_id, result="a lie")
    for _ in range(CHECKED.check_window_blocks):
        net.ok()
    assert net.broken() == []
    assert net.job(job_id)["check_status"] == "unresolved" and net.balance("miner1") == miner_start
    assert wealth() <= start - 250_000


def test_4_seed_0_gets_a_derived_seed_and_is_checked(make):
    net = make(CHECKED)
    net.ok(*[net.tx(m, "register_miner", **register_fields()) for m in ("miner1", "miner2")])
    options = {"temperature_milli": 800, "seed": 0, "num_predict": 16}
    raw, job_id = net.submit(options=options)
    net.ok(raw)
    seed = net.job(job_id)["seed"]
    assert seed == txlib.job_seed(job_id, 0) != 0
    net.ok(net.tx("coordinator", "assign_job", job_id=job_id, miner=addr("miner1")))
    assert net.block([net.tx("coordinator", "record_receipt", **proof(job_id, "miner1", options=options))]) \
        == [Code.PROOF_MISMATCH]  # ran without the job's seed
    ran = dict(options, seed=seed)
    net.ok(net.tx("coordinator", "record_receipt", **proof(job_id, "miner1", options=ran)))
    assert (net.job(job_id)["status"], net.job(job_id)["checker"]) == ("verifying", addr("miner2"))
    rerun(net, job_id, options=ran)
    assert net.job(job_id)["check_status"] == "passed"


# --- 5. black-hole miner --------------------------------------------------------------------------------

def test_5_black_hole_miner_is_capped_slashed_and_jailed(make):
    params = replace(PARAMS, job_timeout_s=10, jail_strikes=3, jail_duration_s=600, expiry_slash_bps=100)
    net = make(params)
    before = net.snapshot_state()
    too_big = net.tx("miner1", "register_miner", **register_fields(capacity=params.max_capacity + 1))
    assert net.check(too_big).code == Code.INVALID_FIELD
    assert net.block([too_big]) == [Code.INVALID_FIELD]
    net.only_charged(before, "miner1")  # in a block it costs its nonce (and fee), nothing else
    net.ok(net.tx("miner1", "register_miner", **register_fields(capacity=params.max_capacity, stake=2 * STAKE)))
    assert net.block([net.tx("miner1", "update_miner", **offer(capacity=params.max_capacity + 1))]) \
        == [Code.INVALID_FIELD]
    stake, to_alice = 2 * STAKE, 0
    for strike in range(1, 4):
        raw, job_id = net.submit()
        net.ok(raw)
        net.ok(net.tx("coordinator", "assign_job", job_id=job_id, miner=addr("miner1")))
        net.ok(seconds=params.job_timeout_s + 1)  # it never answers
        slash = stake * params.expiry_slash_bps // 10_000
        stake -= slash
        to_alice += slash * params.slash_to_client_bps // 10_000
        assert net.job(job_id)["status"] == "expired"
        m = net.miner("miner1")
        assert (m["stake"], m["expired"]) == (stake, strike)
        assert m["strikes"] == (strike if strike < 3 else 0)
        assert net.broken() == []
    assert stake == 194_059_800
    assert net.balance("alice") == BALANCE + to_alice  # full refunds plus half of each slash
    m = net.miner("miner1")
    assert m["jailed_until_ns"] == net.seconds * NS + params.jail_duration_s * NS
    raw, job_id = net.submit()
    net.ok(raw)
    assert net.block([net.tx("coordinator", "assign_job", job_id=job_id, miner=addr("miner1"))]) \
        == [Code.MINER_JAILED]
    # Re-registering does not get out of jail either.
    net.ok(net.tx("miner1", "unbond"))
    net.ok(net.tx("miner1", "register_miner", **register_fields()))
    assert net.miner("miner1")["jailed_until_ns"] == m["jailed_until_ns"]
    assert net.block([net.tx("coordinator", "assign_job", job_id=job_id, miner=addr("miner1"))]) \
        == [Code.MINER_JAILED]
    raw, job_id = net.submit()  # the first one is near its pending timeout
    net.ok(raw)
    while net.seconds * NS < m["jailed_until_ns"]:
        net.ok(seconds=30)
        if net.seconds * NS < m["jailed_until_ns"]:
            raw, job_id = net.submit()
            net.ok(raw)
    net.ok(net.tx("coordinator", "assign_job", job_id=job_id, miner=addr("miner1")))
    assert net.broken() == []


# --- 6. free txs ------------------------------------------------------------------------------------------

def test_6_fee_below_the_rule_is_refused_and_500_transfers_burn_500_fees(make):
    params = Params()  # the genesis defaults: fees on
    assert params.min_fee and params.fee_per_byte
    net = make(params)
    before = net.snapshot_state()
    probe = net.tx("alice", "transfer", to=addr("bob"), amount=1)
    needed = txlib.required_fee(len(probe), params.min_fee, params.fee_per_byte)
    for fee in (0, needed - 1 - params.fee_per_byte * 2, needed - 1):  # fee varint size may shift the need
        raw = txlib.build(keyof("alice"), CHAIN_ID, 0, "transfer", fee=fee, to=addr("bob"), amount=1)
        assert len(raw) <= len(probe)
        response = net.check(raw)
        assert response.code == Code.FEE_TOO_LOW, response.log
        assert raw not in net.app._verified
        assert net.block([raw]) == [Code.FEE_TOO_LOW]
    assert net.q(f"/nonce/{addr('alice')}")["nonce"] == 0
    assert net.snapshot_state() == before
    # A tx that fails in a block still burns its fee and uses its nonce (it can never be replayed).
    assert net.block([txlib.build(keyof("alice"), CHAIN_ID, 0, "transfer", fee=None, to=addr("bob"),
                                  amount=BALANCE)]) == [Code.INSUFFICIENT_FUNDS]
    net.only_charged(before, "alice")
    before = net.snapshot_state()
    # 500 self-transfers: each burns exactly its fee, nothing else moves.
    txs = [net.tx("alice", "transfer", to=addr("alice"), amount=1) for _ in range(500)]
    fees = [tx_pb2.TxBody.FromString(tx_pb2.Tx.FromString(t).body).fee for t in txs]
    assert all(f == txlib.required_fee(len(t), params.min_fee, params.fee_per_byte) for f, t in zip(fees, txs))
    assert [net.check(t).code for t in txs] == [0] * 500
    alice = net.balance("alice")
    net.ok(*txs)
    assert net.supply()["fees"] == before[5]["fees"] + sum(fees)
    assert net.balance("alice") == alice - sum(fees)
    assert net.balance("bob") == BALANCE
    assert net.broken() == []


def test_6_a_tx_that_failed_in_a_block_cannot_be_replayed_later(make):
    net = make(Params())
    # alice signs a transfer of more than she has; a proposer includes it: it fails.
    stale = txlib.build(keyof("alice"), CHAIN_ID, 0, "transfer", fee=None, to=addr("bob"), amount=BALANCE + 1)
    assert net.block([stale]) == [Code.INSUFFICIENT_FUNDS]
    # Later alice is paid (by anyone), and bob rebroadcasts her old tx.
    net.ok(net.tx("coordinator", "transfer", to=addr("alice"), amount=BALANCE // 2))
    bob = net.balance("bob")
    net.block([stale])
    assert net.balance("bob") == bob  # the failed transfer stays failed


# --- 7. CheckTx cache -----------------------------------------------------------------------------------

def test_7_unknown_accounts_and_junk_proofs_never_enter_the_checktx_cache(make):
    net = make(Params())
    stranger = PrivateKey(hashlib.sha256(b"stranger").digest())
    cached = len(net.app._verified), net.app._verified_bytes
    for i in range(50):
        raw = txlib.build(stranger, CHAIN_ID, i, "transfer", fee=None, to=addr("bob"), amount=1)
        assert net.check(raw).code == Code.UNKNOWN_ACCOUNT
        assert raw not in net.app._verified
    assert (len(net.app._verified), net.app._verified_bytes) == cached
    # A record_receipt whose proof carries an unknown field: refused statelessly, before any state is read.
    net.ok(net.tx("miner1", "register_miner", **register_fields()))
    raw, job_id = net.submit()
    net.ok(raw)
    net.ok(net.tx("coordinator", "assign_job", job_id=job_id, miner=addr("miner1")))
    unknown_field = b"\x98\x06\x01"  # field 99, varint 1
    for junk in (unknown_field, b"\x00"):
        bad = net.tx("coordinator", "record_receipt", **proof(job_id, "miner1", junk=junk))
        with pytest.raises(Exception) as err:
            txlib.decode(bad)
        assert err.value.code == Code.TX_DECODE
        assert net.check(bad).code == Code.TX_DECODE and bad not in net.app._verified
        net.nonces.clear()
    good = net.tx("coordinator", "record_receipt", **proof(job_id, "miner1"))
    assert net.check(good).code == 0 and good in net.app._verified
    before = net.snapshot_state()
    net.block([])  # good never made it into a block: the state is as it was
    assert net.snapshot_state()[:4] == before[:4]


# --- 8. query pages -------------------------------------------------------------------------------------

def test_8_query_pages_are_clamped(make):
    net = make()
    # 1001 + genesis accounts, so that a page can be capped at 1000.
    net.ok(*[net.tx("alice", "transfer", to="aitbc" + hashlib.sha256(str(i).encode()).hexdigest()[:40], amount=1)
             for i in range(1001)])
    raws = []
    for _ in range(2):
        raw, _ = net.submit()
        raws.append(raw)
    net.ok(*raws)
    for limit in ("0", "-5"):
        page = net.q(f"/jobs?limit={limit}")
        assert len(page["items"]) == 1 and page["next"] == page["items"][0]["key"]
        page = net.q(f"/accounts?limit={limit}")
        assert len(page["items"]) == 1 and page["next"]
    page = net.q("/accounts?limit=999999")
    assert len(page["items"]) == 1000 and page["next"] == page["items"][-1]["key"]
    assert len(net.q("/jobs?limit=999999")["items"]) == 2


# --- 9. audit while a job is under check -------------------------------------------------------------------

def snapshot(net: Net) -> audit.Snapshot:
    """What aitbc.audit.read gathers over RPC, from in-process queries."""
    def everything(path: str) -> dict:
        items, after = {}, ""
        while True:
            page = net.q(f"{path}?limit=1000" + (f"&after={after}" if after else ""))
            items.update({i["key"]: i["value"] for i in page["items"]})
            if not page["next"]:
                return items
            after = page["next"]
    return audit.Snapshot(net.app.height, sum(net.genesis.accounts.values()), net.supply(),
                          everything("/accounts"), everything("/escrows"), everything("/jobs"),
                          everything("/receipts"), net.q("/miners"), net.q("/coordinators"))


def test_9_audit_is_ok_while_a_job_is_verifying_and_after(make):
    net = make(replace(Params(), check_share_bps=10_000))  # fees on too
    three_miners(net)
    job_id = verifying_job(net, result="made up")
    net.ok(net.tx("miner1", "unbond"))  # unbonding stake counts as staked
    report = audit.check(snapshot(net))
    assert report.ok, report.as_dict()
    assert snapshot(net).jobs[job_id]["status"] == "verifying"
    rerun(net, job_id, result="true")
    report = audit.check(snapshot(net))
    assert report.ok, report.as_dict()
    rerun(net, job_id, result="true")
    assert net.job(job_id)["check_status"] == "failed"
    report = audit.check(snapshot(net))
    assert report.ok, report.as_dict()
    assert net.supply()["fees"] > 0 and net.supply()["burned"] > 0
    assert net.broken() == []


# --- 11. proof fields -------------------------------------------------------------------------------------

def test_11_incomplete_or_foreign_proofs_are_refused_and_change_nothing(make):
    net = make()
    net.ok(net.tx("miner1", "register_miner", **register_fields(models=(MODEL, "other-model"))))
    raw, job_id = net.submit()
    net.ok(raw)
    net.ok(net.tx("coordinator", "assign_job", job_id=job_id, miner=addr("miner1")))
    before = net.snapshot_state()
    stateless = {"no prompt_hash": dict(drop=("prompt_hash",)), "no options": dict(drop=("options",)),
                 "empty model_digest": dict(digest=""), "no model": dict(drop=("model",)),
                 "no chain_id": dict(drop=("chain_id",))}
    for what, kw in stateless.items():
        bad = net.tx("coordinator", "record_receipt", **proof(job_id, "miner1", **kw))
        assert net.check(bad).code == Code.INVALID_FIELD, what
        assert net.block([bad]) == [Code.INVALID_FIELD], what
    assert net.snapshot_state() == before  # refused before the ante step: nothing at all
    other = net.tx("coordinator", "record_receipt", **proof(job_id, "miner1", model="other-model"))
    assert net.check(other).code == Code.PROOF_MISMATCH
    assert net.block([other]) == [Code.PROOF_MISMATCH]
    assert "model" in net.last.tx_results[0].log
    net.only_charged(before, "coordinator")
    assert net.job(job_id)["status"] == "assigned"
    net.ok(net.tx("coordinator", "record_receipt", **proof(job_id, "miner1")))
    assert net.job(job_id)["status"] == "completed" and net.broken() == []


def test_11_a_made_up_model_digest_does_not_make_a_result_uncheckable(make):
    net = make(CHECKED)
    net.ok(*[net.tx(m, "register_miner", **register_fields()) for m in ("miner1", "miner2")])
    before = net.balance("miner1")
    job_id = verifying_job(net, result="a made-up answer", digest="sha256:nobody-has-this")
    checker = net.name_of(net.job(job_id)["checker"])
    honest = net.tx(checker, "record_check", **proof(job_id, checker, result="the true answer"))
    assert net.block([honest]) == [0]  # the honest re-run on the real weights is recorded
    for _ in range(CHECKED.check_window_blocks):
        net.ok()
    assert net.broken() == []
    assert net.job(job_id)["check_status"] != "lapsed" and net.balance("miner1") == before


# --- suspected attacks --------------------------------------------------------------------------------------

def test_client_cannot_cancel_an_assigned_job_nor_pick_checkers(make):
    net = make(CHECKED)
    net.ok(*[net.tx(m, "register_miner", **register_fields()) for m in ("miner1", "miner2")])
    raw, job_id = net.submit()
    net.ok(raw)
    # cancel in the same block right after the assignment, and again one block later
    assert net.block([net.tx("coordinator", "assign_job", job_id=job_id, miner=addr("miner1")),
                      net.tx("alice", "cancel_job", job_id=job_id)]) == [0, Code.BAD_JOB_STATUS]
    assert net.block([net.tx("alice", "cancel_job", job_id=job_id)]) == [Code.BAD_JOB_STATUS]
    assert net.job(job_id)["status"] == "assigned" and net.balance("alice") == BALANCE - 1_000_000
    # Nobody chooses checkers any more, not even the coordinator.
    for sender in ("coordinator", "alice"):
        assert net.block([net.tx(sender, "assign_check", job_id=job_id, checker=addr("miner2"))]) \
            == [Code.UNAUTHORIZED]
    net.ok(net.tx("coordinator", "record_receipt", **proof(job_id, "miner1")))
    # Only the drawn checker (or the coordinator) reports a re-run; the client cannot.
    assert net.block([net.tx("alice", "record_check", **proof(job_id, "miner2"))]) == [Code.UNAUTHORIZED]
    assert net.block([net.tx("alice", "cancel_job", job_id=job_id)]) == [Code.BAD_JOB_STATUS]
    assert net.broken() == []


def test_miner_front_running_its_price_is_stopped_by_the_client_cap(make):
    net = make()
    net.ok(net.tx("miner1", "register_miner", **register_fields()))
    raw, job_id = net.submit(max_price_per_second=20_000)
    net.ok(raw)
    # The miner raises its price in the block that carries its assignment.
    assert net.block([net.tx("miner1", "update_miner", **offer(price_per_second=10**9)),
                      net.tx("coordinator", "assign_job", job_id=job_id, miner=addr("miner1"))]) \
        == [0, Code.PRICE_ABOVE_CAP]
    assert net.job(job_id)["status"] == "pending" and net.balance("alice") == BALANCE - 1_000_000
    assert net.broken() == []


# --- more suspected attacks ---------------------------------------------------------------------------------

def test_5_black_hole_miner_cannot_dodge_the_strike_with_fail_job(make):
    # Failing its own jobs costs no stake, but counts like an expiry towards jail.
    params = replace(PARAMS, job_timeout_s=600, jail_strikes=3)
    net = make(params)
    net.ok(net.tx("miner1", "register_miner", **register_fields(capacity=params.max_capacity)))
    raws, ids = zip(*[net.submit() for _ in range(params.max_capacity)])
    net.ok(*raws)
    net.ok(*[net.tx("coordinator", "assign_job", job_id=j, miner=addr("miner1")) for j in ids])
    net.ok(seconds=params.job_timeout_s - 5)  # it sits on them ...
    net.ok(*[net.tx("miner1", "fail_job", job_id=j, reason="busy") for j in ids])  # ... and drops them
    assert all(net.job(j)["status"] == "failed" for j in ids)
    m = net.miner("miner1")
    assert m["jailed_until_ns"] > 0 and m["stake"] == STAKE  # jailed, not slashed
    raw, job_id = net.submit()
    net.ok(raw)
    assert net.block([net.tx("coordinator", "assign_job", job_id=job_id, miner=addr("miner1"))]) \
        == [Code.MINER_JAILED]
    assert net.broken() == []


def test_inflated_time_beyond_the_tolerance_is_proven_wrong(make):
    net = make(CHECKED)
    three_miners(net)
    bound = CHECKED.check_time_tolerance_x * 1_000 + CHECKED.check_time_grace_ms  # re-runs take 1 s
    # Within the tolerance: passes and is paid as claimed (up to 12 x the real time: see the report).
    job_id = verifying_job(net, ms=bound)
    rerun(net, job_id, ms=1_000)
    assert (net.job(job_id)["check_status"], net.job(job_id)["payment"]) == ("passed", bound * 20)
    # One ms more, on every re-run: proven wrong and slashed.
    job_id = verifying_job(net, ms=bound + 1)
    rerun(net, job_id, ms=1_000)
    rerun(net, job_id, ms=1_000)
    job = net.job(job_id)
    assert (job["status"], job["check_status"], job["payment"]) == ("failed", "failed", 0)
    assert net.miner("miner1")["stake"] == STAKE // 2
    assert net.broken() == []


def test_default_params_do_not_let_a_miner_bill_phantom_prompt_tokens(make):
    params = Params()
    assert params.check_share_bps == 0
    net = make(params)
    net.ok(net.tx("miner1", "register_miner", **register_fields()))
    raw, job_id = net.submit(max_reward=100_000_000)
    net.ok(raw)
    net.ok(net.tx("coordinator", "assign_job", job_id=job_id, miner=addr("miner1")))
    before = net.balance("miner1")
    # submit_job states the prompt's length: prompt tokens beyond it (plus a template's overhead) are refused.
    padded = net.tx("coordinator", "record_receipt", **proof(
        job_id, "miner1", ms=10**9, tokens=(params.max_tokens_per_job, 16)))
    assert net.block([padded]) == [Code.PROOF_MISMATCH]
    net.ok(net.tx("coordinator", "record_receipt", **proof(job_id, "miner1", ms=10**9, tokens=(15, 16))))
    job = net.job(job_id)
    assert net.broken() == []
    honest = (15 + 16) * params.max_ms_per_token * params.price_per_second // 1000
    assert job["status"] == "completed"
    assert 0 < net.balance("miner1") - before <= honest


def test_a_drawn_checker_cannot_take_the_clients_refund_by_its_price(make):
    # Without a client cap, a checker may not ask more per second than the job's own miner.
    net = make(CHECKED)
    net.ok(net.tx("miner1", "register_miner", **register_fields()),
           net.tx("miner2", "register_miner", **{**register_fields(), "price_per_second": 10**9}))
    alice = net.balance("alice")
    raw, job_id = net.submit()
    net.ok(raw)
    net.ok(net.tx("coordinator", "assign_job", job_id=job_id, miner=addr("miner1")))
    net.ok(net.tx("coordinator", "record_receipt", **proof(job_id, "miner1")))
    assert net.job(job_id)["status"] == "verifying" and net.job(job_id)["checker"] == ""  # never drawn
    for _ in range(CHECKED.check_window_blocks):
        net.ok()
    job = net.job(job_id)
    assert (job["check_status"], job["check_paid"]) == ("lapsed", 0)
    assert net.balance("alice") == alice - 250_000


def test_8_open_job_listing_is_bounded_like_the_pages(make):
    net = make(Params())
    raws = [net.submit(max_reward=1)[0] for _ in range(1001)]
    net.ok(*raws)
    spent = BALANCE - net.balance("alice")
    assert spent < 400_000  # fees plus 1001 uaitbc of escrow
    first = net.q("/jobs/open")
    assert len(first) == 1000
    rest = net.q(f"/jobs/open?after={first[-1]['id']}")
    assert len(rest) == 1 and rest[0]["id"] not in {j["id"] for j in first}
