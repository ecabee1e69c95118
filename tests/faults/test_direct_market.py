"""A market without a coordinator, and with two, on a 4-validator testnet with every part
real (issue 12): cometbft, the ABCI app on LevelDB, a real Ollama serving aitbc-tiny,
miner daemons that watch their node's websocket, coordinators over HTTP, the `aitbc` CLI
as a subprocess.

One stack is shared by the module, in order: direct jobs with no coordinator running
(the CLI's `tx submit-job --wait`); a prompt only its one named miner can read; a miner
that declines what it cannot open; then two coordinators (the genesis one and one that
registered itself) serving their own clients while direct jobs run, all at once; one
coordinator killed; last, a miner killed with a direct job it had taken. Each ends with
the audit clean on every node.
"""

from __future__ import annotations

import hashlib
import json
import re
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from aitbc import sealing, tx as txlib
from aitbc.api.coordinator_client import CoordinatorClient
from aitbc.cli import safe_text
from aitbc.ops.harness import MODEL, wait_for
from aitbc.ops.harness.direct_market import COORDINATORS, FINAL, DirectMarket
from aitbc.ops.harness.marketplace import CHAIN_ID
from tests.faults.checks import audit_all, snapshot

pytestmark = pytest.mark.faults

# Short deadlines, so that the refunds of a dead coordinator's or miner's jobs come within the test.
PARAMS = {"pending_timeout_s": 20, "job_timeout_s": 30}
TINY = ("--num-predict", "16", "--temperature", "0")
WAIT = ("--wait", "--timeout", "150")
LONG = {"num_predict": 4096, "temperature": 0.7}   # seconds of generation on aitbc-tiny


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    try:
        from aitbc.ops.ollama_server import find_ollama
        find_ollama()
    except Exception as err:  # noqa: BLE001
        pytest.skip(str(err))
    stack = DirectMarket(tmp_path_factory.mktemp("direct-market"), validators=4, miners=2, clients=6,
                         chain_params=PARAMS)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        left = stack.leftovers()
        assert left == [], f"processes left running: {left}"


def _address(market: DirectMarket, name: str) -> str:
    return market.keys[name].address


def _logs(market: DirectMarket) -> str:
    """The last lines of every miner's and coordinator's output, for a failure message."""
    services = [*market.miners.values(), *market.coordinators.values()]
    return "".join(f"\n--- {s.log_path} ---\n" + "\n".join(s.log_path.read_text(errors="replace").splitlines()[-15:])
                   for s in services if s.log_path.exists())


def _flowchart(market: DirectMarket, done) -> str:
    """The job id of a `submit-job --wait` that printed the flowchart's final output for a completed job."""
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}{done.stderr}{_logs(market)}"
    out = done.stdout
    assert re.match(r"Job ID: job_[0-9a-f]{16}\nStatus: completed\nResult: ", out), out
    for line in (r"Receipt: rcpt_[0-9a-f]{16}", r"Completed in: \d+(\.\d)? seconds?", r"Cost: \S+ AITBC"):
        assert re.search(f"^{line}$", out, re.M), f"no line {line!r} in:\n{out}"
    return out.splitlines()[0].removeprefix("Job ID: ")


def _checked_direct(market: DirectMarket, client: str, job_id: str) -> tuple[dict, str]:
    """A completed direct job: no coordinator, run by a candidate that kept it, its sealed result
    opened with the client's key and equal (sha256) to the receipt's result hash."""
    job = market.job(job_id)
    assert job["status"] == "completed" and job["coordinator"] == "", job
    assert job["miner"] in job["candidates"] and job["miner"] not in job["declined"], job
    text, receipt = market.open_result(client, job)  # raises when the sha256 differs
    assert hashlib.sha256(text.encode()).hexdigest() == receipt["result_hash"] and receipt["miner"] == job["miner"]
    return job, text


