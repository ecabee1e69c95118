"""Attacks on direct jobs and on many coordinators, as signed txs against a real node
(cometbft + our app): a miner or a coordinator touching a job that is not its own, a
client handing its job key to someone who is not the checker, decline games, a
coordinator leaving with open jobs, a job naming a coordinator that does not exist,
receipts with or without a sealed result where the other is due. Each is refused
with its code, and no balance, stake, bond or escrow moves.

And the red team's economic attacks (docs/direct-jobs.md, "Attacks and the rules that
stop them"), each with the exact amounts that move: a rival holding a coordinator's bond
hostage with jobs that name it, a miner sitting on a job and declining it late, a miner
that seals garbage behind the right result hash (and a client disputing an honest one),
a candidate raising its price under a job the CLI submitted."""

from __future__ import annotations

import base64
import json
import time

import pytest
from click.testing import CliRunner

from aitbc import audit, sealing, tx as txlib
from aitbc.cli.context import Context
from aitbc.cli.main import cli as root
from aitbc.codes import Code
from aitbc.keyring import Keyring
from aitbc.rpc import ChainRPC, QueryFailed, RPCError
from aitbc.ops.factories import (
    KEYS, Signer, direct_fields, receipt_fields, register_fields, sealed_result, submit_fields,
)
from aitbc.ops import procs
from aitbc.ops.harness import indexed_tx
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
    snap = audit.consistent_read(rpc)
    accounts = {a: v["balance"] for a, v in snap.accounts.items()}
    return accounts, snap.escrows, snap.jobs, snap.receipts, snap.miners, snap.coordinators, snap.supply


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


def after_a_block_start(rpc: ChainRPC, timeout: float = 30) -> None:
    """Wait until the app has committed a block it had not committed when called: that block's
    start ran after every tx committed before the call. (The node's latest height is not the
    signal: CometBFT stores a block before the app has run it.)"""
    def app_height() -> int:
        return int(rpc.call("abci_info")["response"].get("last_block_height", 0))

    height = app_height()
    procs.wait_until(lambda: app_height() > height, timeout, f"a block after {height} committed by the app")


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
    assert audit.audit(rpc).ok


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


def test_only_a_registered_coordinator_leaves_or_joins_once(market, unchanged):
    rpc, s = market["rpc"], market["signer"]
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
    after_a_block_start(rpc)  # which retries the job
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
    assert audit.audit(rpc).ok


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
    assert audit.audit(rpc).ok


# --- the red team's economic attacks: exact amounts -------------------------------------------

def balance(rpc: ChainRPC, name: str) -> int:
    return rpc.query(f"/account/{KEYS[name].address}")["balance"]


def fee(rpc: ChainRPC, tx_hash: str) -> int:
    """What a committed tx burned."""
    return txlib.body_of(base64.b64decode(indexed_tx(rpc, tx_hash)["tx"])).fee


def resync(rpc: ChainRPC, signer: Signer, name: str) -> None:
    """After the CLI signed as `name`: the signer's next nonce is the chain's."""
    signer.nonces[KEYS[name].address] = rpc.query(f"/nonce/{KEYS[name].address}")["nonce"]


def stake(rpc: ChainRPC, name: str) -> dict:
    return rpc.query(f"/miner/{KEYS[name].address}")


@pytest.fixture(scope="module")
def rules(tmp_path_factory):
    """A node where nothing expires during a test, no receipt is spot-checked (results are paid at
    once) and a decline in any later block than the assignment is late (decline_grace_s 0);
    miner1 and miner2 with encryption keys; the CLI's home holds alice's key."""
    home = tmp_path_factory.mktemp("direct-rules")
    node = start_chain(home / "node", pending_timeout_s=3600, job_timeout_s=3600, decline_grace_s=0)
    rpc = ChainRPC(node.rpc)
    try:
        signer = Signer(fee=None)
        for name in ("miner1", "miner2"):
            commit(rpc, signer, name, "register_miner", **register_fields(capacity=4, sealing_key=name))
        Keyring(home / "cli" / "keys").add("alice", KEYS["alice"])

        def cli(*args: str):
            env = {"AITBC_HOME": str(home / "cli"), "AITBC_NODE": node.rpc}
            return CliRunner().invoke(root, list(args), env=env, obj=Context(), catch_exceptions=False)

        yield {"rpc": rpc, "signer": signer, "cli": cli}
    finally:
        rpc.close()
        node.stop()


