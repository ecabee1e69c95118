"""Reusable process fixtures for multi-process tests: a real single-node chain,
the real coordinator (uvicorn in a subprocess), and a hand-driven miner.

Every helper stops what it started (process groups, threads) when its fixture
or `with` block ends, also when a test fails.
"""

from __future__ import annotations

import base64
import hashlib
import json
import queue
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from aitbc.ops import nodehome, procs
from aitbc import tx as txlib
from aitbc.crypto import PrivateKey
from aitbc.rpc import BroadcastResult, ChainRPC, QueryFailed
from aitbc.endpoints import authority
from aitbc.signed_http import ReplayCache, SignatureRejected, push_target, sign_request, verify_request
from aitbc.pb.aitbc_pb import tx_pb2
from aitbc.coordinator.validation import temperature_milli
from aitbc.api.coordinator_client import CoordinatorClient, sign_job
from aitbc.api.coordinator_models import JobCreate, JobOptions
from aitbc.ops.factories import CHAIN_ID, KEYS

ROOT = Path(__file__).resolve().parents[2]
MODEL = "aitbc-tiny"
STAKE = 100_000_000          # the chain's default minimum stake (100 AITBC)
CLIENT_API_KEY = "test-client-key"
OTHER_CLIENT_API_KEY = "test-client-key-2"
ADMIN_API_KEY = "test-admin-key"


def wait_for(check, timeout: float = 30, what: str = "condition", interval: float = 0.2):
    """Poll `check` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached in {timeout} s")


class ChainStack:
    """A single-node chain (our app + real cometbft) with the test keys funded."""

    def __init__(self, home: Path, **params: int):
        self.home = home
        self.params = params
        self.node: nodehome.Node | None = None
        self.rpc: ChainRPC | None = None

    def start(self) -> "ChainStack":
        ports = nodehome.Ports(rpc=procs.free_port(), p2p=procs.free_port(), abci=procs.free_port())
        nodehome.init_home(self.home, CHAIN_ID, ports, dict(KEYS), params=self.params or None,
                           balance=1_000_000_000)
        self.node = nodehome.Node(self.home, python=sys.executable)
        try:
            self.node.start()
            self.node.wait_for_height(1)
        except BaseException:
            self.node.stop()
            raise
        self.rpc = ChainRPC(self.node.rpc)
        return self

    def stop(self) -> None:
        if self.rpc is not None:
            self.rpc.close()
        if self.node is not None:
            self.node.stop()

    @property
    def url(self) -> str:
        assert self.node is not None
        return self.node.rpc

    def next_nonce(self, name: str) -> int:
        return int(self.rpc.query(f"/nonce/{KEYS[name].address}")["nonce"])

    def send(self, name: str, kind: str, **fields: Any) -> BroadcastResult:
        """Sign as `name` and wait until the tx is in a block."""
        raw = txlib.build(KEYS[name], CHAIN_ID, self.next_nonce(name), kind, **fields)
        return self.rpc.broadcast(raw, "commit")

    def balance(self, name: str) -> int:
        return int(self.rpc.query(f"/account/{KEYS[name].address}")["balance"])

    def job(self, job_id: str) -> dict[str, Any] | None:
        """The committed job, or None while it is not in a block yet."""
        try:
            return self.rpc.query(f"/job/{job_id}")
        except QueryFailed:
            return None

    def register_miner(self, name: str, endpoint: str, models=(MODEL,), capacity: int = 2,
                       stake: int = STAKE) -> None:
        result = self.send(name, "register_miner", stake=stake, models=list(models), price_per_second=20_000,
                           capacity=capacity, endpoint=endpoint)
        assert result.ok, result.log

    def sign_job(self, name: str, prompt: str = "What is machine learning?", model: str = MODEL,
                 max_reward: int = 1_000_000, options: JobOptions | None = None) -> JobCreate:
        return sign_job(KEYS[name], CHAIN_ID, self.next_nonce(name), prompt, model, max_reward, options)


class CoordinatorProcess:
    """The real coordinator: `python -m aitbc.coordinator start` on a free port."""

    def __init__(self, root: Path, chain: ChainStack, **settings: Any):
        self.root = root
        self.chain = chain
        self.port = procs.free_port()
        # Test miners listen on loopback, which a coordinator refuses by default.
        self.settings = {"queue_timeout_s": 60, "miner_offline_after_s": 15, "tick_s": 0.2,
                         "rate_limit_per_minute": 600, "rate_limit_burst": 50, "allow_private_endpoints": True,
                         **settings}
        self.proc = None
        self.log_path = root / "coordinator.out"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "CoordinatorProcess":
        env = {"AITBC_COORDINATOR_KEY_SEED": KEYS["coordinator"].seed.hex(),
               "AITBC_COORDINATOR_CLIENT_API_KEYS": f"{CLIENT_API_KEY},{OTHER_CLIENT_API_KEY}",
               "AITBC_COORDINATOR_ADMIN_API_KEYS": ADMIN_API_KEY,
               "AITBC_HOME": str(self.root / "home"), "PYTHONPATH": str(ROOT)}
        env.update({f"AITBC_COORDINATOR_{k.upper()}": str(v) for k, v in self.settings.items()})
        cmd = [sys.executable, "-m", "aitbc.coordinator", "start", "--port", str(self.port), "--node", self.chain.url,
               "--data-dir", str(self.root / "data")]
        self.proc = procs.spawn(cmd, self.log_path, env)
        procs.wait_until(lambda: httpx.get(f"{self.url}/ready", timeout=1).status_code == 200, 30,
                         "coordinator /ready", self.proc, self.log_path)
        return self

    def stop(self) -> None:
        procs.stop(self.proc)

    def kill9(self) -> None:
        procs.kill9(self.proc)

    def client(self, api_key: str | None = CLIENT_API_KEY) -> CoordinatorClient:
        return CoordinatorClient(self.url, api_key, timeout=10, backoff_s=0.1)

    def log_events(self, name: str) -> list[dict[str, Any]]:
        """JSON log lines with "event": name, from this coordinator's log file."""
        path = self.root / "data" / "coordinator.log"
        lines = path.read_text().splitlines() if path.exists() else []
        return [e for e in map(_json_or_none, lines) if e and e.get("event") == name]


