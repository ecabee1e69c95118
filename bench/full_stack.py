"""Benchmarks that need the whole stack: a real chain (cometbft + our app, 1 s
blocks), the real coordinator, the real miner daemon and a real Ollama serving
the generated tiny model. The processes are started and stopped with the
process harness (aitbc.ops.harness).

- miner overhead: a job pushed to the miner (signed as the coordinator) until
  its signed completion reaches a stand-in coordinator, against the same
  prompt sent to Ollama directly, alternating.
- job overhead: jobs through the coordinator client the CLI uses (sign, POST
  /v1/jobs, poll GET /v1/jobs/{id} every 50 ms until completed), coordinator,
  chain, miner and Ollama; the time until the client holds the result (released
  with its receipt pending) and until the job is final (receipt in a block), each
  minus Ollama's total_duration; optionally again on a chain with shorter blocks.
- coordinator intake: job submissions accepted per second by one coordinator
  (it runs CheckTx through broadcast_tx_sync), next to the node's own
  broadcast_tx_sync rate for the same kind of txs, at the same concurrency, in
  alternating windows, with the CPU time each process spent per accepted submission.

Usage: python -m bench.full_stack [--jobs 50] [--miner-runs 30] [--intake-seconds 10] [--intake-rounds 6]
                                  [--short-block-jobs 0]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from aitbc import tx as txlib
from aitbc.api.coordinator_client import CoordinatorClient, sign_job
from aitbc.api.coordinator_models import JobOptions
from aitbc.api.miner_client import MinerClient
from aitbc.api.miner_models import JobAssignment, JobData
from aitbc.crypto import PrivateKey
from aitbc.rpc import ChainRPC
from aitbc import jobspec
from aitbc.miner.ollama_client import OllamaClient
from aitbc.ops import procs
from aitbc.ops.factories import CHAIN_ID, KEYS
from aitbc.ops.harness import (
    CLIENT_API_KEY, ChainStack, CoordinatorProcess, MinerProcess, StubRequest, StubServer, serve_model, wait_for,
)
from aitbc.ops.ollama_server import TINY_MODEL_NAME
from aitbc.ops.tiny_model import write_tiny_model
from bench import env
from bench.loadgen import Conn

PROMPT = "why is the sky blue"
OPTIONS = JobOptions(temperature=0, seed=42, num_predict=16)
POLL_S = 0.05
# The coordinator's queue timeout during intake, which queues jobs for a few minutes with no
# miner online (intake's docstring). Until 2026-12-04 it was the harness's 60 s, so from the
# middle rounds on the coordinator also failed 32 overdue jobs a tick.
QUEUE_TIMEOUT_S = 3600
NO_RATE_LIMIT = {"rate_limit_per_minute": 10_000_000, "rate_limit_burst": 1_000_000,
                 "ip_rate_limit_per_minute": 10_000_000, "ip_rate_limit_burst": 1_000_000}


# --- miner overhead --------------------------------------------------------------------

class StandInCoordinator(StubServer):
    """Answers the miner's signed calls with 200 and notes when each completion arrives."""

    def __init__(self) -> None:
        self.completed: dict[str, float] = {}
        self.arrived = threading.Condition()
        super().__init__(self._answer, keep_alive=True)

    def _answer(self, request: StubRequest) -> tuple[int, dict[str, Any]]:
        if request.method != "POST":
            return 501, {"detail": "the miner only POSTs to its coordinator"}
        if request.path.endswith("/complete"):
            job_id = request.path.split("/")[3]
            with self.arrived:
                self.completed[job_id] = time.perf_counter()
                self.arrived.notify_all()
        return 200, {}

    def wait(self, job_id: str, timeout: float = 60) -> float:
        with self.arrived:
            if not self.arrived.wait_for(lambda: job_id in self.completed, timeout):
                raise TimeoutError(f"no completion for {job_id}")
            return self.completed[job_id]


MINER_NAME = "miner2"


def _send(chain: ChainStack, name: str, kind: str, **fields: Any) -> None:
    key = KEYS[name]
    nonce = chain.rpc.query(f"/nonce/{key.address}")["nonce"]
    result = chain.rpc.broadcast(txlib.build(key, CHAIN_ID, nonce, kind, **fields), "commit")
    assert result.ok, f"{kind}: {result.code_name} {result.log}"


