"""`aitbc node init`: the ports it records (no process started)."""

from __future__ import annotations

import json
import tomllib

from click.testing import CliRunner

from aitbc.cli.context import Context
from aitbc.cli.main import cli


def _init(tmp_path, monkeypatch, *args: str) -> dict:
    monkeypatch.setenv("AITBC_HOME", str(tmp_path))
    result = CliRunner().invoke(cli, ["node", "init", *args], obj=Context(), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads((tmp_path / "node" / "node.json").read_text())["ports"]


def test_metrics_ports_given_by_flag_or_environment_are_the_ones_used(tmp_path, monkeypatch):
    monkeypatch.setenv("AITBC_NODE_APP_METRICS_PORT", "24002")
    ports = _init(tmp_path, monkeypatch, "--metrics-port", "24001")
    assert (ports["metrics"], ports["app_metrics"]) == (24001, 24002)
    config = tomllib.loads((tmp_path / "node" / "cometbft" / "config" / "config.toml").read_text())
    assert config["instrumentation"]["prometheus_listen_addr"].endswith(":24001")


def test_metrics_ports_not_given_are_free_ones_picked_at_init(tmp_path, monkeypatch):
    monkeypatch.delenv("AITBC_NODE_METRICS_PORT", raising=False)
    monkeypatch.delenv("AITBC_NODE_APP_METRICS_PORT", raising=False)
    ports = _init(tmp_path, monkeypatch)
    assert ports["metrics"] and ports["app_metrics"] and ports["metrics"] != ports["app_metrics"]
