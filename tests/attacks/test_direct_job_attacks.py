"""Attacks on direct jobs and on many coordinators, as signed txs against a real node
(cometbft + our app): a miner or a coordinator touching a job that is not its own, a
client handing its job key to someone who is not the checker, decline games, a
coordinator leaving with open jobs, a job naming a coordinator that does not exist,
receipts with or without a sealed result where the other is due. Each is refused
with its code, and no balance, stake, bond or escrow moves."""

from __future__ import annotations

import time

import pytest

from aitbc import audit, sealing
from aitbc.codes import Code
from aitbc.rpc import ChainRPC, RPCError
from aitbc.ops.factories import (
    KEYS, Signer, direct_fields, receipt_fields, register_fields, sealed_result, submit_fields,
)
from tests.integration.chain_fixtures import start_chain

pytestmark = pytest.mark.attacks
BOND = 100_000_000  # the default min_coordinator_bond
URL = "http://127.0.0.1:18100"


def commit(rpc: ChainRPC, signer: Signer, name: str, kind: str, **fields) -> str:
    """Sign as `name`, wait for the block; the tx must succeed. Returns its hash."""
    raw = signer.tx(name, kind, **fields)
    result = rpc.broadcast(raw, "commit")
    assert result.ok, f"{kind} by {name}: {result.code_name}: {result.log}"
    return result.hash


def submit_direct(rpc: ChainRPC, signer: Signer, candidates: tuple[str, ...]) -> str:
    job_id = signer.next_job_id("alice")
    commit(rpc, signer, "alice", "submit_job", **direct_fields("alice", job_id, candidates))
    return job_id


def submit_via(rpc: ChainRPC, signer: Signer, coordinator: str) -> str:
    job_id = signer.next_job_id("alice")
    commit(rpc, signer, "alice", "submit_job", **submit_fields(), coordinator=KEYS[coordinator].address)
    return job_id


def money(rpc: ChainRPC) -> tuple:
    """Everything an attack could move, read at one height: balances, escrows, jobs, receipts,
    miners' stake and slots, coordinators' bonds and counts, the supply's totals."""
    for _ in range(20):
        try:
            snap = audit.read(rpc)
        except audit.InconsistentRead:
            continue
        accounts = {a: v["balance"] for a, v in snap.accounts.items()}
        return accounts, snap.escrows, snap.jobs, snap.receipts, snap.miners, snap.coordinators, snap.supply
    raise AssertionError("no consistent read")


def refused(rpc: ChainRPC, signer: Signer, name: str, kind: str, code: Code, **fields) -> str:
    """Broadcast as `name` with its next nonce (not used up); the node must refuse it with `code`."""
    raw = signer.tx_with_nonce_offset(name, 0, kind, **fields)
    try:
        result = rpc.broadcast(raw, "sync")
    except RPCError as err:  # pragma: no cover - the node's own refusal carries no code
        raise AssertionError(f"{kind} by {name}: RPC error instead of {code.name}: {err}") from None
    assert result.code == code, f"{kind} by {name}: {result.code_name}: {result.log}"
    assert result.log
    return result.log


def wait_for(rpc: ChainRPC, job_id: str, status: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = rpc.query(f"/job/{job_id}")
        if job["status"] == status:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} is {job['status']}, never {status}")


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    """A node where every receipt is spot-checked, with long timeouts and a long check window:
    miner1 and miner2 with encryption keys, bob a registered coordinator, and jobs to attack."""
    node = start_chain(tmp_path_factory.mktemp("direct-attacks") / "node", pending_timeout_s=3600,
                       job_timeout_s=3600, check_share_bps=10_000, check_window_blocks=100_000)
    rpc = ChainRPC(node.rpc)
    try:
        signer = Signer(fee=None)
        for name in ("miner1", "miner2"):
            commit(rpc, signer, name, "register_miner", **register_fields(capacity=4, sealing_key=name))
        commit(rpc, signer, "bob", "register_coordinator", url=URL, bond=BOND)
        world = {"rpc": rpc, "signer": signer}
        world["direct"] = submit_direct(rpc, signer, ("miner1",))             # assigned to miner1
        world["bobs"] = submit_via(rpc, signer, "bob")
        commit(rpc, signer, "bob", "assign_job", job_id=world["bobs"], miner=KEYS["miner2"].address)
        world["genesis"] = submit_via(rpc, signer, "coordinator")
        commit(rpc, signer, "coordinator", "assign_job", job_id=world["genesis"], miner=KEYS["miner2"].address)
        world["pending_bobs"] = submit_via(rpc, signer, "bob")
        world["genesis_pending"] = submit_via(rpc, signer, "coordinator")
        # a direct job under check: miner2 (the only other miner with a key) is drawn to re-run it
        world["checked"] = submit_direct(rpc, signer, ("miner1",))
        commit(rpc, signer, "miner1", "record_receipt", **receipt_fields(world["checked"]),
               sealed_result=sealed_result("alice", world["checked"]))
        checked = rpc.query(f"/job/{world['checked']}")
        assert (checked["status"], checked["checker"]) == ("verifying", KEYS["miner2"].address)
        yield world
    finally:
        rpc.close()
        node.stop()