def test_naming_a_coordinator_in_cheap_jobs_cannot_hold_its_bond(rules):
    """Before: unregister was refused while any job naming the coordinator was open, so a rival that
    kept submitting jobs naming it (each refunded at its deadline; the rival paid only fees) kept
    its bond locked for good. Now unregister makes it leaving: no new job may name it, and the bond
    comes back when the last open one closes."""
    rpc, s = rules["rpc"], rules["signer"]
    bob = KEYS["bob"].address
    commit(rpc, s, "bob", "register_coordinator", url=URL, bond=BOND)
    griefing = submit_via(rpc, s, "bob")  # alice, the rival, names bob in a job bob never serves
    left = commit(rpc, s, "bob", "unregister_coordinator")
    leaving = rpc.query(f"/coordinator/{bob}")
    assert leaving["leaving_height"] > 0 and (leaving["open_jobs"], leaving["bond"]) == (1, BOND)
    before = money(rpc)
    # the rival's next job naming bob, a second unregister, a re-registration: refused, nothing moves
    log = refused(rpc, s, "alice", "submit_job", Code.COORDINATOR_LEAVING, **submit_fields(), coordinator=bob)
    assert "leaving" in log
    refused(rpc, s, "bob", "unregister_coordinator", Code.COORDINATOR_LEAVING)
    refused(rpc, s, "bob", "register_coordinator", Code.COORDINATOR_EXISTS, url=URL, bond=BOND)
    assert money(rpc) == before
    # bob still answers for the open job (here it fails it, as it may), and its close returns the bond
    bob_before, alice_before = balance(rpc, "bob"), balance(rpc, "alice")
    failed = commit(rpc, s, "bob", "fail_job", job_id=griefing, reason="leaving")
    assert balance(rpc, "bob") == bob_before - fee(rpc, failed) + BOND
    assert balance(rpc, "alice") == alice_before + submit_fields()["max_reward"]
    with pytest.raises(QueryFailed):
        rpc.query(f"/coordinator/{bob}")
    assert fee(rpc, left) > 0 and audit.audit(rpc).ok


def test_a_miner_that_sits_on_a_job_and_declines_late_gets_a_strike(rules):
    """Before: a decline was always free, so a miner could hold direct jobs until just before their
    expiry and hand them back for nothing (fail_job costs a strike for exactly that)."""
    rpc, s = rules["rpc"], rules["signer"]
    job = submit_direct(rpc, s, ("miner1",))
    assert rpc.query(f"/job/{job}")["miner"] == KEYS["miner1"].address
    held = stake(rpc, "miner1")
    commit(rpc, s, "miner1", "decline_job", job_id=job, reason="sat on it")  # a later block: past the grace
    after = stake(rpc, "miner1")
    assert (after["strikes"], after["stake"], after["active_jobs"]) == (held["strikes"] + 1, held["stake"],
                                                                        held["active_jobs"] - 1)
    declined = rpc.query(f"/job/{job}")
    assert (declined["status"], declined["declined"]) == ("pending", [KEYS["miner1"].address])
    commit(rpc, s, "alice", "cancel_job", job_id=job)
    assert rpc.query(f"/job/{job}")["refund"] == declined["max_reward"]
    assert audit.audit(rpc).ok


def test_a_miner_that_seals_garbage_behind_the_right_hash_is_proven_and_pays_back(rules):
    """Before: a miner that ran the job and committed the right result hash could seal garbage;
    every spot check passed on the hash and the client paid for nothing it could read. Now the
    client proves it with dispute_result: the miner is slashed and the payment comes back."""
    rpc, s, cli = rules["rpc"], rules["signer"], rules["cli"]
    job_id = submit_direct(rpc, s, ("miner2",))
    commit(rpc, s, "miner2", "record_receipt", **receipt_fields(job_id, miner="miner2"), sealed_result=b"\x00" * 64)
    paid = rpc.query(f"/job/{job_id}")
    assert paid["status"] == "completed" and paid["payment"] > 0
    # the client's own check fails, and tells it what to do (exit code unchanged: 6)
    shown = cli("query", "job-result", job_id, "--from", "alice")
    assert shown.exit_code == 6 and f"aitbc tx dispute-result {job_id}" in shown.output, shown.output
    cheat, alice_before, supply = stake(rpc, "miner2"), balance(rpc, "alice"), rpc.query("/supply")
    disputed = cli("tx", "dispute-result", job_id, "--from", "alice", "--json")
    assert disputed.exit_code == 0, disputed.output
    sent = json.loads(disputed.output)
    slash = (cheat["stake"] + cheat["unbonding"]) * rpc.query("/params")["slash_bps"] // 10_000
    assert balance(rpc, "alice") == alice_before - fee(rpc, sent["hash"]) + paid["payment"]
    job = rpc.query(f"/job/{job_id}")
    assert (job["compensation"], job["disputed_height"]) == (paid["payment"], sent["height"])
    assert stake(rpc, "miner2")["stake"] == cheat["stake"] - slash
    assert rpc.query("/supply")["burned"] == supply["burned"] + slash - paid["payment"]
    assert rpc.query(f"/receipt/{job_id}")["slashed"] == slash
    # once: a second dispute moves nothing
    before = money(rpc)
    again = cli("tx", "dispute-result", job_id, "--from", "alice")
    assert again.exit_code != 0
    assert money(rpc) == before and audit.audit(rpc).ok
    resync(rpc, s, "alice")