def _job_on_chain(chain: ChainStack, miner: str) -> str:
    """A job of alice's, on chain and assigned to `miner` by the coordinator's key; returns its id."""
    alice = KEYS["alice"].address
    job_id = txlib.job_id_for(alice, chain.rpc.query(f"/nonce/{alice}")["nonce"], CHAIN_ID)
    _send(chain, "alice", "submit_job", job_type="inference", model=TINY_MODEL_NAME,
          prompt_hash=jobspec.prompt_hash(PROMPT), prompt_bytes=len(PROMPT.encode()),
          max_reward=100_000, options={"temperature_milli": jobspec.temperature_milli(OPTIONS.temperature),
                                       "seed": OPTIONS.seed, "num_predict": OPTIONS.num_predict})
    _send(chain, "coordinator", "assign_job", job_id=job_id, miner=KEYS[miner].address)
    return job_id


def miner_overhead(root: Path, chain: ChainStack, ollama_url: str, runs: int) -> dict[str, Any]:
    stand_in = StandInCoordinator()
    miner = MinerProcess(root, MINER_NAME, chain, stand_in.url, ollama_url, model=TINY_MODEL_NAME)
    direct_ms, miner_ms, totals_ms = [], [], []
    try:
        miner.start()
        options = {"temperature": OPTIONS.temperature, "seed": OPTIONS.seed, "num_predict": OPTIONS.num_predict,
                   "num_thread": 1}  # as MinerProcess runs it (--num-thread 1)

        async def measure() -> None:
            async with OllamaClient(ollama_url) as ollama:
                client = MinerClient(KEYS["coordinator"])
                try:
                    for i in range(runs + 2):  # the first two warm both paths up
                        t = time.perf_counter()
                        answer = await ollama.generate(TINY_MODEL_NAME, PROMPT, options)
                        direct = (time.perf_counter() - t) * 1000
                        # A miner runs only what the chain assigned to it: a real job, assigned on chain.
                        job_id = await asyncio.to_thread(_job_on_chain, chain, MINER_NAME)
                        assignment = JobAssignment(job_id=job_id, reward=100_000, chain_id=CHAIN_ID, job_data=JobData(
                            prompt=PROMPT, model=TINY_MODEL_NAME, options=OPTIONS))
                        t = time.perf_counter()
                        await client.assign(miner.url, assignment, KEYS[MINER_NAME].address)
                        done = await asyncio.to_thread(stand_in.wait, job_id)
                        await asyncio.to_thread(_send, chain, "coordinator", "fail_job", job_id=job_id,
                                                reason="bench run over")  # frees the miner's slot on chain
                        if i >= 2:
                            direct_ms.append(direct)
                            miner_ms.append((done - t) * 1000)
                            totals_ms.append(answer.total_duration / 1e6)
                finally:
                    await client.aclose()

        asyncio.run(measure())
    finally:
        miner.stop()
        stand_in.close()
    d, m = env.spread(direct_ms, 2), env.spread(miner_ms, 2)
    overhead = m["median"] - d["median"]
    allowed = max(0.02 * d["median"], 20.0)
    return {"runs": runs, "direct_ms": d, "miner_ms": m, "ollama_total_duration_ms": env.spread(totals_ms, 2),
            "overhead_ms": round(overhead, 2), "overhead_pct": round(100 * overhead / d["median"], 1),
            "allowed_ms": round(allowed, 2), "target_met": overhead < allowed,
            "series": {"direct_ms": direct_ms, "miner_ms": miner_ms}}


# --- job overhead ------------------------------------------------------------------------