@pytest.fixture
def unchanged(market):
    """Asserts that the test moved nothing, and that the audit is clean."""
    rpc = market["rpc"]
    before = money(rpc)
    yield
    assert money(rpc) == before
    assert audit.check(audit.read(rpc)).ok


def test_only_the_assigned_miner_records_a_direct_receipt(market, unchanged):
    rpc, s, job = market["rpc"], market["signer"], market["direct"]
    sealed = sealed_result("alice", job)
    # a miner that is not a candidate, with its own proof or with the assigned miner's
    refused(rpc, s, "miner2", "record_receipt", Code.UNAUTHORIZED, **receipt_fields(job, miner="miner2"),
            sealed_result=sealed)
    refused(rpc, s, "miner2", "record_receipt", Code.UNAUTHORIZED, **receipt_fields(job, miner="miner1"),
            sealed_result=sealed)
    # coordinators have no say over a direct job
    for coordinator in ("coordinator", "bob"):
        refused(rpc, s, coordinator, "record_receipt", Code.UNAUTHORIZED, **receipt_fields(job), sealed_result=sealed)
        refused(rpc, s, coordinator, "assign_job", Code.UNAUTHORIZED, job_id=job, miner=KEYS["miner2"].address)
        refused(rpc, s, coordinator, "fail_job", Code.UNAUTHORIZED, job_id=job)
    # the client cannot decline or fail the job its miner holds
    refused(rpc, s, "alice", "decline_job", Code.UNAUTHORIZED, job_id=job)
    refused(rpc, s, "alice", "fail_job", Code.UNAUTHORIZED, job_id=job)


def test_a_coordinator_touches_only_its_own_jobs(market, unchanged):
    rpc, s = market["rpc"], market["signer"]
    bobs, genesis = market["bobs"], market["genesis"]
    miner1 = KEYS["miner1"].address
    refused(rpc, s, "coordinator", "record_receipt", Code.UNAUTHORIZED, **receipt_fields(bobs, miner="miner2"))
    refused(rpc, s, "coordinator", "fail_job", Code.UNAUTHORIZED, job_id=bobs)
    refused(rpc, s, "bob", "record_receipt", Code.UNAUTHORIZED, **receipt_fields(genesis, miner="miner2"))
    refused(rpc, s, "bob", "fail_job", Code.UNAUTHORIZED, job_id=genesis)
    pending = market["pending_bobs"]
    refused(rpc, s, "coordinator", "assign_job", Code.UNAUTHORIZED, job_id=pending, miner=miner1)
    refused(rpc, s, "miner1", "assign_job", Code.UNAUTHORIZED, job_id=pending, miner=miner1)
    refused(rpc, s, "bob", "assign_job", Code.UNAUTHORIZED, job_id=market["genesis_pending"], miner=miner1)


def test_receipts_carry_a_sealed_result_exactly_when_direct(market, unchanged):
    rpc, s = market["rpc"], market["signer"]
    log = refused(rpc, s, "miner1", "record_receipt", Code.INVALID_FIELD, **receipt_fields(market["direct"]))
    assert "sealed_result" in log
    log = refused(rpc, s, "bob", "record_receipt", Code.INVALID_FIELD, **receipt_fields(market["bobs"], miner="miner2"),
                  sealed_result=sealed_result("alice", market["bobs"]))
    assert "sealed_result" in log


def test_the_job_key_goes_to_the_checker_only(market, unchanged):
    rpc, s, job = market["rpc"], market["signer"], market["checked"]
    job_key = sealing.job_key(KEYS["alice"], job)
    for stranger in ("bob", "miner1", "coordinator"):
        sealed = sealing.seal_job_key(job_key, sealing.encryption_public_key(KEYS[stranger]))
        refused(rpc, s, "alice", "share_job_key", Code.INVALID_FIELD, job_id=job, recipient=KEYS[stranger].address,
                sealed_key=sealed)
    to_checker = sealing.seal_job_key(job_key, sealing.encryption_public_key(KEYS["miner2"]))
    refused(rpc, s, "bob", "share_job_key", Code.UNAUTHORIZED, job_id=job, recipient=KEYS["miner2"].address,
            sealed_key=to_checker)
    refused(rpc, s, "alice", "share_job_key", Code.UNAUTHORIZED, job_id=market["bobs"],
            recipient=KEYS["miner2"].address, sealed_key=to_checker)
    refused(rpc, s, "alice", "share_job_key", Code.BAD_JOB_STATUS, job_id=market["direct"],
            recipient=KEYS["miner2"].address, sealed_key=to_checker)
    assert rpc.query(f"/job/{job}")["shared_keys"] == []