def test_an_honest_result_cannot_be_disputed(rules):
    """A client that wants its money back for a good result: the CLI refuses to send, and the chain
    refuses the dispute (RESULT_MATCHES) or a forged key (INVALID_FIELD); nothing moves."""
    rpc, s, cli = rules["rpc"], rules["signer"], rules["cli"]
    job_id = s.next_job_id("alice")
    fields = direct_fields("alice", job_id, ("miner1",))
    commit(rpc, s, "alice", "submit_job", **fields)
    honest = sealed_result("alice", job_id)
    commit(rpc, s, "miner1", "record_receipt", **receipt_fields(job_id), sealed_result=honest)
    before = money(rpc)
    told = cli("tx", "dispute-result", job_id, "--from", "alice")
    assert told.exit_code == 1 and "nothing to dispute" in told.output, told.output
    sealed_prompt = fields["direct"].sealed_prompt
    refused(rpc, s, "alice", "dispute_result", Code.RESULT_MATCHES, job_id=job_id, sealed_prompt=sealed_prompt,
            sealed_result=honest, job_key=sealing.job_key(KEYS["alice"], job_id))
    # a key that is not the job's (here, another job's) would "prove" anything: it does not open the prompt
    refused(rpc, s, "alice", "dispute_result", Code.INVALID_FIELD, job_id=job_id, sealed_prompt=sealed_prompt,
            sealed_result=honest, job_key=sealing.job_key(KEYS["alice"], "job_other"))
    refused(rpc, s, "bob", "dispute_result", Code.UNAUTHORIZED, job_id=job_id, sealed_prompt=sealed_prompt,
            sealed_result=honest, job_key=sealing.job_key(KEYS["alice"], job_id))
    assert money(rpc) == before and audit.audit(rpc).ok


def test_a_candidate_cannot_raise_its_price_under_a_cli_job(rules):
    """Before: with no --max-price the job had no cap, so a candidate that raised its price
    (update_miner) before the job was assigned, in the same block or while it waited, was paid the
    new price. Now the CLI caps a direct job at the highest price among its candidates as it read them."""
    rpc, s, cli = rules["rpc"], rules["signer"], rules["cli"]
    price = stake(rpc, "miner1")["price_per_second"]
    submitted = cli("tx", "submit-job", "--model", "aitbc-tiny", "--prompt", "hi", "--miner",
                    KEYS["miner1"].address, "--from", "alice", "--json")
    assert submitted.exit_code == 0, submitted.output
    sent = json.loads(submitted.output)
    job = rpc.query(f"/job/{sent['job_id']}")
    assert (job["max_price_per_second"], job["price_per_second"]) == (price, price)
    resync(rpc, s, "alice")
    # the front-run: the job is signed with the cap the CLI read; the raise lands first
    job_id = s.next_job_id("alice")
    raw = s.tx("alice", "submit_job", **direct_fields("alice", job_id, ("miner1",), max_price_per_second=price))
    offer = {k: v for k, v in register_fields(capacity=4, sealing_key="miner1").items() if k != "stake"}
    commit(rpc, s, "miner1", "update_miner", **{**offer, "price_per_second": 10 * price})
    assert rpc.broadcast(raw, "commit").ok
    waiting = rpc.query(f"/job/{job_id}")
    assert (waiting["status"], waiting["miner"], waiting["price_per_second"]) == ("pending", "", 0)
    before = money(rpc)
    after_a_block_start(rpc)  # which retries it: still too dear
    assert rpc.query(f"/job/{job_id}")["status"] == "pending"
    assert money(rpc) == before
    commit(rpc, s, "miner1", "update_miner", **offer)  # back to its price: it gets the job at that price
    after_a_block_start(rpc)
    taken = rpc.query(f"/job/{job_id}")
    assert (taken["status"], taken["price_per_second"]) == ("assigned", price)
    assert audit.audit(rpc).ok


def test_a_miners_sybil_client_cannot_work_off_its_strikes(rules):
    """Before: every completed job worked off a strike, so a miner could name itself in direct jobs
    of its own second key (bob) for the price of two fees per strike, and its faults never added up
    to jail. Now only a job the genesis coordinator assigned, or a passed spot check, works one off."""
    rpc, s = rules["rpc"], rules["signer"]  # (miner2 was slashed below the minimum stake above)
    faulty = submit_direct(rpc, s, ("miner1",))
    commit(rpc, s, "miner1", "fail_job", job_id=faulty, reason="gave up")
    struck = stake(rpc, "miner1")
    assert struck["strikes"] >= 1
    for _ in range(2):
        job_id = s.next_job_id("bob")
        commit(rpc, s, "bob", "submit_job", **direct_fields("bob", job_id, ("miner1",)))
        commit(rpc, s, "miner1", "record_receipt", **receipt_fields(job_id, miner="miner1"),
               sealed_result=sealed_result("bob", job_id))
        assert rpc.query(f"/job/{job_id}")["status"] == "completed"
    after = stake(rpc, "miner1")
    assert (after["strikes"], after["completed"]) == (struck["strikes"], struck["completed"] + 2)
    assert audit.audit(rpc).ok