def job_overhead(coordinator: CoordinatorProcess, chain: ChainStack, jobs: int) -> dict[str, Any]:
    """Client-seen latency = submit until the client holds the result: the first poll that shows it
    (released once the coordinator checked the proof and CheckTx accepted the receipt, marked
    receipt_pending), and, apart, until the job is final (its receipt in a block)."""
    rows = []
    with CoordinatorClient(coordinator.url, CLIENT_API_KEY, timeout=30, backoff_s=0.1) as client:
        for i in range(jobs):
            body = chain.sign_job("alice", prompt=f"{PROMPT} #{i}", model=TINY_MODEL_NAME, max_reward=100_000,
                                  options=OPTIONS)
            t0 = time.perf_counter()
            submitted = client.submit_job(body)
            t_submit = time.perf_counter() - t0
            t_result = None
            pending_seen = False
            while True:
                job = client.get_job(submitted.job_id)
                if job.result is not None and t_result is None:
                    t_result = time.perf_counter() - t0
                    pending_seen = job.receipt_pending
                if job.status in jobspec.FINAL:
                    break
                if time.perf_counter() - t0 > 60:
                    raise TimeoutError(f"job {submitted.job_id} still {job.status} after 60 s")
                time.sleep(POLL_S)
            latency = time.perf_counter() - t0
            if job.status != "completed":
                raise RuntimeError(f"job {job.job_id} {job.status}: {job.error}")
            wait_for(lambda: chain.rpc.query(f"/receipt/{job.job_id}"), 10, "receipt")  # already, by design
            rows.append({"job_id": job.job_id, "result_s": t_result, "latency_s": latency, "submit_s": t_submit,
                         "receipt_pending_seen": pending_seen,
                         "ollama_s": job.compute_time or 0.0, "block_height": job.block_height,
                         "queued_s": (job.started_at - job.submitted_at).total_seconds() if job.started_at else None,
                         "released_after_start_s": (job.released_at - job.started_at).total_seconds()
                         if job.started_at and job.released_at else None,
                         "after_start_s": (job.completed_at - job.started_at).total_seconds()
                         if job.started_at and job.completed_at else None})
    overhead = [r["result_s"] - r["ollama_s"] for r in rows]
    final = [r["latency_s"] - r["ollama_s"] for r in rows]
    p50, p95 = env.percentile(overhead, 50), env.percentile(overhead, 95)
    target = {"p50_s": 0.6, "p95_s": 1.0}
    return {"jobs": jobs, "block_interval": "1 s (timeout_commit)", "client_poll_s": POLL_S,
            "overhead_p50_s": round(p50, 3), "overhead_p95_s": round(p95, 3),
            "overhead_s": env.spread(overhead, 3), "result_s": env.spread([r["result_s"] for r in rows], 3),
            "final_overhead_p50_s": round(env.percentile(final, 50), 3),
            "final_overhead_p95_s": round(env.percentile(final, 95), 3),
            "final_overhead_s": env.spread(final, 3), "latency_s": env.spread([r["latency_s"] for r in rows], 3),
            "receipt_pending_seen": sum(r["receipt_pending_seen"] for r in rows),
            "queued_s": env.spread([r["queued_s"] for r in rows if r["queued_s"] is not None], 3),
            "ollama_s": env.spread([r["ollama_s"] for r in rows], 4),
            "submit_call_s": env.spread([r["submit_s"] for r in rows], 3),
            "target": target, "target_met": p50 <= target["p50_s"] and p95 <= target["p95_s"], "rows": rows}


# --- coordinator intake -----------------------------------------------------------------

def fund(chain: ChainStack, keys: list[PrivateKey], amount: int = 10_000_000) -> None:
    nonce = chain.next_nonce("alice")
    last = None
    for i, key in enumerate(keys):
        last = chain.rpc.broadcast(txlib.build(KEYS["alice"], CHAIN_ID, nonce + i, "transfer", to=key.address,
                                               amount=amount), "sync")
        assert last.ok, last.log
    wait_for(lambda: _balance(chain, keys[-1]) >= amount, 30, "funding in a block")


def _balance(chain: ChainStack, key: PrivateKey) -> int:
    try:
        return int(chain.rpc.query(f"/account/{key.address}")["balance"])
    except Exception:  # noqa: BLE001 - not there yet
        return 0


def _submit_bodies(keys: list[PrivateKey], per_key: int, start_nonce: dict[str, int]) -> list[list[tuple[bytes, bytes]]]:
    """Per key: (JobCreate JSON, raw submit_job tx) in nonce order."""
    streams = []
    for key in keys:
        stream = []
        for n in range(per_key):
            job = sign_job(key, CHAIN_ID, start_nonce.get(key.address, 0) + n, f"intake {key.address[-6:]} {n}",
                           TINY_MODEL_NAME, 1000, OPTIONS)
            stream.append((job.model_dump_json(exclude_none=True).encode(), base64.b64decode(job.signed_tx)))
        streams.append(stream)
    return streams


