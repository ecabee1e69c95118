"""Service surfaces with real processes: a miner cannot aim the coordinator at an
internal service (SSRF) nor publish what that service answers on chain, and no
API key or key seed shows in a started coordinator's or miner's command line;
the files they create are owner-only."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest

from aitbc.ops.factories import KEYS
from aitbc.ops.harness import (
    ADMIN_API_KEY, CLIENT_API_KEY, MODEL, OTHER_CLIENT_API_KEY, MinerProcess, StubRequest, StubServer, wait_for,
)

pytestmark = [pytest.mark.attacks, pytest.mark.integration]
SECRET = "internal-admin-token-7f3a9c"


class InternalService(StubServer):
    """A loopback HTTP service the coordinator must not be steered at: it records every
    request and answers 500 with a secret in its body."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        super().__init__(self._answer)

    @property
    def base(self) -> str:
        return self.url

    def _answer(self, request: StubRequest) -> tuple[int, str]:
        self.requests.append((request.method, request.path))
        return 500, f"internal error; token={SECRET}"


@pytest.fixture
def internal():
    with InternalService() as service:
        yield service


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


def stub_ollama(request: StubRequest) -> tuple[int, dict[str, Any]]:
    """Just enough of Ollama for a miner to start: one model in /api/tags."""
    if request.path == "/api/tags":
        return 200, {"models": [{"name": f"{MODEL}:latest", "model": f"{MODEL}:latest"}]}
    return 200, {"version": "0.0.0"}


def test_no_secret_in_argv_and_owner_only_files(chain, coordinator, tmp_path):
    argv = _cmdline(coordinator.proc.pid)
    assert "coordinator" in argv
    for secret in (CLIENT_API_KEY, OTHER_CLIENT_API_KEY, ADMIN_API_KEY, KEYS["coordinator"].seed.hex()):
        assert secret not in argv
    data = coordinator.root / "data"
    assert _mode(data) == 0o700
    for name in ("coordinator.db", "coordinator.db-wal", "coordinator.db-shm", "pepper", "coordinator.log"):
        assert _mode(data / name) == 0o600, name

    with StubServer(stub_ollama) as ollama:
        miner = MinerProcess(tmp_path, "miner1", chain, coordinator.url, ollama.url).start()
        try:
            assert KEYS["miner1"].seed.hex() not in _cmdline(miner.proc.pid)
            miner_dir = tmp_path / "miner1"
            assert _mode(miner_dir) == 0o700 and _mode(miner_dir / "miner.log") == 0o600
        finally:
            miner.stop()