def test_a_coordinator_with_open_jobs_cannot_leave(market, unchanged):
    rpc, s = market["rpc"], market["signer"]
    open_jobs = rpc.query(f"/coordinator/{KEYS['bob'].address}")["open_jobs"]
    assert open_jobs >= 1
    log = refused(rpc, s, "bob", "unregister_coordinator", Code.COORDINATOR_BUSY)
    assert f"{open_jobs} open job" in log
    refused(rpc, s, "coordinator", "unregister_coordinator", Code.UNAUTHORIZED)
    refused(rpc, s, "alice", "unregister_coordinator", Code.UNKNOWN_COORDINATOR)
    refused(rpc, s, "bob", "register_coordinator", Code.COORDINATOR_EXISTS, url=URL, bond=BOND)


def test_a_job_cannot_name_a_coordinator_that_is_not_one(market, unchanged):
    rpc, s = market["rpc"], market["signer"]
    for name in ("miner1", "alice"):
        refused(rpc, s, "alice", "submit_job", Code.UNKNOWN_COORDINATOR, **submit_fields(),
                coordinator=KEYS[name].address)
    refused(rpc, s, "miner1", "assign_job", Code.UNAUTHORIZED, job_id=market["bobs"], miner=KEYS["miner1"].address)


def test_a_declined_miner_never_gets_the_job_back(market):
    rpc, s = market["rpc"], market["signer"]
    job = submit_direct(rpc, s, ("miner1",))
    assert rpc.query(f"/job/{job}")["miner"] == KEYS["miner1"].address
    commit(rpc, s, "miner1", "decline_job", job_id=job, reason="prompt does not open")
    before = money(rpc)
    declined = before[2][job]
    assert (declined["status"], declined["miner"], declined["declined"]) == ("pending", "", [KEYS["miner1"].address])
    height = rpc.status()["sync_info"]["latest_block_height"]
    while rpc.status()["sync_info"]["latest_block_height"] == height:  # a block start retries the job
        time.sleep(0.2)
    assert rpc.query(f"/job/{job}")["status"] == "pending"
    # having declined, it can neither deliver nor give up nor decline again, nor be named by a coordinator
    refused(rpc, s, "miner1", "record_receipt", Code.UNAUTHORIZED, **receipt_fields(job),
            sealed_result=sealed_result("alice", job))
    refused(rpc, s, "miner1", "fail_job", Code.UNAUTHORIZED, job_id=job)
    refused(rpc, s, "miner1", "decline_job", Code.BAD_JOB_STATUS, job_id=job)
    refused(rpc, s, "coordinator", "assign_job", Code.UNAUTHORIZED, job_id=job, miner=KEYS["miner1"].address)
    assert money(rpc) == before
    # the client takes its escrow back
    commit(rpc, s, "alice", "cancel_job", job_id=job)
    assert rpc.query(f"/job/{job}")["refund"] == declined["max_reward"]
    assert audit.check(audit.read(rpc)).ok


@pytest.fixture(scope="module")
def short(tmp_path_factory):
    """A node whose jobs expire within seconds."""
    node = start_chain(tmp_path_factory.mktemp("direct-expiry") / "node", pending_timeout_s=3, job_timeout_s=3)
    rpc = ChainRPC(node.rpc)
    try:
        yield rpc
    finally:
        rpc.close()
        node.stop()


def test_a_miner_cannot_decline_to_dodge_an_expiry(short):
    rpc, s = short, Signer(fee=None)
    commit(rpc, s, "miner1", "register_miner", **register_fields(sealing_key="miner1"))
    job = submit_direct(rpc, s, ("miner1",))
    assert rpc.query(f"/job/{job}")["status"] == "assigned"
    expired = wait_for(rpc, job, "expired")
    assert expired["refund"] == expired["max_reward"]
    before = money(rpc)
    miner = next(m for m in before[4] if m["address"] == KEYS["miner1"].address)
    assert (miner["expired"], miner["strikes"], miner["active_jobs"]) == (1, 1, 0)
    assert miner["stake"] < register_fields()["stake"]  # the expiry's slash stands
    refused(rpc, s, "miner1", "decline_job", Code.BAD_JOB_STATUS, job_id=job)
    refused(rpc, s, "miner1", "record_receipt", Code.BAD_JOB_STATUS, **receipt_fields(job),
            sealed_result=sealed_result("alice", job))
    assert money(rpc) == before
    assert audit.check(audit.read(rpc)).ok