async def _drive(host: str, port: int, requests: list[list[bytes]], path: bytes, headers: bytes,
                 seconds: float, ok, start: list[int] | None = None) -> dict[str, Any]:
    """One connection per stream, one request at a time, for `seconds`; stream i from its
    request `start[i]` on. `sent` says where each stream stopped."""
    accepted = rejected = ran_dry = 0
    latencies: list[float] = []
    errors: dict[str, int] = {}
    sent = list(start or [0] * len(requests))
    deadline = time.monotonic() + seconds

    async def one(i: int, stream: list[bytes]) -> None:
        nonlocal accepted, rejected, ran_dry
        conn = Conn(host, port)
        await conn.open()
        try:
            for body in stream[sent[i]:]:
                if time.monotonic() >= deadline:
                    return
                t = time.perf_counter()
                status, answer = await conn.request(body, path, headers)
                latencies.append(time.perf_counter() - t)
                sent[i] += 1
                if ok(status, answer):
                    accepted += 1
                else:
                    rejected += 1
                    key = f"{status}: {answer[:80].decode(errors='replace')}"
                    errors[key] = errors.get(key, 0) + 1
            ran_dry += 1  # every pre-signed tx sent before the time was up: the rate is a floor
        finally:
            conn.close()

    t0 = time.monotonic()
    await asyncio.gather(*(one(i, s) for i, s in enumerate(requests)))
    elapsed = time.monotonic() - t0
    return {"accepted": accepted, "rejected": rejected, "streams_ran_dry": ran_dry, "seconds": round(elapsed, 2),
            "accepted_per_s": round(accepted / elapsed, 1), "latency_ms": env.spread([x * 1000 for x in latencies], 1),
            "errors": dict(sorted(errors.items(), key=lambda kv: -kv[1])[:5]), "sent": sent, "latencies": latencies}


# The coordinator's histograms of what a submission waits for (coordinator/metrics.py); a
# coordinator from before them (bench/baseline.py) has none, and its windows report no waits.
WAIT_HISTOGRAMS = {"store_commit": "aitbc_store_commit_wait_seconds", "node_broadcast": "aitbc_node_broadcast_seconds"}


def wait_totals(url: str) -> dict[str, tuple[float, float]]:
    """(count, sum in seconds) of each of WAIT_HISTOGRAMS as the coordinator at `url` has them now."""
    samples = env.metric_samples(url, timeout=30)
    exported = {sample.name for sample in samples}
    return {name: (env.metric_total(samples, f"{metric}_count"), env.metric_total(samples, f"{metric}_sum"))
            for name, metric in WAIT_HISTOGRAMS.items() if f"{metric}_count" in exported}


