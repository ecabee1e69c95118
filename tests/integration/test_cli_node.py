"""`aitbc node init` and `aitbc node start` as a new user runs them, as real processes:
init twice, start twice (the second must fail, naming the pid), a port held by another node."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from aitbc.ops import procs

pytestmark = pytest.mark.integration
AITBC = [sys.executable, "-m", "aitbc.cli.main"]
ROOT = Path(__file__).resolve().parents[2]


def run(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*AITBC, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def ports() -> list[str]:
    rpc, p2p, abci = (procs.free_port() for _ in range(3))
    return ["--rpc-port", str(rpc), "--p2p-port", str(p2p), "--abci-port", str(abci)]


def wait_rpc(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    procs.wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/status", timeout=1).status_code == 200, timeout,
                     "node RPC", proc)


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    return {**os.environ, "AITBC_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)}


def test_init_twice_leaves_the_home_alone_and_says_so(env, tmp_path):
    flags = ports()
    first = run(env, "node", "init", *flags)
    assert first.returncode == 0, first.stderr
    genesis = tmp_path / "home" / "node" / "cometbft" / "config" / "genesis.json"
    before = genesis.read_bytes()
    again = run(env, "node", "init", *flags)
    assert again.returncode == 0, again.stderr
    assert "already initialised" in again.stdout and "aitbc node start" in again.stdout
    assert genesis.read_bytes() == before  # the chain was not replaced


def test_a_second_start_fails_naming_the_running_pid_and_a_busy_port_is_named(env, tmp_path):
    flags = ports()
    rpc_port = int(flags[1])
    assert run(env, "node", "init", *flags).returncode == 0
    first = subprocess.Popen([*AITBC, "node", "start"], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        wait_rpc(rpc_port, first)
        time.sleep(1)  # the pid file is written right after the RPC answers
        second = run(env, "node", "start", timeout=30)
        assert second.returncode != 0
        assert f"already running, pid {first.pid}" in second.stderr, second.stderr
        assert "node running" not in second.stderr

        # another home on the same ports: the busy ports are named
        other = {**env, "AITBC_HOME": str(tmp_path / "other")}
        assert run(other, "node", "init", *flags).returncode == 0
        clash = run(other, "node", "start", timeout=30)
        assert clash.returncode != 0 and f"port {rpc_port} (rpc)" in clash.stderr, clash.stderr
        assert first.poll() is None  # the running node was not disturbed
    finally:
        os.killpg(first.pid, signal.SIGINT)
        out, err = first.communicate(timeout=30)
    assert first.returncode == 0 and "node stopped" in err, err
    assert not (tmp_path / "home" / "node" / "node.pid").exists()
