"""Direct jobs with every part real and no coordinator anywhere (issue 12).

A single node (cometbft + our app) whose genesis checks every receipt, a real Ollama
serving the generated tiny model, and two miner daemons started with
`--no-coordinator`: they register their encryption keys, watch the node's websocket
and report to the chain themselves. The client is `aitbc tx submit-job --wait`.

miner1 stakes 900 AITBC and miner2 1 AITBC, so the chain's stake-weighted draw
gives a job naming both to miner1 first (odds 900:1, and the draw is a fixed
function of the job id): that is how the decline test knows who declines.
"""

# ruff: noqa: F811  (imported fixtures are redefined as test parameters)

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from aitbc import jobspec, sealing, tx as txlib
from aitbc.cli.context import Context
from aitbc.cli.main import cli as root
from aitbc.keyring import Keyring
from aitbc.miner.ollama_client import ModelInfo
from aitbc.ops.factories import CHAIN_ID, KEYS
from aitbc.ops.harness import ChainStack, MinerProcess, indexed_tx, wait_for
from aitbc.ops.ollama_server import TINY_MODEL_NAME, OllamaServer
from tests.integration.ollama_fixtures import (  # noqa: F401 (fixtures)
    ollama_server, tiny_model, tiny_model_path,
)

pytestmark = pytest.mark.integration

PROMPT = "why is the sky blue"
RUN = ("--num-predict", "16", "--seed", "42", "--temperature", "0")
FINAL = ("completed", "failed", "expired", "cancelled")
# Every receipt is spot-checked (a direct job's checker needs the key the client shares);
# short deadlines so that the refund paths end within seconds.
PARAMS = dict(min_miner_stake=1_000_000, pending_timeout_s=8, job_timeout_s=30, check_share_bps=10_000,
              check_window_blocks=20)


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainStack]:
    stack = ChainStack(tmp_path_factory.mktemp("chain"), **PARAMS)
    try:
        yield stack.start()
    finally:
        stack.stop()


def _miner(root_dir: Path, name: str, chain: ChainStack, ollama: OllamaServer, stake: str) -> MinerProcess:
    return MinerProcess(root_dir, name, chain, "", ollama.url, model=TINY_MODEL_NAME,
                        extra_args=("--no-coordinator", "--stake", stake, "--resync-interval", "5"))


def _subscribed(miner: MinerProcess) -> bool:
    return httpx.get(miner.url + "/health", timeout=2).json().get("chain_events") == "subscribed"


@pytest.fixture(scope="module")
def miners(tmp_path_factory, chain: ChainStack, ollama_server: OllamaServer,
           tiny_model: ModelInfo) -> Iterator[dict[str, MinerProcess]]:
    root_dir = tmp_path_factory.mktemp("miners")
    started = {"miner1": _miner(root_dir, "miner1", chain, ollama_server, "900aitbc"),
               "miner2": _miner(root_dir, "miner2", chain, ollama_server, "1aitbc")}
    try:
        for miner in started.values():
            miner.start()
            wait_for(lambda m=miner: _subscribed(m), 30, f"{miner.name} subscribed to the chain's events")
        yield started
    finally:
        for miner in started.values():
            miner.stop()


@pytest.fixture(scope="module")
def cli(tmp_path_factory, chain: ChainStack):
    home = tmp_path_factory.mktemp("home")
    for name in ("alice", "bob"):
        Keyring(home / "keys").add(name, KEYS[name])
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(root, list(args), env={"AITBC_HOME": str(home), "AITBC_NODE": chain.url},
                             obj=Context(), catch_exceptions=False)

    return invoke


def _final(chain: ChainStack, job_id: str, timeout: float = 90) -> dict:
    return wait_for(lambda: (j := chain.job(job_id)) is not None and j["status"] in FINAL and j, timeout,
                    f"job {job_id} final")


def _tx_bytes(chain: ChainStack, tx_hash: str) -> bytes:
    return base64.b64decode(indexed_tx(chain.rpc, tx_hash)["tx"])


def _direct_submit(chain: ChainStack, candidates: dict[str, bytes], prompt: str = PROMPT) -> str:
    """alice's direct job with the job key sealed to each candidate's given encryption key; its id."""
    alice = KEYS["alice"]
    nonce = chain.next_nonce("alice")
    job_id = txlib.job_id_for(alice.address, nonce, CHAIN_ID)
    key = sealing.job_key(alice, job_id)
    direct = {"sealed_prompt": sealing.seal_text(key, prompt),
              "miners": [{"miner": KEYS[name].address, "sealed_key": sealing.seal_job_key(key, encryption_key)}
                         for name, encryption_key in candidates.items()]}
    raw = txlib.build(alice, CHAIN_ID, nonce, "submit_job", job_type="inference", model=TINY_MODEL_NAME,
                      prompt_hash=jobspec.prompt_hash(prompt), prompt_bytes=len(prompt.encode()),
                      max_reward=1_000_000, options={"temperature_milli": 0, "seed": 42, "num_predict": 16},
                      direct=direct)
    result = chain.rpc.broadcast(raw, "commit")
    assert result.ok, result.log
    return job_id


