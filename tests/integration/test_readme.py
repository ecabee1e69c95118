"""The README's command blocks, run for real as written, each in one bash with `set -e`:

- "The chain": `aitbc node init`, `aitbc node start &`, `aitbc node status --wait 60`, a
  transfer, two queries and `aitbc audit`;
- "The marketplace by hand": node, `python -m aitbc.ops.ollama_server ... &`, the coordinator and a
  miner in the background, a job run with `--wait`, status, receipt, jobs, balance, then a job
  for a model no miner serves and its `aitbc cancel`.

Only the ports are the test's (free ones, through AITBC_NODE_*_PORT, AITBC_OLLAMA_PORT,
AITBC_COORDINATOR_PORT, AITBC_MINER_PORT and the clients' AITBC_NODE / AITBC_URL /
AITBC_MINER_URL), so that nothing collides with another stack on this machine, and the home is
a temp folder (AITBC_HOME). Two notations of the README are spelled out for bash: `A · B` is
two lines, and `JOB_ID` is the Job ID the last `aitbc submit` printed. Every background job is
stopped by the block's EXIT trap (SIGTERM: each stops its children), then by the test (the
whole process group) whatever happened. The other blocks (make demo, testnets, explorer,
receipt verification) are checked by tests/unit/test_readme_commands.py: subcommands and
options exist, --help parses."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from aitbc.ops import procs
from tests.readme_blocks import bash_blocks

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
# On the way out, stop what the block started in the background and wait for it.
PREAMBLE = "set -eo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null; wait' EXIT\n"


def block(heading: str) -> str:
    [body] = [body for name, body in bash_blocks() if name == heading]
    return body


def as_bash(body: str, out: Path) -> str:
    """The README's notations in bash: `A · B` as two lines; `JOB_ID` as the Job ID the last
    `aitbc submit` printed (its output is also teed to `out` to read that id)."""
    lines = []
    for line in body.splitlines():
        for command in line.split(" · "):
            command = re.sub(r"\bJOB_ID\b", '"$JOB_ID"', command)
            lines.append(command)
            if command.startswith("aitbc submit "):
                code = command.split("  #", 1)[0]
                lines[-1] = f'{code} | tee "{out}"'
                lines.append(f'JOB_ID=$(sed -n "s/^Job ID: //p" "{out}")')
    return "\n".join(lines)


def run(script: str, env: dict[str, str], timeout: float) -> tuple[int, str, str]:
    shell = subprocess.Popen(["bash", "-c", PREAMBLE + script], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = shell.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(shell.pid, signal.SIGTERM)
        out, err = shell.communicate(timeout=60)
        err += f"\n(test: timed out after {timeout:g} s)"
    finally:
        try:
            os.killpg(shell.pid, signal.SIGKILL)  # whatever the trap left behind
        except ProcessLookupError:
            pass
    return shell.returncode, out, err


def node_env(tmp_path: Path) -> dict[str, str]:
    # Every port from this process, metrics too: `aitbc node init` would otherwise pick those
    # itself, and could take one this test hands to a later service (CI: the miner's port
    # answered with the app's metrics).
    rpc, p2p, abci, metrics, app_metrics = (procs.free_port() for _ in range(5))
    return {**os.environ, "AITBC_HOME": str(tmp_path / "home"), "AITBC_NODE": f"http://127.0.0.1:{rpc}",
            "AITBC_NODE_RPC_PORT": str(rpc), "AITBC_NODE_P2P_PORT": str(p2p), "AITBC_NODE_ABCI_PORT": str(abci),
            "AITBC_NODE_METRICS_PORT": str(metrics), "AITBC_NODE_APP_METRICS_PORT": str(app_metrics)}


def test_the_chain_block_runs_as_written(tmp_path):
    env = node_env(tmp_path)
    code, out, err = run(as_bash(block("The chain"), tmp_path / "submit.out"), env, timeout=180)
    assert code == 0, out + err
    assert "node running: chain aitbc-local" in out
    assert "transfer " in out and " accepted at height " in out
    assert "Balance: 1000002.5 AITBC" in out.replace("\u202f", "").replace(" 000", "000")
    assert '"total"' in out  # query supply --json
    assert re.search(r"audit at height \d+: checked", out) and "FAIL" not in out
    assert "node stopped" in err
    assert not procs.port_open(int(env["AITBC_NODE_RPC_PORT"]))  # nothing left running


def test_the_marketplace_block_runs_as_written(tmp_path):
    env = node_env(tmp_path)
    ollama, coordinator, miner = (procs.free_port() for _ in range(3))
    env.update(AITBC_OLLAMA_PORT=str(ollama), AITBC_COORDINATOR_PORT=str(coordinator),
               AITBC_MINER_PORT=str(miner), AITBC_URL=f"http://127.0.0.1:{coordinator}",
               AITBC_MINER_URL=f"http://127.0.0.1:{miner}")
    env.pop("AITBC_API_KEY", None)  # the block exports its own
    code, out, err = run(as_bash(block("The marketplace by hand"), tmp_path / "submit.out"), env, timeout=540)
    assert code == 0, out + err
    assert "node running: chain aitbc-local" in out
    ids = list(dict.fromkeys(re.findall(r"^Job ID: (job_\S+)$", out, re.M)))
    first, streamed, pending = ids
    assert out.count(f"Job ID: {first}\nStatus: completed\n") == 1, out  # submit --wait
    # submit --stream: the text as it came, then the same final block; `status JOB_ID` shows that job again
    assert out.count(f"Job ID: {streamed}\nStatus: completed\n") == 2, out
    final_block = out.index(f"Job ID: {streamed}\nStatus: completed\n")
    streamed_text = re.search(rf"^Job ID: {streamed}\nStatus: completed\nResult: (.+)$", out, re.M).group(1).strip()
    assert streamed_text and out.index(streamed_text) < final_block, out  # printed live, before the block
    assert "Cost: " in out and "Paid: " in out and "Receipt: rcpt_" in out  # the receipt, from the coordinator
    assert re.search(rf"^{first}\s+completed\s+aitbc-tiny", out, re.M)  # aitbc jobs
    assert "Balance: " in out
    assert f"Job ID: {pending}\nStatus: pending\n" in out
    assert f"Job ID: {pending}\nStatus: cancelled (by the client)\n" in out and "Refunded: 1 AITBC" in out
    for port in (int(env["AITBC_NODE_RPC_PORT"]), ollama, coordinator, miner):
        assert not procs.port_open(port), f"port {port} still open"  # nothing left running