def intake(coordinator: CoordinatorProcess, chain: ChainStack, seconds: float, concurrency: int,
           rate_hint: int = 1500, node_rate_hint: int = 2500, profile: Path | None = None,
           rounds: int = 3) -> dict[str, Any]:
    """`rounds` times the coordinator for `seconds` and the node for `seconds`, each round's two
    windows side by side in time (the coordinator first in odd rounds, the node first in even
    ones), since this shared machine's speed drifts from one minute to the next (the rates of
    one run measured 20 s apart varied by up to 1.4x) and the state grows with every round.
    The ratio is the median of the rounds' ratios. The chain's jobs must not expire during the
    rounds (pending_timeout_s well above their length), nor be failed by the coordinator for
    want of a miner (its queue_timeout_s likewise: QUEUE_TIMEOUT_S): either would load only
    the windows it falls in, the coordinator with a fail_job tx per job. With `profile`,
    py-spy records the coordinator's first window (raw stacks)."""
    keys = [PrivateKey(bytes([7, i]) * 16) for i in range(2 * concurrency)]
    fund(chain, keys)
    # Enough pre-signed txs that no stream runs dry before the time is up at these rates.
    per_key, node_per_key = (int(hint * seconds * rounds / concurrency) + 20 for hint in (rate_hint, node_rate_hint))
    env.log(f"intake: pre-signing {concurrency * (per_key + node_per_key)} submit_job txs")
    coord_streams = [[body for body, _ in s] for s in _submit_bodies(keys[:concurrency], per_key, {})]
    node_streams = [[json.dumps({"jsonrpc": "2.0", "id": 1, "method": "broadcast_tx_sync",
                                 "params": {"tx": base64.b64encode(raw).decode()}}).encode() for _, raw in s]
                    for s in _submit_bodies(keys[concurrency:], node_per_key, {})]
    host = "127.0.0.1"
    coord_port, node_port = (int(url.rsplit(":", 1)[1]) for url in (coordinator.url, chain.url))
    api_headers = f"X-Api-Key: {CLIENT_API_KEY}\r\n".encode()
    load_before = [round(x, 2) for x in os.getloadavg()]
    pids = {"coordinator": coordinator.proc.pid, "app": chain.node.app.pid, "cometbft": chain.node.cometbft.pid,
            "load generator": os.getpid()}
    windows: dict[str, list[dict[str, Any]]] = {"coordinator": [], "node_broadcast_tx_sync": []}
    # Each side: where to send, its pre-signed streams (continued where the last window left
    # them), and what counts as accepted.
    sides = {
        "coordinator": (coord_port, coord_streams, b"/v1/jobs", api_headers,
                        lambda status, _answer: status in (200, 201)),
        "node_broadcast_tx_sync": (node_port, node_streams, b"/", b"",
                                   lambda status, answer: status == 200 and b'"code":0' in answer),
    }
    at = {side: [0] * concurrency for side in sides}

    def window(side: str, spy_on: bool = False) -> None:
        port, streams, path, headers, ok = sides[side]
        spy = None
        if spy_on:
            spy = procs.spawn([str(Path(env.python()).parent / "py-spy"), "record", "-p", str(coordinator.proc.pid),
                               "-o", str(profile), "-f", "raw", "-r", "100", "-d", str(int(seconds)), "--nonblocking"],
                              coordinator.root / "py-spy.log")
        wait_for(lambda: int(httpx.get(f"{chain.url}/num_unconfirmed_txs").json()["result"]["total"]) == 0, 60,
                 "mempool drained")
        waits0 = wait_totals(coordinator.url) if side == "coordinator" else {}
        cpu0 = {name: env.cpu_seconds(pid) for name, pid in pids.items()}
        result = asyncio.run(_drive(host, port, streams, path, headers, seconds, ok, at[side]))
        result["cpu"] = {name: env.cpu_seconds(pid) - cpu0[name] for name, pid in pids.items()}
        if waits0:
            waits1 = wait_totals(coordinator.url)
            result["waits"] = {name: (waits1[name][0] - count, waits1[name][1] - total)
                               for name, (count, total) in waits0.items()}
        at[side] = result.pop("sent")
        windows[side].append(result)
        if spy is not None:
            spy.wait(60)

    for round_no in range(rounds):
        if round_no % 2 == 0:
            window("coordinator", spy_on=profile is not None and round_no == 0)
            window("node_broadcast_tx_sync")
        else:
            window("node_broadcast_tx_sync")
            window("coordinator")
        env.log(f"intake round {round_no + 1}: coordinator {windows['coordinator'][-1]['accepted_per_s']}/s, "
                f"node {windows['node_broadcast_tx_sync'][-1]['accepted_per_s']}/s")
    ratios = [round(c["accepted_per_s"] / n["accepted_per_s"], 3) if n["accepted_per_s"] else None
              for c, n in zip(windows["coordinator"], windows["node_broadcast_tx_sync"])]
    known = [r for r in ratios if r is not None]
    return {"seconds": seconds, "rounds": rounds, "concurrency": concurrency,
            "coordinator": _overall(windows["coordinator"]),
            "node_broadcast_tx_sync": _overall(windows["node_broadcast_tx_sync"]),
            "load_average": {"before": load_before, "after": [round(x, 2) for x in os.getloadavg()]},
            "round_ratios": ratios, "ratio": env.spread(known, 3)["median"] if known else None}


def _overall(windows: list[dict[str, Any]]) -> dict[str, Any]:
    """The windows of one side together: the rate over their summed time, the latency spread of
    all their requests, the CPU ms each process spent per accepted submission."""
    accepted = sum(w["accepted"] for w in windows)
    elapsed = sum(w["seconds"] for w in windows)
    errors: dict[str, int] = {}
    for w in windows:
        for key, count in w["errors"].items():
            errors[key] = errors.get(key, 0) + count
    cpu = {name: sum(w["cpu"][name] for w in windows) for name in windows[0]["cpu"]}
    latencies = [x * 1000 for w in windows for x in w["latencies"]]
    waits: dict[str, float] = {}
    if all("waits" in w for w in windows):  # the coordinator's side, when it has the histograms
        for name in WAIT_HISTOGRAMS:
            count = sum(w["waits"][name][0] for w in windows)
            if count:
                waits[name] = round(1000 * sum(w["waits"][name][1] for w in windows) / count, 2)
    return {"accepted": accepted, "rejected": sum(w["rejected"] for w in windows),
            "streams_ran_dry": sum(w["streams_ran_dry"] for w in windows), "seconds": round(elapsed, 2),
            "accepted_per_s": round(accepted / elapsed, 1) if elapsed else 0.0,
            "per_round_per_s": [w["accepted_per_s"] for w in windows],
            "latency_ms": env.spread(latencies, 1),
            "latency_mean_ms": round(sum(latencies) / len(latencies), 2) if latencies else None,
            # Mean ms per submission spent waiting for its shared commit and for the node's CheckTx answer.
            "waits_mean_ms": waits,
            "errors": dict(sorted(errors.items(), key=lambda kv: -kv[1])[:5]),
            "cpu_ms_per_accepted": {name: round(1000 * seconds / accepted, 3) if accepted else None
                                    for name, seconds in cpu.items()}}


