"""CPU per request of the coordinator's hot routes, DirectRoute against FastAPI's own handling.

In process: the coordinator's app (its middleware, problem handlers, SQLite store) with a
stand-in node that accepts every tx, called as an ASGI app on its own event loop, without
sockets or an HTTP server. Beside each DirectRoute (coordinator/http/direct_route.py) the
same endpoint is mounted as a plain FastAPI route, and batches of requests go to one and
the other in turn, so that both meet the machine alike. What it shows is the difference
the route class makes per request (µs of this process's CPU); the absolute figures leave
out uvicorn, the sockets and the node. `python -m bench.intake_ab` measures submissions
end to end.

Usage: python -m bench.route_cpu [--rounds 6] [--batch 300]
Prints one JSON line per route; writes nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from typing import Any, Callable

from fastapi.testclient import TestClient

from aitbc import tx as txlib
from aitbc.api.coordinator_client import sign_job
from aitbc.api.coordinator_models import ChunkAccepted, JobSubmitted
from aitbc.coordinator import job_state
from aitbc.coordinator.http.app import create_app
from aitbc.coordinator.http.routers import jobs
from aitbc.coordinator.settings import CoordinatorSettings
from aitbc.ops.factories import CHAIN_ID, KEYS
from aitbc.rpc import BroadcastResult
from aitbc.signed_http import sign_request

API_KEY = "bench-key"
MODEL = "aitbc-tiny"


class _Node:
    """What the coordinator asks a node for on these routes: parameters, one miner, CheckTx (always ok)."""

    height = 0

    async def query(self, path: str) -> Any:
        if path.strip("/") == "params":
            return {"chain_id": CHAIN_ID, "coordinator": KEYS["coordinator"].address, "price_per_second": 20_000,
                    "pending_timeout_s": 3600, "job_timeout_s": 3600, "min_miner_stake": 1}
        if path.strip("/") == "miners":
            return [{"address": KEYS["miner1"].address, "stake": 10**9, "models": [MODEL], "capacity": 10**6,
                     "active_jobs": 0, "completed": 0, "failed": 0, "endpoint": "http://127.0.0.1:1",
                     "public_key": "", "price_per_second": 20_000}]
        return {"address": path.rsplit("/", 1)[-1], "exists": True, "balance": 10**12, "nonce": 0}

    async def query_at(self, path: str) -> tuple[Any, int]:
        return await self.query(path), self.height

    async def broadcast(self, raw: bytes, mode: str = "sync") -> BroadcastResult:
        return BroadcastResult(txlib.tx_hash(raw), 0, "")

    async def call(self, method: str, **params: Any) -> Any:
        return {"txs": []}

    async def status(self) -> dict[str, Any]:
        return {"sync_info": {"latest_block_height": "1"}}

    async def aclose(self) -> None:
        pass


def _scope(path: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]
            + [(b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80), "state": {}}


async def _call(app: Any, path: str, headers: dict[str, str], body: bytes) -> int:
    """The status the app answers one request with."""
    delivered, status = False, 0

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(_scope(path, headers, body), receive, send)
    return status


def measure(rounds: int = 6, batch: int = 300) -> dict[str, dict[str, Any]]:
    """µs of CPU per request, per route and side: {"submit": {"direct": [...], "plain": [...]}, "chunk": ...}."""
    with tempfile.TemporaryDirectory(prefix="aitbc-route-cpu-") as directory:
        settings = CoordinatorSettings(data_dir=directory, client_api_keys=[API_KEY], rate_limit_per_minute=10**7,
                                       rate_limit_burst=10**7)
        app = create_app(settings, rpc=_Node(), key=KEYS["coordinator"], run_scheduler=False)
        app.router.add_api_route("/plain/jobs", jobs.submit_job, methods=["POST"], status_code=201,
                                 response_model=JobSubmitted)
        app.router.add_api_route("/plain/jobs/{job_id}/chunks", jobs.add_chunk, methods=["POST"], status_code=202,
                                 response_model=ChunkAccepted)
        client_key, miner = KEYS["alice"], KEYS["miner1"]
        target = KEYS["coordinator"].address
        nonce, seq = 0, {"direct": 0, "plain": 0}
        with TestClient(app) as client:
            client.headers["X-Api-Key"] = API_KEY
            streamed = {}
            for side in ("direct", "plain"):  # one job per side, assigned to the miner, for its chunks
                job_id = client.post("/v1/jobs", json=sign_job(client_key, CHAIN_ID, nonce, "bench", MODEL, 10**6)
                                     .model_dump(mode="json")).json()["job_id"]
                nonce += 1
                store = app.state.coordinator.store
                job_state.mark_assigned(store, store.get_job(job_id), miner.address)
                streamed[side] = job_id

            def submissions(side: str) -> list[tuple[str, dict[str, str], bytes]]:
                nonlocal nonce
                path = "/v1/jobs" if side == "direct" else "/plain/jobs"
                out = []
                for _ in range(batch):
                    body = json.dumps(sign_job(client_key, CHAIN_ID, nonce, "bench", MODEL, 10**6)
                                      .model_dump(mode="json")).encode()
                    nonce += 1
                    out.append((path, {"Content-Type": "application/json", "X-Api-Key": API_KEY}, body))
                return out

            def chunks(side: str) -> list[tuple[str, dict[str, str], bytes]]:
                path = f"/v1/jobs/{streamed[side]}/chunks" if side == "direct" else f"/plain/jobs/{streamed[side]}/chunks"
                out = []
                for _ in range(batch):
                    body = json.dumps({"seq": seq[side], "text": "tok "}).encode()
                    seq[side] += 1
                    headers = sign_request(miner, "POST", path, body, target=target)
                    headers["Content-Type"] = "application/json"
                    out.append((path, headers, body))
                return out

            def timed(requests: list[tuple[str, dict[str, str], bytes]], expect: int) -> float:
                async def drive() -> float:
                    start = time.process_time()
                    for path, headers, body in requests:
                        status = await _call(app, path, headers, body)
                        assert status == expect, (path, status)
                    return (time.process_time() - start) / len(requests) * 1e6
                return client.portal.call(drive)

            routes: dict[str, tuple[Callable[[str], list], int]] = {"submit": (submissions, 201), "chunk": (chunks, 202)}
            out: dict[str, dict[str, Any]] = {name: {"direct": [], "plain": []} for name in routes}
            for _ in range(rounds):
                for name, (make, expect) in routes.items():
                    for side in ("direct", "plain"):
                        out[name][side].append(round(timed(make(side), expect), 1))
    for sides in out.values():
        sides["saved_us"] = round(statistics.median(sides["plain"]) - statistics.median(sides["direct"]), 1)
        sides["direct_over_plain"] = round(statistics.median(sides["direct"]) / statistics.median(sides["plain"]), 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--batch", type=int, default=300)
    args = parser.parse_args()
    for name, sides in measure(args.rounds, args.batch).items():
        print(json.dumps({"route": name, **sides}), flush=True)


if __name__ == "__main__":
    main()