def _audit_clean(market: DirectMarket) -> None:
    audit_all(market)  # aitbc.audit on every node; asserts each report is ok


# --- no coordinator ---------------------------------------------------------------------

def test_direct_jobs_complete_with_no_coordinator_running(market):
    """Four `aitbc tx submit-job --wait` at once, on three nodes, with no coordinator anywhere."""
    assert not market.coordinators and not market.coordinator
    runs = {f"client{i}": (i % 3 + 1, ("--json",) if i == 4 else ()) for i in range(1, 5)}
    with ThreadPoolExecutor(len(runs)) as pool:
        done = {client: pool.submit(market.cli, "tx", "submit-job", "--model", MODEL, "--prompt",
                                    f"what is a blockchain, {client}?", *TINY, "--seed", str(i), *WAIT,
                                    "--from", client, *extra, node=node)
                for i, (client, (node, extra)) in enumerate(runs.items())}
        done = {client: future.result() for client, future in done.items()}
    for client, run in done.items():
        if client == "client4":  # --json: the result and its hash as the CLI checked them
            assert run.returncode == 0, run.stdout + run.stderr + _logs(market)
            shown = json.loads(run.stdout)
            job, text = _checked_direct(market, client, shown["job_id"])
            assert shown["status"] == "completed" and shown["result"] == text
            assert hashlib.sha256(shown["result"].encode()).hexdigest() == shown["result_hash"]
        else:
            job, text = _checked_direct(market, client, _flowchart(market, run))
            assert safe_text.block("Result", text) in run.stdout  # the result printed is the one on chain
    _audit_clean(market)


def test_a_prompt_only_the_named_miner_can_read(market):
    """--miner names one candidate: the submit_job tx a validator serves holds no trace of the prompt,
    the other miner's key cannot open the job key, the named miner's can (and did: it ran the job)."""
    prompt = "Geheimnis für miner1: la réponse est 42 — ne le dis à personne ✓"
    named, other = "miner1", "miner2"
    run = market.cli("tx", "submit-job", "--model", MODEL, "--prompt", prompt, *TINY, "--miner",
                     _address(market, named), *WAIT, "--from", "client5", node=3)
    job, text = _checked_direct(market, "client5", _flowchart(market, run))
    assert job["candidates"] == [_address(market, named)] and job["miner"] == _address(market, named)

    answer = httpx.get(f"{market.node_url(2)}/tx", params={"hash": "0x" + job["submit_tx"]}, timeout=10).text
    raw = market.tx_bytes(job["submit_tx"], node=2)
    for plain in (prompt, "Geheimnis", "réponse", "personne"):
        assert plain.encode() not in raw and plain not in answer, plain
    signed = txlib.decode(raw)
    assert signed.kind == "submit_job" and [m.miner for m in signed.msg.direct.miners] == [_address(market, named)]
    sealed_key = signed.msg.direct.miners[0].sealed_key
    for stranger in (other, "client1", "coordinator"):
        with pytest.raises(sealing.SealingError):
            sealing.open_job_key(sealed_key, market.keys[stranger])
    job_key = sealing.open_job_key(sealed_key, market.keys[named])
    assert sealing.open_text(job_key, signed.msg.direct.sealed_prompt) == prompt
    if len(text) >= 8:  # the result is sealed too (a tiny answer could occur anywhere by chance)
        assert text.encode() not in market.tx_bytes(job["receipt_tx"], node=1)
    _audit_clean(market)


