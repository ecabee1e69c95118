"""`python -m aitbc.miner` / `aitbc miner`: settings from env and flags, clear start-up errors, status."""

from __future__ import annotations

from pathlib import Path

import logging

import pytest
from click.testing import CliRunner

from aitbc.logs import stop_logging
from aitbc.miner.cli import miner
from aitbc.miner.settings import MinerSettings
from tests.unit.test_miner_fakes import MINER


@pytest.fixture(autouse=True)
def keep_root_logging():
    """`start` sets up JSON logging on the root logger; undo it for the tests that follow."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    stop_logging()
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def test_settings_env_and_aliases(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AITBC_HOME", str(tmp_path))
    monkeypatch.setenv("AITBC_NODE", "http://node:1")
    monkeypatch.setenv("AITBC_URL", "http://coord:2")
    monkeypatch.setenv("AITBC_MINER_MODELS", "a, b:7b")
    monkeypatch.setenv("AITBC_MINER_STAKE", "150aitbc")
    s = MinerSettings()
    assert (s.node, s.coordinator_url, s.models, s.stake, s.price_per_second) == (
        "http://node:1", "http://coord:2", ["a", "b:7b"], 150_000_000, None)
    assert (s.host, s.port, s.capacity, s.heartbeat_interval_s) == ("127.0.0.1", 18001, 1, 5.0)
    assert s.public_endpoint == "http://127.0.0.1:18001" and s.log_file == tmp_path / "miner" / "miner.log"
    monkeypatch.setenv("AITBC_MINER_NODE", "http://node:3")
    assert MinerSettings(price_per_second="0.02aitbc").node == "http://node:3"
    assert MinerSettings(price_per_second="0.02aitbc").price_per_second == 20_000
    assert MinerSettings(host="0.0.0.0", port=9).public_endpoint == "http://127.0.0.1:9"


def test_start_reports_unreachable_ollama_without_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(miner, ["start", "--key", MINER.seed.hex(), "--ollama-url", "http://127.0.0.1:9",
                                        "--data-dir", str(tmp_path), "--port", "0"])
    assert result.exit_code == 1
    assert "Ollama is not reachable at http://127.0.0.1:9" in result.output
    assert "Traceback" not in result.output


def test_start_reports_missing_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AITBC_HOME", str(tmp_path))
    result = CliRunner().invoke(miner, ["start", "--data-dir", str(tmp_path), "--port", "0"])
    assert result.exit_code == 1 and "aitbc keys add miner1" in result.output


def test_status_of_absent_miner_exits_3() -> None:
    result = CliRunner().invoke(miner, ["status", "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 3 and "no miner answering at http://127.0.0.1:9" in result.output
