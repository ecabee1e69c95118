"""The whole flowchart with real processes: chain (cometbft + app), coordinator,
the miner daemon, a real Ollama serving the generated tiny model, and the
`aitbc` job commands."""

# ruff: noqa: F811  (imported fixtures are redefined as test parameters)

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from aitbc import units
from aitbc.keyring import Keyring
from cli.context import Context
from miner.ollama_server import TINY_MODEL_NAME
from tests.factories import KEYS
from tests.integration.ollama_fixtures import (  # noqa: F401 (fixtures)
    ollama_server, tiny_model, tiny_model_path,
)
from tests.integration.stack import (  # noqa: F401 (fixtures)
    CLIENT_API_KEY, MinerProcess, chain, coordinator, coordinator_factory, wait_for,
)
from tests.integration.test_coordinator_cli import root

pytestmark = pytest.mark.integration


def test_prompt_to_paid_receipt(tmp_path, chain, coordinator, ollama_server, tiny_model):
    miner = MinerProcess(tmp_path / "miners", "miner1", chain, coordinator.url, ollama_server.url,
                         model=TINY_MODEL_NAME)
    try:
        miner.start()
        wait_for(lambda: any(m.online for m in coordinator.client().miners()), 60, "miner online")
        Keyring(tmp_path / "home" / "keys").add("alice", KEYS["alice"])
        before = chain.balance("alice")
        result = CliRunner().invoke(
            root, ["submit", "inference", "--prompt", "why is the sky blue", "--model", TINY_MODEL_NAME,
                   "--num-predict", "16", "--seed", "42", "--temperature", "0", "--wait", "--timeout", "120"],
            env={"AITBC_HOME": str(tmp_path / "home"), "AITBC_URL": coordinator.url, "AITBC_API_KEY": CLIENT_API_KEY},
            obj=Context(), catch_exceptions=False)
        assert result.exit_code == 0, result.stdout + result.stderr + miner.log_path.read_text()[-3000:]
        lines = result.stdout.splitlines()
        assert lines[1] == "Status: completed" and lines[2].startswith("Result: "), result.stdout
        assert re.fullmatch(r"Receipt: rcpt_[0-9a-f]{16}", lines[-3]), result.stdout
        assert re.fullmatch(r"Completed in: \d+(\.\d)? seconds?", lines[-2]) and lines[-1].startswith("Cost: ")
        job_id = lines[0].split(": ")[1]
        receipt = coordinator.client().receipt(job_id)
        assert lines[-1] == f"Cost: {units.format_amount(receipt.amount_paid)}"
        assert receipt.miner == KEYS["miner1"].address and receipt.compute_time_ms > 0
        wait_for(lambda: chain.balance("alice") == before - receipt.amount_paid, 10, "payment settled")
    finally:
        miner.stop()