def _json_or_none(line: str) -> dict[str, Any] | None:
    try:
        return json.loads(line)
    except ValueError:
        return None


class HandMiner:
    """A miner driven by the test: an HTTP endpoint that takes assignments (checking
    the coordinator's signature) and signed status/complete/heartbeat calls."""

    def __init__(self, name: str, coordinator_address: str):
        self.name = name
        self.key: PrivateKey = KEYS[name]
        self.coordinator_address = coordinator_address
        self.assignments: queue.Queue[dict[str, Any]] = queue.Queue()
        self.received: dict[str, dict[str, Any]] = {}  # job id -> its assignment, to attest what was run
        self.accept = True
        self._server: ThreadingHTTPServer | None = None
        self._beating = threading.Event()
        self._beat_thread: threading.Thread | None = None
        self._auto = threading.Event()
        self._auto_thread: threading.Thread | None = None
        self.worked_on: list[str] = []
        self.coordinator_url = ""
        self.replay = ReplayCache()

    @property
    def address(self) -> str:
        return self.key.address

    @property
    def endpoint(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> "HandMiner":
        miner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    signer = verify_request(self.headers, "POST", self.path, body, replay=miner.replay,
                                            target=push_target(miner.address, authority(miner.endpoint)))
                except SignatureRejected as exc:
                    return self._answer(401, {"detail": str(exc)})
                if signer.address != miner.coordinator_address:
                    return self._answer(403, {"detail": "not the coordinator"})
                assignment = json.loads(body)
                miner.received[assignment["job_id"]] = assignment
                miner.assignments.put(assignment)
                self._answer(202, {"job_id": assignment["job_id"], "accepted": miner.accept, "active_jobs": 1})

            def _answer(self, status: int, data: dict[str, Any]) -> None:
                payload = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._auto.clear()
        if self._auto_thread is not None:
            self._auto_thread.join(5)
        self.stop_heartbeats()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # --- signed calls to the coordinator ------------------------------------------
    def post(self, path: str, body: dict[str, Any], key: PrivateKey | None = None) -> httpx.Response:
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json",
                   **sign_request(key or self.key, "POST", path, data, target=self.coordinator_address)}
        return httpx.post(self.coordinator_url + path, content=data, headers=headers, timeout=10)

    def join(self, coordinator_url: str, models=(MODEL,), capacity: int = 2) -> httpx.Response:
        self.coordinator_url = coordinator_url
        return self.post("/v1/miners/register", {"endpoint": self.endpoint, "models": list(models),
                                                 "capacity": capacity})

    def heartbeat(self) -> httpx.Response:
        return self.post("/v1/miners/heartbeat", {"active_jobs": 0})

    def start_heartbeats(self, every_s: float = 1.0) -> None:
        self._beating.set()

        def beat() -> None:
            while self._beating.is_set():
                try:
                    self.heartbeat()
                except httpx.HTTPError:
                    pass
                time.sleep(every_s)

        self._beat_thread = threading.Thread(target=beat, daemon=True)
        self._beat_thread.start()

    def stop_heartbeats(self) -> None:
        self._beating.clear()
        if self._beat_thread is not None:
            self._beat_thread.join(5)
            self._beat_thread = None

    def serve_automatically(self, result_for=lambda a: f"echo: {a['job_data']['prompt']}") -> None:
        """Run every assignment as a well-behaved miner would: running, then a signed
        completion, retried while the coordinator is unreachable or restarting."""
        def work() -> None:
            while self._beating.is_set() or self._auto.is_set():
                try:
                    assignment = self.assignments.get(timeout=0.2)
                except queue.Empty:
                    continue
                job_id = assignment["job_id"]
                self.worked_on.append(job_id)
                self._deliver(lambda j=job_id: self.report(j, "running"))
                self._deliver(lambda j=job_id, a=assignment: self.complete(j, result_for(a)))

        self._auto.set()
        self._auto_thread = threading.Thread(target=work, daemon=True)
        self._auto_thread.start()

    def _deliver(self, call, timeout: float = 60) -> httpx.Response | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._auto.is_set():
            try:
                response = call()
            except httpx.HTTPError:
                time.sleep(0.3)
                continue
            if response.status_code < 500:
                return response
            time.sleep(0.3)
        return None

    def next_assignment(self, timeout: float = 20) -> dict[str, Any]:
        return self.assignments.get(timeout=timeout)

    def report(self, job_id: str, status: str, error: str | None = None) -> httpx.Response:
        body: dict[str, Any] = {"status": status}
        if error:
            body["error"] = error
        return self.post(f"/v1/jobs/{job_id}/status", body)

    def completion(self, job_id: str, result: str, compute_time_ms: int = 12_500,
                   signer: PrivateKey | None = None) -> dict[str, Any]:
        """A JobComplete body with a ComputeProof signed by `signer` (default: this miner)."""
        signer = signer or self.key
        result_hash = hashlib.sha256(result.encode()).digest()
        # Attest what the assignment asked for (a job never received attests a stand-in).
        job = self.received.get(job_id, {}).get("job_data", {})
        options = job.get("options", {"temperature": 0, "seed": 1, "num_predict": 128})
        proof = tx_pb2.ComputeProof(
            chain_id=CHAIN_ID, job_id=job_id, miner=signer.address, model=MODEL, result_hash=result_hash,
            # (25 + 42 tokens) x the default 200 ms-per-token ceiling covers the 12.5 s the tests claim
            compute_time_ms=compute_time_ms, tokens_generated=42, prompt_tokens=25, model_digest="sha256:hand-miner",
            prompt_hash=hashlib.sha256(job.get("prompt", "").encode()).digest(),
            options=tx_pb2.JobOptions(temperature_milli=temperature_milli(options["temperature"]),
                                      seed=options["seed"], num_predict=options["num_predict"]))
        data, signature = txlib.sign_proof(signer, proof)
        return {"job_id": job_id, "result": result,
                "metrics": {"compute_time": compute_time_ms / 1000, "tokens_generated": 42, "prompt_tokens": 25},
                "proof": {"hash": result_hash.hex(), "data": base64.b64encode(data).decode(),
                          "signature": signature.hex()}}

    def complete(self, job_id: str, result: str, compute_time_ms: int = 12_500) -> httpx.Response:
        return self.post(f"/v1/jobs/{job_id}/complete", self.completion(job_id, result, compute_time_ms))


