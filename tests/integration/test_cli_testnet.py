"""`aitbc testnet` as a new user meets it, with real nodes: start-node on a running node says
so, status after down says the testnet is down and exits non-zero, env points the CLI at it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from aitbc.ops import testnet as tn
from aitbc.cli.context import Context
from aitbc.cli.main import cli

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_start_node_on_a_running_node_then_status_after_down(tmp_path):
    directory = tmp_path / "net"
    runner = CliRunner(env={"AITBC_HOME": str(tmp_path / "home")})

    def run(*args: str):
        return runner.invoke(cli, ["testnet", *args, "--dir", str(directory)], obj=Context(), catch_exceptions=False)

    up = run("up", "--validators", "1", "--timeout", "60")
    try:
        assert up.exit_code == 0, up.output
        assert 'eval "$(aitbc testnet env --dir' in up.stdout
        again = run("start-node", "0")
        assert again.exit_code == 0 and "node0 is already running" in again.stdout, again.output
        assert "started" not in again.stdout
        status = run("status")
        assert status.exit_code == 0 and "all agree" in status.stdout

        env = run("env")
        assert env.exit_code == 0 and env.stdout.startswith("export AITBC_NODE=http://127.0.0.1:")
        # the lines really work in a shell
        shell = subprocess.run(["bash", "-c", f'{env.stdout}\necho "$AITBC_NODE"'], capture_output=True, text=True)
        assert shell.stdout.strip() == tn.Testnet.load(directory).node(0).rpc
    finally:
        down = run("down")
    assert down.exit_code == 0
    after = run("status")
    assert after.exit_code != 0
    assert "is down: no node answers" in after.stderr and "all agree" not in after.stdout
    data = json.loads(run("status", "--json").stdout)
    assert data["down"] is True
