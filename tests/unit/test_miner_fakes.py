"""In-memory stand-ins for the miner's neighbours: chain, Ollama, coordinator.

Imported by the miner unit tests; the real ones are exercised in
tests/integration/test_miner_ollama.py.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any, Callable

import httpx

from aitbc import tx as txlib
from aitbc.crypto import PrivateKey
from aitbc.rpc import BroadcastResult, QueryFailed
from aitbc.signed_http import push_target, sign_request, verify_request
from aitbc.miner.daemon import MinerDaemon
from aitbc.api.miner_models import JobAssignment, JobData
from aitbc.miner.ollama_client import GenerateResult, ModelDetails, ModelEntry, ModelInfo
from aitbc.miner.settings import MinerSettings

CHAIN_ID = "aitbc-unit"
COORDINATOR = PrivateKey(b"\x01" * 32)
MINER = PrivateKey(b"\x02" * 32)
STRANGER = PrivateKey(b"\x03" * 32)
MODEL = "aitbc-tiny"


class FakeChain:
    """Answers the queries the miner makes; applies its register/update txs at once."""

    def __init__(self, balance: int = 10**12):
        self.params = {"chain_id": CHAIN_ID, "coordinator": COORDINATOR.address, "min_miner_stake": 100_000_000,
                       "price_per_second": 20_000, "pending_timeout_s": 60, "job_timeout_s": 600}
        self.miners: dict[str, dict[str, Any]] = {}
        self.balance, self.nonce = balance, 0
        self.txs: list[txlib.SignedTx] = []
        # Jobs by id; any other id reads as assigned to `assign_all_to` (None: not found).
        self.jobs: dict[str, dict[str, Any]] = {}
        self.assign_all_to: str | None = MINER.address

    async def query(self, path: str) -> Any:
        if path == "/params":
            return self.params
        kind, _, address = path.strip("/").partition("/")
        if kind == "job":
            if address in self.jobs:
                return self.jobs[address]
            if self.assign_all_to is None:
                raise QueryFailed(path, 40, f"job {address} not found")
            return {"id": address, "status": "assigned", "miner": self.assign_all_to, "checker": ""}
        if kind == "miner":
            if address not in self.miners:
                raise QueryFailed(path, 40, f"miner {address} not found")
            return self.miners[address]
        if kind == "nonce":
            return {"address": address, "exists": True, "balance": self.balance, "nonce": self.nonce}
        raise AssertionError(f"unexpected query {path}")

    async def broadcast(self, raw: bytes, mode: str = "sync") -> BroadcastResult:
        tx = txlib.decode(raw)
        assert tx.chain_id == CHAIN_ID and tx.nonce == self.nonce
        self.txs.append(tx)
        self.nonce += 1
        m = tx.msg
        offer = {"models": list(m.models), "capacity": m.capacity, "price_per_second": m.price_per_second,
                 "endpoint": m.endpoint, "encryption_key": m.encryption_key.hex()}
        if tx.kind == "register_miner":
            self.miners[tx.sender] = {"address": tx.sender, "stake": m.stake, **offer}
        else:
            self.miners[tx.sender].update(offer, stake=self.miners[tx.sender]["stake"] + m.add_stake)
        return BroadcastResult(tx.hash, 0, "")


class FakeOllama:
    """Generates `"echo: <prompt>"`; `behaviour(model, prompt)` may raise or block instead."""

    def __init__(self, models: tuple[str, ...] = (f"{MODEL}:latest",)):
        self.models = models
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.timeouts: list[float | None] = []  # what each call was given for the whole generation
        self.behaviour: Callable[[str, str], None] | None = None
        self.release = threading.Event()  # set by a test to let blocked generations finish
        self.release.set()

    async def list_models(self) -> list[ModelEntry]:
        return [ModelEntry(name=m, model=m) for m in self.models]

    async def show(self, model: str) -> ModelInfo:
        return ModelInfo(name=model, model_digest="ab" * 32, manifest_digest="cd" * 32, size=1, details=ModelDetails())

    async def version(self) -> str:
        return "0.0.0"

    async def generate(self, model: str, prompt: str, options: dict[str, Any] | None = None,
                       timeout: float | None = None, *, on_text: Callable[[str], None] | None = None
                       ) -> GenerateResult:
        self.calls.append((model, prompt, options or {}))
        self.timeouts.append(timeout)
        while not self.release.is_set():  # a threading.Event: tests run in another thread
            await asyncio.sleep(0.005)
        if self.behaviour is not None:
            self.behaviour(model, prompt)
        response = f"echo: {prompt}"
        if on_text is not None:  # streamed in two pieces, as Ollama would
            on_text(response[:6])
            on_text(response[6:])
        return GenerateResult(model=model, response=response, done=True, done_reason="stop",
                              total_duration=1_234_000_000, prompt_eval_count=5, eval_count=7)

    async def chat(self, model: str, messages: list[dict[str, str]], options: dict[str, Any] | None = None,
                   timeout: float | None = None, *, on_text: Callable[[str], None] | None = None
                   ) -> GenerateResult:
        """Answers the last message as `generate` answers a prompt."""
        return await self.generate(model, messages[-1]["content"], options, timeout, on_text=on_text)


class FakeCoordinator:
    """An httpx transport that records the miner's signed calls and answers `status_for(path)`."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any], str]] = []  # (path, json body, signer address)
        self.status_for: Callable[[str], int] = lambda path: 200

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path == "/v1/chain":  # open: who the coordinator is
            return httpx.Response(200, json={"chain_id": CHAIN_ID, "coordinator": COORDINATOR.address,
                                             "price_per_second": 20_000, "node": "http://node.test"})
        body = request.read()
        signer = verify_request(request.headers, request.method, request.url.path, body,
                                target=COORDINATOR.address)
        self.calls.append((request.url.path, json.loads(body), signer.address))
        status = self.status_for(request.url.path)
        return httpx.Response(status, json={"ok": status < 400} if status < 400 else {"detail": "nope"})

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)

    def paths(self, prefix: str = "/v1/jobs/") -> list[str]:
        return [p for p, _, _ in self.calls if p.startswith(prefix)]

    def wait_for(self, path: str, timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for p, body, _ in self.calls:
                if p == path:
                    return body
            time.sleep(0.01)
        raise AssertionError(f"no call to {path}; got {[p for p, _, _ in self.calls]}")


def wait_until(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll `check` (from the test thread) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"condition not met within {timeout} s")


def settings(tmp_path: Path, **overrides: Any) -> MinerSettings:
    return MinerSettings(key=MINER.seed.hex(), data_dir=tmp_path, models=[MODEL], heartbeat_interval_s=0.05,
                         coordinator_url="http://coordinator.test", **overrides)


def daemon(tmp_path: Path, chain: FakeChain | None = None, ollama: FakeOllama | None = None,
           coordinator: FakeCoordinator | None = None, **overrides: Any) -> MinerDaemon:
    return MinerDaemon(settings(tmp_path, **overrides), chain=chain or FakeChain(), ollama=ollama or FakeOllama(),
                       coordinator_transport=(coordinator or FakeCoordinator()).transport)


def assignment(job_id: str = "job_1", model: str = MODEL, chain_id: str = CHAIN_ID,
               prompt: str = "hi") -> JobAssignment:
    return JobAssignment(job_id=job_id, job_data=JobData(prompt=prompt, model=model), reward=1_000_000,
                         chain_id=chain_id)


MINER_TARGET = push_target(MINER.address, "127.0.0.1:18001")  # the default endpoint of settings()


def signed(a: JobAssignment, key: PrivateKey = COORDINATOR, target: str = MINER_TARGET) -> dict[str, Any]:
    """kwargs for TestClient.post of `a` signed by `key` for the miner `target`."""
    body = a.model_dump_json().encode()
    return {"content": body, "headers": {"Content-Type": "application/json",
                                         **sign_request(key, "POST", "/v1/jobs/assign", body, target=target)}}
