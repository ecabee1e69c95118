"""The README's single-node chain block ("## The chain"), run for real as written, line by
line in one bash: `aitbc node init`, `aitbc node start &`, `aitbc node status --wait 60`, a
transfer and two queries. Only the ports are the test's (free ones, through the
AITBC_NODE* variables), so that it cannot collide with another node on this machine; the
home is a temp folder (AITBC_HOME). Every other block is checked by
tests/unit/test_readme_commands.py (subcommands and options exist, --help parses)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from aitbc import procs
from tests.readme_blocks import bash_blocks

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_the_chain_block_runs_as_written(tmp_path):
    [block] = [body for heading, body in bash_blocks() if heading == "The chain"]
    rpc, p2p, abci = (procs.free_port() for _ in range(3))
    env = {**os.environ, "AITBC_HOME": str(tmp_path / "home"), "AITBC_NODE": f"http://127.0.0.1:{rpc}",
           "AITBC_NODE_RPC_PORT": str(rpc), "AITBC_NODE_P2P_PORT": str(p2p), "AITBC_NODE_ABCI_PORT": str(abci)}
    # set -e: any failing line fails the block; on the way out, stop the node the block started
    script = f"set -e\ntrap 'kill %1 2>/dev/null; wait' EXIT\n{block}\n"
    shell = subprocess.Popen(["bash", "-c", script], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = shell.communicate(timeout=180)
    finally:
        if shell.poll() is None:
            os.killpg(shell.pid, signal.SIGTERM)
            shell.wait(30)
    assert shell.returncode == 0, out + err
    assert "node running: chain aitbc-local" in out
    assert "transfer " in out and " accepted at height " in out
    assert "Balance: 1000002.5 AITBC" in out.replace("\u202f", "").replace(" 000", "000")
    assert '"total"' in out  # query supply --json
    assert "node stopped" in err
    assert not procs.port_open(rpc)  # nothing left running
