"""A miner driven by hand: an HTTP endpoint that takes the coordinator's pushed
assignments (checking its signature) and signed status, completion and heartbeat
calls made when the caller says so, or automatically as a well-behaved miner would.
"""

from __future__ import annotations

import base64
import json
import queue
import threading
import time
from typing import Any

import httpx

from aitbc import tx as txlib
from aitbc.crypto import PrivateKey
from aitbc.endpoints import authority
from aitbc.jobspec import chain_options, prompt_hash, result_hash
from aitbc.ops.factories import CHAIN_ID, KEYS
from aitbc.ops.harness.chain import MODEL
from aitbc.ops.harness.stub_http import StubRequest, StubServer
from aitbc.pb.aitbc_pb import tx_pb2
from aitbc.signed_http import ReplayCache, SignatureRejected, push_target, sign_request, verify_request


class HandMiner:
    """A miner driven by the caller; a context manager that stops its server and threads."""

    def __init__(self, name: str, coordinator_address: str):
        self.name = name
        self.key: PrivateKey = KEYS[name]
        self.coordinator_address = coordinator_address
        self.assignments: queue.Queue[dict[str, Any]] = queue.Queue()
        self.received: dict[str, dict[str, Any]] = {}  # job id -> its assignment, to attest what was run
        self.accept = True
        self._server: StubServer | None = None
        self._beating = threading.Event()
        self._beat_thread: threading.Thread | None = None
        self._auto = threading.Event()
        self._auto_threads: list[threading.Thread] = []
        # One client for every call (threads share it): a new one per call built a TLS context
        # each time, which made the test process, not the coordinator, the bottleneck under load.
        self._http = httpx.Client(timeout=10)
        self.worked_on: list[str] = []
        self.coordinator_url = ""
        self.replay = ReplayCache()

    @property
    def address(self) -> str:
        return self.key.address

    @property
    def endpoint(self) -> str:
        assert self._server is not None
        return self._server.url

    def _take_assignment(self, request: StubRequest) -> tuple[int, dict[str, Any]]:
        if request.method != "POST":
            return 501, {"detail": "a miner endpoint only takes POSTed assignments"}
        try:
            signer = verify_request(request.headers, "POST", request.path, request.body, replay=self.replay,
                                    target=push_target(self.address, authority(self.endpoint)))
        except SignatureRejected as exc:
            return 401, {"detail": str(exc)}
        if signer.address != self.coordinator_address:
            return 403, {"detail": "not the coordinator"}
        assignment = json.loads(request.body)
        self.received[assignment["job_id"]] = assignment
        self.assignments.put(assignment)
        return 202, {"job_id": assignment["job_id"], "accepted": self.accept, "active_jobs": 1}

    def __enter__(self) -> "HandMiner":
        self._server = StubServer(self._take_assignment)
        return self

    def __exit__(self, *exc: object) -> None:
        self._auto.clear()
        self.stop_heartbeats()  # first: a worker goes on while heartbeats run
        for thread in self._auto_threads:
            thread.join(5)
        if self._server is not None:
            self._server.close()
        self._http.close()

    # --- signed calls to the coordinator ------------------------------------------
    def post(self, path: str, body: dict[str, Any], key: PrivateKey | None = None) -> httpx.Response:
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json",
                   **sign_request(key or self.key, "POST", path, data, target=self.coordinator_address)}
        return self._http.post(self.coordinator_url + path, content=data, headers=headers)

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

    def serve_automatically(self, result_for=lambda a: f"echo: {a['job_data']['prompt']}", workers: int = 1) -> None:
        """Run every assignment as a well-behaved miner would: running, then a signed
        completion, retried while the coordinator is unreachable or restarting; `workers`
        assignments at once (`result_for` may take its time, as a model would)."""
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
        for _ in range(workers):
            thread = threading.Thread(target=work, daemon=True)
            thread.start()
            self._auto_threads.append(thread)

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
        # Attest what the assignment asked for (a job never received attests a stand-in).
        job = self.received.get(job_id, {}).get("job_data", {})
        options = job.get("options", {"temperature": 0, "seed": 1, "num_predict": 128})
        proof = tx_pb2.ComputeProof(
            chain_id=CHAIN_ID, job_id=job_id, miner=signer.address, model=MODEL, result_hash=result_hash(result),
            # (25 + 42 tokens) x the default 200 ms-per-token ceiling covers the 12.5 s the tests claim
            compute_time_ms=compute_time_ms, tokens_generated=42, prompt_tokens=25, model_digest="sha256:hand-miner",
            prompt_hash=prompt_hash(job.get("prompt", "")),
            options=chain_options(options["temperature"], options["seed"], options["num_predict"]))
        data, signature = txlib.sign_proof(signer, proof)
        return {"job_id": job_id, "result": result,
                "metrics": {"compute_time": compute_time_ms / 1000, "tokens_generated": 42, "prompt_tokens": 25},
                "proof": {"hash": proof.result_hash.hex(), "data": base64.b64encode(data).decode(),
                          "signature": signature.hex()}}

    def complete(self, job_id: str, result: str, compute_time_ms: int = 12_500) -> httpx.Response:
        return self.post(f"/v1/jobs/{job_id}/complete", self.completion(job_id, result, compute_time_ms))
