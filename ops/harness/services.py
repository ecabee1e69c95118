"""The coordinator and the miner daemon as subprocesses on free ports:
`python -m aitbc.coordinator|miner start`, started, killed and started again with
the same command line (same port, same data directory). Key seeds and API keys
go by environment: argv is readable by every local user.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Self

import httpx

from aitbc.api.coordinator_client import CoordinatorClient
from aitbc.crypto import PrivateKey
from aitbc.ops import procs
from aitbc.ops.factories import KEYS
from aitbc.ops.harness.chain import MODEL, ChainStack

ROOT = Path(__file__).resolve().parents[2]   # the checkout: build/models, scripts/
CLIENT_API_KEY = "test-client-key"
OTHER_CLIENT_API_KEY = "test-client-key-2"
ADMIN_API_KEY = "test-admin-key"


class Service:
    """A subprocess that is ready once GET `ready_url` answers below 500 (or exactly 200,
    with `ready_ok_only`); it can be stopped, killed and started again as it was.

    The ready wait is generous (90 s): it only bounds a start that hangs, and a loaded
    2-core CI machine has taken over 30 s to import and start a service."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log_path: Path, ready_url: str,
                 ready_timeout: float = 90, ready_ok_only: bool = True):
        self.name, self.cmd, self.env, self.log_path = name, cmd, env, log_path
        self.ready_url, self.ready_timeout, self.ready_ok_only = ready_url, ready_timeout, ready_ok_only
        self.proc: subprocess.Popen | None = None

    def _ready(self) -> bool:
        status = httpx.get(self.ready_url, timeout=1).status_code
        return status == 200 if self.ready_ok_only else status < 500

    def start(self, timeout: float | None = None) -> Self:
        self.proc = procs.spawn(self.cmd, self.log_path, self.env)
        procs.wait_until(self._ready, timeout or self.ready_timeout, self.name, self.proc, self.log_path)
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        if self.proc is not None:
            procs.kill9(self.proc)

    def stop(self) -> None:
        procs.stop(self.proc)


def _node_url(chain: ChainStack | str) -> str:
    return chain if isinstance(chain, str) else chain.url


class CoordinatorProcess(Service):
    """The real coordinator against `chain` (a ChainStack or a node's RPC URL).

    By default under `root`: data/ (its database and JSON log), coordinator.out, home/."""

    # Test miners listen on loopback, which a coordinator refuses by default.
    DEFAULTS = {"queue_timeout_s": 60, "miner_offline_after_s": 15, "tick_s": 0.2, "rate_limit_per_minute": 600,
                "rate_limit_burst": 50, "allow_private_endpoints": True}

    def __init__(self, root: Path, chain: ChainStack | str, *, key: PrivateKey | None = None,
                 client_api_keys: tuple[str, ...] = (CLIENT_API_KEY, OTHER_CLIENT_API_KEY),
                 admin_api_keys: tuple[str, ...] = (ADMIN_API_KEY,), data_dir: Path | None = None,
                 log_path: Path | None = None, home: Path | None = None, ready_timeout: float = 90,
                 **settings: Any):
        self.root = root
        self.port = procs.free_port()
        self.data_dir = data_dir or root / "data"
        self.settings = {**self.DEFAULTS, **settings}
        env = {"AITBC_COORDINATOR_KEY_SEED": (key or KEYS["coordinator"]).seed.hex(),
               "AITBC_COORDINATOR_CLIENT_API_KEYS": ",".join(client_api_keys),
               "AITBC_HOME": str(home or root / "home"), "PYTHONPATH": str(ROOT)}
        if admin_api_keys:
            env["AITBC_COORDINATOR_ADMIN_API_KEYS"] = ",".join(admin_api_keys)
        env.update({f"AITBC_COORDINATOR_{k.upper()}": str(v) for k, v in self.settings.items()})
        cmd = [sys.executable, "-m", "aitbc.coordinator", "start", "--port", str(self.port),
               "--node", _node_url(chain), "--data-dir", str(self.data_dir)]
        super().__init__("coordinator", cmd, env, log_path or root / "coordinator.out", f"{self.url}/ready",
                         ready_timeout)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, api_key: str | None = CLIENT_API_KEY) -> CoordinatorClient:
        return CoordinatorClient(self.url, api_key, timeout=10, backoff_s=0.1)

    def log_events(self, name: str) -> list[dict[str, Any]]:
        """JSON log lines with "event": name, from this coordinator's log file."""
        path = self.data_dir / "coordinator.log"
        lines = path.read_text().splitlines() if path.exists() else []
        return [e for e in map(_json_or_none, lines) if e and e.get("event") == name]


def _json_or_none(line: str) -> dict[str, Any] | None:
    try:
        return json.loads(line)
    except ValueError:
        return None


class MinerProcess(Service):
    """The real miner daemon named `name` (its key: KEYS[name] unless given) against a real Ollama.

    By default under `root`: <name>/ (its data), <name>.out, home/."""

    def __init__(self, root: Path, name: str, chain: ChainStack | str, coordinator_url: str, ollama_url: str,
                 model: str = MODEL, capacity: int = 1, extra_args: tuple[str, ...] = (), *,
                 key: PrivateKey | None = None, data_dir: Path | None = None, log_path: Path | None = None,
                 ready_timeout: float = 60):
        self.root = root
        self.port = procs.free_port()
        cmd = [sys.executable, "-m", "aitbc.miner", "start", "--node", _node_url(chain),
               "--coordinator-url", coordinator_url, "--port", str(self.port), "--ollama-url", ollama_url,
               "--model", model, "--capacity", str(capacity), "--num-thread", "1",
               "--heartbeat-interval", "1", "--data-dir", str(data_dir or root / name), *extra_args]
        env = {"AITBC_HOME": str(root / "home"), "PYTHONPATH": str(ROOT),
               "AITBC_MINER_KEY": (key or KEYS[name]).seed.hex()}
        super().__init__(name, cmd, env, log_path or root / f"{name}.out", f"{self.url}/health", ready_timeout,
                         ready_ok_only=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
