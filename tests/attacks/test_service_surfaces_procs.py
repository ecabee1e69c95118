"""Service surfaces with real processes: a miner cannot aim the coordinator at an
internal service (SSRF) nor publish what that service answers on chain, and no
API key or key seed shows in a started coordinator's or miner's command line;
the files they create are owner-only."""

# ruff: noqa: F811  (imported fixtures are redefined as test parameters)

from __future__ import annotations

import json
import stat
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from aitbc.ops import procs
from aitbc.ops.factories import KEYS
from tests.integration.stack import (  # noqa: F401 (fixtures)
    ADMIN_API_KEY, CLIENT_API_KEY, MODEL, OTHER_CLIENT_API_KEY, ROOT, chain, coordinator, coordinator_factory,
    hand_miner, wait_for,
)

pytestmark = [pytest.mark.attacks, pytest.mark.integration]
SECRET = "internal-admin-token-7f3a9c"


class InternalService:
    """A loopback HTTP service the coordinator must not be steered at: it records every
    request and answers 500 with a secret in its body."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                self.rfile.read(length)
                service.requests.append((self.command, self.path))
                payload = f"internal error; token={SECRET}".encode()
                self.send_response(500)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _any  # noqa: N815 - http.server's names

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def internal():
    service = InternalService()
    try:
        yield service
    finally:
        service.close()


def register(hand_miner, coordinator_url: str, endpoint: str) -> httpx.Response:
    hand_miner.coordinator_url = coordinator_url
    return hand_miner.post("/v1/miners/register", {"endpoint": endpoint, "models": [MODEL], "capacity": 2})


def test_public_coordinator_refuses_loopback_endpoints(chain, coordinator_factory, hand_miner, internal):
    coordinator = coordinator_factory(allow_private_endpoints=False)
    chain.register_miner("miner1", internal.base)
    for endpoint in (internal.base, internal.base + "/secret?q=#", "http://localhost:1", "http://169.254.169.254"):
        response = register(hand_miner, coordinator.url, endpoint)
        assert response.status_code == 400, response.text
        assert "endpoint refused" in response.json()["detail"]
    assert internal.requests == []


def test_miner_endpoint_cannot_reach_other_paths_nor_leak_answers_on_chain(chain, coordinator, hand_miner,
                                                                           internal):
    chain.register_miner("miner1", internal.base)
    # path/query/fragment/userinfo tricks are refused even where loopback is allowed
    for trick in (internal.base + "/secret?q=#", internal.base + "/admin", f"http://x@{internal.base[7:]}",
                  internal.base + "?a=1"):
        response = register(hand_miner, coordinator.url, trick)
        assert response.status_code == 400 and "endpoint refused" in response.json()["detail"], response.text
    # a plain endpoint is allowed; what it answers must stay out of the chain
    assert register(hand_miner, coordinator.url, internal.base).status_code == 200
    hand_miner.start_heartbeats(every_s=0.5)
    client = coordinator.client()
    job_id = client.submit_job(chain.sign_job("alice")).job_id
    closed = wait_for(lambda: (lambda j: j if j and j["status"] == "failed" else None)(chain.job(job_id)), 40,
                      "job failed on chain")
    assert closed["reason"].startswith("miner_error: HTTP 500"), closed
    assert SECRET not in json.dumps(closed) and "internal error" not in closed["reason"]
    assert internal.requests and {path for _, path in internal.requests} == {"/v1/jobs/assign"}
    job = client.get_job(job_id)
    assert job.status == "failed" and SECRET not in (job.error or "")
    # the details are in the coordinator's own log, for its operator
    failing = coordinator.log_events("job_failing")
    assert any(SECRET in e.get("detail", "") for e in failing)


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


class StubOllama:
    """Just enough of Ollama for a miner to start: one model in /api/tags."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                body = {"models": [{"name": f"{MODEL}:latest", "model": f"{MODEL}:latest"}]} \
                    if self.path == "/api/tags" else {"version": "0.0.0"}
                payload = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_no_secret_in_argv_and_owner_only_files(chain, coordinator, tmp_path):
    argv = _cmdline(coordinator.proc.pid)
    assert "coordinator" in argv
    for secret in (CLIENT_API_KEY, OTHER_CLIENT_API_KEY, ADMIN_API_KEY, KEYS["coordinator"].seed.hex()):
        assert secret not in argv
    data = coordinator.root / "data"
    assert _mode(data) == 0o700
    for name in ("coordinator.db", "coordinator.db-wal", "coordinator.db-shm", "pepper", "coordinator.log"):
        assert _mode(data / name) == 0o600, name

    ollama = StubOllama()
    miner_dir = tmp_path / "miner1"
    port = procs.free_port()
    cmd = [sys.executable, "-m", "aitbc.miner", "start", "--node", chain.url, "--coordinator-url", coordinator.url,
           "--port", str(port), "--ollama-url", ollama.url, "--model", MODEL, "--heartbeat-interval", "1",
           "--data-dir", str(miner_dir)]
    env = {"AITBC_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT),
           "AITBC_MINER_KEY": KEYS["miner1"].seed.hex()}
    proc = procs.spawn(cmd, tmp_path / "miner1.out", env)
    try:
        procs.wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code < 500, 60,
                         "miner", proc, tmp_path / "miner1.out")
        assert KEYS["miner1"].seed.hex() not in _cmdline(proc.pid)
        assert _mode(miner_dir) == 0o700 and _mode(miner_dir / "miner.log") == 0o600
    finally:
        procs.stop(proc)
        ollama.close()