def _log_events(miner: MinerProcess) -> list[dict]:
    path = miner.root / miner.name / "miner.log"
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def test_submit_job_wait_prints_the_checked_result(chain, miners, cli) -> None:
    result = cli("tx", "submit-job", "--model", TINY_MODEL_NAME, "--prompt", PROMPT, *RUN, "--wait",
                 "--timeout", "120")
    logs = "".join(m.log_path.read_text()[-2000:] for m in miners.values())
    assert result.exit_code == 0, result.stdout + result.stderr + logs
    lines = result.stdout.strip().splitlines()
    assert re.fullmatch(r"Job ID: job_[0-9a-f]{16}", lines[0]), result.stdout
    assert lines[1] == "Status: completed" and lines[2].startswith("Result: "), result.stdout
    assert re.fullmatch(r"Receipt: rcpt_[0-9a-f]{16}", lines[-4]), result.stdout
    assert re.fullmatch(r"Completed in: \d+(\.\d)? seconds?", lines[-3]) and lines[-2].startswith("Cost: ")
    assert lines[-1].startswith("Fee: ")
    job_id = lines[0].split(": ")[1]
    assert "job key shared with checker" in result.stderr  # every receipt is checked here

    job = chain.job(job_id)
    assert job["coordinator"] == "" and job["miner"] in {KEYS["miner1"].address, KEYS["miner2"].address}
    assert job["check_status"] == "passed" and job["checkers"] == [a for a in (KEYS["miner1"].address,
                                                                               KEYS["miner2"].address)
                                                                   if a != job["miner"]]
    again = cli("query", "job-result", job_id, "--json")
    assert again.exit_code == 0, again.stderr
    text = json.loads(again.stdout)["result"]
    receipt = chain.rpc.query(f"/receipt/{job_id}")
    assert hashlib.sha256(text.encode()).hexdigest() == receipt["result_hash"]
    # What the chain holds is ciphertext: neither the prompt nor the result is in the txs' bytes.
    for tx_hash, plain in ((job["submit_tx"], PROMPT), (job["receipt_tx"], text)):
        raw = _tx_bytes(chain, tx_hash)
        assert plain.encode() not in raw
    # Another key cannot open it, and says so.
    stranger = cli("query", "job-result", job_id, "--from", "bob")
    assert stranger.exit_code == 6 and "does not open" in stranger.stderr


def test_a_miner_that_cannot_open_the_prompt_declines_and_the_other_candidate_serves(chain, miners, cli) -> None:
    # miner1's job key is sealed to a key it does not hold; miner2's is good.
    job_id = _direct_submit(chain, {"miner1": sealing.encryption_public_key(KEYS["bob"]),
                                    "miner2": sealing.encryption_public_key(KEYS["miner2"])})
    wait_for(lambda: (j := chain.job(job_id))["status"] in ("verifying", *FINAL) and j, 60, "receipt by miner2")
    job = chain.job(job_id)
    assert job["declined"] == [KEYS["miner1"].address] and job["miner"] == KEYS["miner2"].address, {k: job[k] for k in ("status", "miner", "declined", "reason")}
    # This job was not sent by the CLI: its client shares the key with the checker by hand.
    wait_for(lambda: chain.job(job_id)["checker"] or chain.job(job_id)["status"] in FINAL, 30, "a checker")
    shared = cli("tx", "share-job-key", job_id)
    assert shared.exit_code == 0, shared.stderr
    job = _final(chain, job_id)
    assert job["status"] == "completed" and job["check_status"] == "passed", job
    declined = [e for e in _log_events(miners["miner1"]) if e.get("msg") == "direct job declined"
                and e.get("job_id") == job_id]
    assert declined and "does not open" in declined[0]["reason"]
    result = cli("query", "job-result", job_id)
    assert result.exit_code == 0 and "Status: completed" in result.stdout, result.stderr


def test_a_job_nobody_can_read_is_refunded_at_its_deadline(chain, miners, cli) -> None:
    before = chain.balance("alice")
    job_id = _direct_submit(chain, {"miner1": sealing.encryption_public_key(KEYS["bob"])})
    job = _final(chain, job_id, timeout=60)
    assert job["status"] == "expired" and job["declined"] == [KEYS["miner1"].address], job
    assert job["refund"] == job["max_reward"] == 1_000_000
    assert chain.balance("alice") == before - txlib.body_of(_tx_bytes(chain, job["submit_tx"])).fee
    result = cli("query", "job-result", job_id)
    assert result.exit_code == 1 and "expired" in result.stderr and "declined by" in result.stderr


def test_wait_on_a_job_no_candidate_can_take_fails_on_stderr(chain, miners, cli) -> None:
    # Named explicitly, miner1 is a candidate for a model it does not serve: the chain never assigns it.
    result = cli("tx", "submit-job", "--model", "not-served", "--prompt", PROMPT, *RUN, "--miner", KEYS["miner1"].address,
                 "--wait", "--timeout", "60")
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "Status: expired" in result.stdout and "expired" in result.stderr and "refunded" in result.stderr


def test_a_miner_finds_its_assignment_by_query_after_a_restart(chain, miners, cli) -> None:
    miner2 = miners["miner2"]
    miner2.stop()
    try:
        job_id = _direct_submit(chain, {"miner2": sealing.encryption_public_key(KEYS["miner2"])})
        assert chain.job(job_id)["miner"] == KEYS["miner2"].address  # assigned while nobody listens
    finally:
        miner2.start()
    job = wait_for(lambda: (j := chain.job(job_id))["status"] in ("verifying", *FINAL) and j, 60, "receipt")
    assert job["receipt_tx"] and job["miner"] == KEYS["miner2"].address, job
    resynced = [e for e in _log_events(miner2) if e.get("msg") == "direct job taken" and e.get("job_id") == job_id]
    assert resynced