# --- a shorter block time -------------------------------------------------------------------

def overhead_with_block_time(root: Path, ollama_url: str, jobs: int, timeout_commit: str) -> dict[str, Any]:
    """job_overhead on a chain whose timeout_commit is `timeout_commit` (1 s elsewhere)."""
    chain = ChainStack(root / "chain", timeout_commit=timeout_commit, pending_timeout_s=120, job_timeout_s=600)
    coordinator = miner = None
    try:
        chain.start()
        coordinator = CoordinatorProcess(root / "coordinator", chain, tick_s=0.2, **NO_RATE_LIMIT).start()
        miner = MinerProcess(root / "miners", "miner1", chain, coordinator.url, ollama_url,
                             model=TINY_MODEL_NAME).start()
        wait_for(lambda: any(m.online and m.address == KEYS["miner1"].address
                             for m in coordinator.client().miners()), 60, "miner online")
        out = job_overhead(coordinator, chain, jobs)
        out["block_interval"] = f"{timeout_commit} (timeout_commit)"
        return out
    finally:
        for service in (miner, coordinator):
            if service is not None:
                service.stop()
        chain.stop()


# --- the stack -----------------------------------------------------------------------------

def run(jobs: int = 50, miner_runs: int = 30, intake_seconds: float = 10, concurrency: int = 16,
        intake_rounds: int = 6,
        profile_dir: Path | None = None, short_block_jobs: int = 0,
        short_block: str = "250ms") -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="aitbc-bench-") as directory:
        root = Path(directory)
        model_path = root / "aitbc-tiny.gguf"
        write_tiny_model(model_path)
        # No job expires during the intake rounds (see intake).
        chain = ChainStack(root / "chain", pending_timeout_s=3600, job_timeout_s=600)
        ollama = coordinator = miner = None
        try:
            chain.start()
            ollama = serve_model(root / "ollama" / "models", root / "ollama" / "ollama.log", model_path)
            env.log("stack: miner overhead")
            out["miner_overhead"] = miner_overhead(root / "miners", chain, ollama.url, miner_runs)
            coordinator = CoordinatorProcess(root / "coordinator", chain, tick_s=0.2, queue_timeout_s=QUEUE_TIMEOUT_S,
                                             **NO_RATE_LIMIT).start()
            miner = MinerProcess(root / "miners", "miner1", chain, coordinator.url, ollama.url,
                                 model=TINY_MODEL_NAME).start()
            wait_for(lambda: any(m.online and m.address == KEYS["miner1"].address
                                 for m in coordinator.client().miners()), 60, "miner online")
            env.log(f"stack: job overhead, {jobs} jobs")
            out["job_overhead"] = job_overhead(coordinator, chain, jobs)
            miner.stop()  # intake only queues jobs: no inference competing for the CPU
            miner = None
            env.log("stack: coordinator intake")
            out["intake"] = intake(coordinator, chain, intake_seconds, concurrency, rounds=intake_rounds,
                                   profile=profile_dir / "coordinator_intake.pyspy.txt" if profile_dir else None)
            if short_block_jobs:
                coordinator.stop()
                coordinator = None
                env.log(f"stack: job overhead with {short_block} blocks, {short_block_jobs} jobs")
                out["job_overhead_short_blocks"] = overhead_with_block_time(root / "short", ollama.url,
                                                                            short_block_jobs, short_block)
        finally:
            if miner is not None:
                miner.stop()
            if coordinator is not None:
                coordinator.stop()
            if ollama is not None:
                ollama.stop()
            chain.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--miner-runs", type=int, default=30)
    parser.add_argument("--intake-seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--intake-rounds", type=int, default=6, help="coordinator then node, this many times")
    parser.add_argument("--short-block-jobs", type=int, default=0, help="job overhead again with 250 ms blocks")
    args = parser.parse_args()
    out = run(args.jobs, args.miner_runs, args.intake_seconds, args.concurrency, args.intake_rounds,
              short_block_jobs=args.short_block_jobs)
    for name in ("job_overhead", "job_overhead_short_blocks"):
        out.get(name, {}).pop("rows", None)
    out.get("miner_overhead", {}).pop("series", None)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