class MinerProcess:
    """The real miner daemon: `python -m aitbc.miner start` against a real Ollama."""

    def __init__(self, root: Path, name: str, chain: ChainStack, coordinator_url: str, ollama_url: str,
                 model: str = MODEL, capacity: int = 1, extra_args: tuple[str, ...] = ()):
        self.root, self.name = root, name
        self.port = procs.free_port()
        self.log_path = root / f"{name}.out"
        self.cmd = [sys.executable, "-m", "aitbc.miner", "start", "--node", chain.url,
                    "--coordinator-url", coordinator_url, "--port", str(self.port), "--ollama-url", ollama_url,
                    "--model", model, "--capacity", str(capacity), "--num-thread", "1",
                    "--heartbeat-interval", "1", "--data-dir", str(root / name), *extra_args]
        self.proc = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "MinerProcess":
        # The key seed by environment: argv is readable by every local user.
        env = {"AITBC_HOME": str(self.root / "home"), "PYTHONPATH": str(ROOT),
               "AITBC_MINER_KEY": KEYS[self.name].seed.hex()}
        self.proc = procs.spawn(self.cmd, self.log_path, env)
        procs.wait_until(lambda: httpx.get(f"{self.url}/health", timeout=1).status_code < 500, 60,
                         f"miner {self.name}", self.proc, self.log_path)
        return self

    def stop(self) -> None:
        procs.stop(self.proc)


# --- pytest fixtures ----------------------------------------------------------------------

@pytest.fixture
def chain(tmp_path: Path) -> Iterator[ChainStack]:
    """A fresh chain per test; pending jobs expire on chain after 30 s (a backstop only)."""
    stack = ChainStack(tmp_path / "chain", pending_timeout_s=30, job_timeout_s=120)
    try:
        yield stack.start()
    finally:
        stack.stop()


@pytest.fixture
def coordinator_factory(tmp_path: Path, chain: ChainStack) -> Iterator[Any]:
    """make(**settings) -> a started CoordinatorProcess; all are stopped at the end."""
    started: list[CoordinatorProcess] = []

    def make(**settings: Any) -> CoordinatorProcess:
        process = CoordinatorProcess(tmp_path / "coordinator", chain, **settings)
        started.append(process)
        return process.start()

    try:
        yield make
    finally:
        for process in started:
            process.stop()


@pytest.fixture
def coordinator(coordinator_factory) -> CoordinatorProcess:
    return coordinator_factory()


@pytest.fixture
def hand_miner() -> Iterator[HandMiner]:
    with HandMiner("miner1", KEYS["coordinator"].address) as miner:
        yield miner