def _submit_drawn_first(market: DirectMarket, client: str, first: str, candidates: list[str], prompt: str,
                        **kwargs):
    """A direct job whose first draw (before any decline) is `first`: the candidates ordered so
    that the chain's stake-weighted draw lands on it; when no order does, a nonce is spent."""
    for _ in range(8):
        nonce, job_id = market.next_job_id(client)
        for order in (candidates, candidates[::-1]):
            if market.drawn_first(job_id, order) == first:
                return market.submit_direct(client, prompt, order, nonce=nonce, **kwargs)
        rpc = market.rpc(0)
        try:  # a cheap transfer moves the nonce on, and with it the job id and the draw
            assert rpc.broadcast(txlib.build(market.keys[client], CHAIN_ID, nonce, "transfer",
                                             to=_address(market, "bob"), amount=1), "commit").ok
        finally:
            rpc.close()
    raise AssertionError(f"no job id of {client} draws {first} first")


def test_a_miner_that_cannot_open_its_key_declines_and_the_other_candidate_serves(market):
    """miner1's job key is sealed to a key it does not hold (bob's); the draw gives it the job
    first: it declines, and the chain gives the job to miner2, which completes it."""
    bad = {"miner1": sealing.encryption_public_key(market.keys["bob"])}
    sent = _submit_drawn_first(market, "client6", "miner1", ["miner1", "miner2"], sealed_to=bad,
                               prompt="why do miners decline?")
    job = market.wait_final(sent.job_id, timeout=120)
    assert job["declined"] == [_address(market, "miner1")], (job, _logs(market))
    assert job["status"] == "completed" and job["miner"] == _address(market, "miner2"), job
    _checked_direct(market, "client6", sent.job_id)
    _audit_clean(market)


# --- two coordinators beside direct jobs --------------------------------------------------

def _through(market: DirectMarket, coordinator: str, client: str, count: int, **options) -> list[str]:
    return [market.submit_to(coordinator, client, f"{client} asks {coordinator}, #{i}", seed=i, **options)
            for i in range(count)]


def _direct(market: DirectMarket, client: str, count: int) -> list[str]:
    return [market.submit_direct(client, f"{client} asks the chain, #{i}", ["miner1", "miner2"], seed=i).job_id
            for i in range(count)]


def _checked_coordinator_job(market: DirectMarket, coordinator: str, job_id: str) -> None:
    """A completed job that names `coordinator` on chain, run by that coordinator's miner, whose result
    (from the coordinator) hashes to the receipt's."""
    job = market.job(job_id)
    assert job["status"] == "completed" and job["coordinator"] == market.coordinator_address(coordinator), job
    assert job["miner"] == _address(market, COORDINATORS[coordinator][1]) and not job["candidates"], job
    receipt = market.query(f"/receipt/{job_id}")
    with CoordinatorClient(market.coordinators[coordinator].url, market.api_keys[coordinator], timeout=10) as api:
        result = api.get_job(job_id).result
    assert hashlib.sha256(result.encode()).hexdigest() == receipt["result_hash"]


def test_two_coordinators_serve_their_clients_while_direct_jobs_run(market):
    """A (genesis) and B (registered itself, own key and bond) each with its own miner and client;
    direct jobs through the library and the CLI; all submitted at once."""
    market.start_coordinators()
    listed = {c["address"]: c for c in market.query("/coordinators")}
    b = listed[_address(market, "coordinator-b")]
    assert b["url"] == market.coordinators["b"].url and not b["genesis"] and b["bond"] > 0, listed
    with ThreadPoolExecutor(4) as pool:
        via_a = pool.submit(_through, market, "a", "client2", 3)
        via_b = pool.submit(_through, market, "b", "client3", 3)
        direct = pool.submit(_direct, market, "client4", 3)
        by_cli = pool.submit(market.cli, "tx", "submit-job", "--model", MODEL, "--prompt", "and the CLI?", *TINY,
                             *WAIT, "--from", "client1", node=1)
        jobs = {"a": via_a.result(), "b": via_b.result(), "direct": direct.result()}
        cli_job = _flowchart(market, by_cli.result())
    for coordinator in ("a", "b"):
        for job_id in jobs[coordinator]:
            assert market.wait_final(job_id, timeout=120)["status"] == "completed", _logs(market)
            _checked_coordinator_job(market, coordinator, job_id)
    for job_id in jobs["direct"]:
        assert market.wait_final(job_id, timeout=120)["status"] == "completed", _logs(market)
        _checked_direct(market, "client4", job_id)
    _checked_direct(market, "client1", cli_job)
    _audit_clean(market)


