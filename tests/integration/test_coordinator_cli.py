"""`aitbc submit|status|receipt|balance|jobs|cancel` (cli/jobs/) against the real
coordinator and chain. The miner is driven by the test (HandMiner), so this
checks the CLI and the coordinator, not the miner daemon."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from aitbc import units

from aitbc.ops import procs
from aitbc.keyring import Keyring
from aitbc.cli.context import Context
from aitbc.cli.main import cli as root
from aitbc.ops.factories import KEYS
from aitbc.ops.harness import CLIENT_API_KEY, MODEL

pytestmark = pytest.mark.integration


@pytest.fixture
def run(tmp_path, coordinator):
    Keyring(tmp_path / "home" / "keys").add("alice", KEYS["alice"])
    runner = CliRunner()

    def invoke(*args: str, api_key: str | None = CLIENT_API_KEY, url: str | None = None):
        env = {"AITBC_HOME": str(tmp_path / "home"), "AITBC_URL": url or coordinator.url,
               "AITBC_API_KEY": api_key or ""}
        return runner.invoke(root, list(args), env=env, obj=Context(), catch_exceptions=False)

    return invoke


def test_submit_wait_prints_the_flowchart_output(run, chain, coordinator, hand_miner):
    chain.register_miner("miner1", hand_miner.endpoint)
    hand_miner.join(coordinator.url)
    hand_miner.start_heartbeats()
    hand_miner.serve_automatically(lambda a: "Machine learning is a subset of artificial intelligence...")
    result = run("submit", "inference", "--prompt", "What is machine learning?", "--model", MODEL,
                 "--wait", "--timeout", "60")
    assert result.exit_code == 0, result.output + result.stderr
    lines = result.stdout.strip().splitlines()
    assert re.fullmatch(r"Job ID: job_[0-9a-f]{16}", lines[0])
    assert lines[1:3] == ["Status: completed", "Result: Machine learning is a subset of artificial intelligence..."]
    assert re.fullmatch(r"Receipt: rcpt_[0-9a-f]{16}", lines[3])
    assert re.fullmatch(r"Completed in: \d+(\.\d)? seconds?", lines[4])
    assert lines[5] == "Cost: 0.25 AITBC"
    job_id = lines[0].split(": ")[1]

    status = json.loads(run("status", job_id, "--json").stdout)
    assert status["status"] == "completed" and status["amount_paid"] == 250_000 and status["fee"] > 0
    assert lines[6] == f"Fee: {units.format_amount(status['fee'])} (burned by the submit transaction)"
    receipt = run("receipt", job_id)
    assert "Paid: 0.25 AITBC" in receipt.stdout and "Refunded: 0.75 AITBC" in receipt.stdout
    balance = run("balance", "alice")
    assert f"Balance: {units.format_amount(1_000_000_000 - 250_000 - status['fee'])}" in balance.stdout
    assert job_id in run("jobs").stdout


def test_errors_go_to_stderr_with_exit_codes(run, chain, hand_miner):
    chain.register_miner("miner1", hand_miner.endpoint)
    bad = run("submit", "inference", "--prompt", " ", "--model", MODEL)
    assert bad.exit_code == 4 and "prompt must not be empty" in bad.stderr
    no_key = run("jobs", api_key=None)
    assert no_key.exit_code == 4 and "AITBC_API_KEY" in no_key.stderr
    down = run("jobs", url=f"http://127.0.0.1:{procs.free_port()}")
    assert down.exit_code == 3 and "cannot reach the coordinator" in down.stderr


def test_cancel_a_queued_job(run, chain, hand_miner):
    chain.register_miner("miner1", hand_miner.endpoint)  # never online: the job stays queued
    submitted = run("submit", "inference", "--prompt", "hello", "--model", MODEL, "--json")
    job_id = json.loads(submitted.stdout)["job_id"]
    cancelled = run("cancel", job_id)
    assert cancelled.exit_code == 0, cancelled.stderr
    assert "Status: cancelled" in cancelled.stdout and "Refunded: 1 AITBC" in cancelled.stdout
