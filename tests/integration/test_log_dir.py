"""--log-dir and AITBC_LOG_DIR, honoured by the real processes: the ABCI app, the coordinator
and the miner each write their log there instead of their data directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from aitbc.ops import procs

pytestmark = pytest.mark.integration


def _run_until_logged(cmd: list[str], log_file: Path, env: dict[str, str] | None = None) -> None:
    proc = procs.spawn(cmd, log_file.parent.parent / "out.txt", env)
    try:
        procs.wait_until(lambda: log_file.exists() and log_file.stat().st_size > 0, 30, "log file", proc)
    finally:
        procs.stop(proc)


def test_the_abci_app_honours_log_dir_and_the_environment(tmp_path):
    flag_dir, env_dir = tmp_path / "flag-logs", tmp_path / "env-logs"
    app = [sys.executable, "-m", "aitbc.abci_app", "--address", f"tcp://127.0.0.1:{procs.free_port()}"]
    _run_until_logged(app + ["--home", str(tmp_path / "a"), "--log-dir", str(flag_dir)], flag_dir / "app.log")
    assert not (tmp_path / "a" / "logs" / "app.log").exists()
    app[-1] = f"tcp://127.0.0.1:{procs.free_port()}"
    _run_until_logged(app + ["--home", str(tmp_path / "b")], env_dir / "app.log", {"AITBC_LOG_DIR": str(env_dir)})


@pytest.mark.parametrize("service, extra", [
    ("coordinator", ["--node", "http://127.0.0.1:9"]),
    ("miner", ["--node", "http://127.0.0.1:9", "--ollama-url", "http://127.0.0.1:9"]),
])
def test_services_honour_log_dir(tmp_path, service, extra):
    # Without their chain keys they stop right after setting up logging: enough to see where it went.
    logs = tmp_path / "logs"
    cmd = [sys.executable, "-m", f"aitbc.{service}", "start", "--data-dir", str(tmp_path / "data"),
           "--log-dir", str(logs), "--port", str(procs.free_port()), *extra]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                          env={"AITBC_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"})
    assert done.returncode != 0  # no key
    assert (logs / f"{service}.log").exists(), done.stderr
    assert not (tmp_path / "data" / f"{service}.log").exists()