def test_a_killed_coordinators_jobs_are_refunded_and_the_rest_goes_on(market):
    """B is killed (-9) with long jobs on chain; A's jobs and direct jobs still complete, and the
    chain refunds B's open jobs at their deadlines (pending and assigned alike)."""
    b_jobs = _through(market, "b", "client3", 3, **LONG)
    wait_for(lambda: all(market.job(j) for j in b_jobs), 30, "B's jobs in a block")
    market.kill9_coordinator("b")
    at_kill = {j: market.job(j)["status"] for j in b_jobs}
    open_at_kill = [j for j, status in at_kill.items() if status not in FINAL]
    assert open_at_kill, f"every job of B was over before B died: {at_kill}"

    with ThreadPoolExecutor(2) as pool:
        via_a = pool.submit(_through, market, "a", "client2", 2)
        direct = pool.submit(_direct, market, "client4", 2)
        a_jobs, direct_jobs = via_a.result(), direct.result()
    for job_id in a_jobs:
        assert market.wait_final(job_id, timeout=120)["status"] == "completed", _logs(market)
        _checked_coordinator_job(market, "a", job_id)
    for job_id in direct_jobs:
        assert market.wait_final(job_id, timeout=120)["status"] == "completed", _logs(market)
        _checked_direct(market, "client4", job_id)

    for job_id in open_at_kill:
        job = market.wait_final(job_id, timeout=PARAMS["job_timeout_s"] + 90)
        assert job["status"] == "expired" and job["refund"] == job["max_reward"] and job["payment"] == 0, \
            (at_kill[job_id], job)
    assert market.query(f"/coordinator/{_address(market, 'coordinator-b')}")["open_jobs"] == 0
    _audit_clean(market)


# --- a miner killed with a direct job -------------------------------------------------------

def test_a_miner_killed_with_its_direct_job_leaves_it_refunded_never_lost(market):
    """miner2 (the only candidate) takes a long direct job and is killed (-9) while running it; the
    chain refunds the job at its deadline and releases the escrow. Started again, miner2 serves."""
    before = market.balance_of("client5")
    sent = market.submit_direct("client5", "tell a very long story", ["miner2"], **LONG, seed=7)
    miner2 = _address(market, "miner2")

    def running() -> bool:
        job = market.job(sent.job_id)
        health = httpx.get(f"{market.miners['miner2'].url}/health", timeout=2).json()
        return job is not None and job["status"] == "assigned" and job["miner"] == miner2 \
            and health["active_jobs"] >= 1

    wait_for(running, 60, "miner2 running the job", interval=0.05)
    market.kill9_miner("miner2")
    assert market.job(sent.job_id)["status"] == "assigned"

    job = market.wait_final(sent.job_id, timeout=PARAMS["job_timeout_s"] + 90)
    assert job["status"] == "expired" and job["miner"] == miner2, job
    assert job["refund"] == job["max_reward"] and job["payment"] == 0 and not job["receipt_id"], job
    fee = txlib.body_of(market.tx_bytes(job["submit_tx"])).fee
    assert market.balance_of("client5") == before - fee  # the whole escrow came back
    assert sent.job_id not in snapshot(market).escrows
    _audit_clean(market)

    market.start_miner("miner2")  # it tops its stake up again (the expiry cost it 1 %) and watches
    again = market.submit_direct("client5", "are you back?", ["miner2"])
    assert market.wait_final(again.job_id, timeout=120)["status"] == "completed", _logs(market)
    _checked_direct(market, "client5", again.job_id)
    assert market.job(sent.job_id)["status"] == "expired"
    _audit_clean(market)
