"""Direct jobs (issue 12) against the coordinator path, on one real stack: a chain
(cometbft + our app, 1 s blocks), the genesis coordinator, one miner daemon on a
real Ollama serving aitbc-tiny. The miner takes the coordinator's pushes and, as
every miner does, watches its node's websocket for the direct jobs the chain
assigns it: the same miner, model and prompt serve both paths.

- overhead: client latency − Ollama's total_duration (the proof's compute time),
  jobs alternating between the paths. Direct: sign the job with the prompt sealed
  to the miner, broadcast_tx_sync, poll the chain's `/job` every 50 ms until it is
  completed, read the record_receipt tx, open the result and check its sha256
  against the receipt (what `aitbc tx submit-job --wait` does, polling faster).
  Coordinator: POST /v1/jobs, poll GET /v1/jobs/{id} every 50 ms; the result is in
  hand at the first poll that shows it (before its receipt is in a block), the job
  final once the receipt is committed; both are reported.
- how soon a miner sees its assignment: the block that assigns a direct job (the
  client's submit_job tx) against the moment the assignment is seen by (1) the
  miner's own websocket watch (aitbc.miner.chain_watch.ChainWatch over the node's
  /websocket, run here with the miner's queries), (2) the same ChainWatch with no
  events, re-reading `/jobs/open` every `poll_s` (what a miner without the
  websocket does), and (3) the real miner daemon's "direct job taken" log line.
  The block's moment is the validator's precommit timestamp for that height
  (`/commit`): the block is decided then, executed and its events published
  right after. Same machine, one clock.

Usage: python -m bench.direct_jobs [--pairs 30] [--poll-s 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from aitbc import jobspec, sealing, tx as txlib
from aitbc.api.coordinator_client import CoordinatorClient, sign_job
from aitbc.api.coordinator_models import JobOptions
from aitbc.chain_events import Connected
from aitbc.miner.chain_watch import ChainWatch
from aitbc.ops.factories import CHAIN_ID, KEYS
from aitbc.ops.harness import (
    CLIENT_API_KEY, ChainStack, CoordinatorProcess, MinerProcess, serve_model, tiny_model_file, wait_for,
)
from aitbc.ops.ollama_server import TINY_MODEL_NAME
from aitbc.rpc import AsyncChainRPC, ChainRPC, QueryFailed
from bench import env

PROMPT = "why is the sky blue"
OPTIONS = JobOptions(temperature=0, seed=42, num_predict=16)
CLIENT_POLL_S = 0.05
MAX_REWARD = 1_000_000
MINER = "miner1"
DIRECT_CLIENT, COORDINATOR_CLIENT = "alice", "bob"
TIMEOUT_S = 90


# --- the two paths -------------------------------------------------------------------------

def direct_job(rpc: ChainRPC, encryption_key: bytes, prompt: str) -> dict[str, Any]:
    """One direct job from submit to the checked result in hand; its timings (perf_counter and
    wall clock at submit) and what the chain says of it."""
    client = KEYS[DIRECT_CLIENT]
    nonce = int(rpc.query(f"/nonce/{client.address}")["nonce"])
    job_id = txlib.job_id_for(client.address, nonce, CHAIN_ID)
    job_key = sealing.job_key(client, job_id)
    raw = txlib.build(client, CHAIN_ID, nonce, "submit_job", job_type="inference", model=TINY_MODEL_NAME,
                      prompt_hash=jobspec.prompt_hash(prompt), prompt_bytes=len(prompt.encode()),
                      max_reward=MAX_REWARD, options=jobspec.chain_options(OPTIONS.temperature, OPTIONS.seed,
                                                                             OPTIONS.num_predict),
                      direct={"sealed_prompt": sealing.seal_text(job_key, prompt),
                              "miners": [{"miner": KEYS[MINER].address,
                                          "sealed_key": sealing.seal_job_key(job_key, encryption_key)}]})
    wall0, t0 = time.time(), time.perf_counter()
    sent = rpc.broadcast(raw, "sync")
    if not sent.ok:
        raise RuntimeError(f"direct submit_job refused: {sent.code_name} {sent.log}")
    t_submit = time.perf_counter() - t0
    while True:
        try:
            job = rpc.query(f"/job/{job_id}")
        except QueryFailed:  # not in a block yet
            job = None
        if job is not None and job["status"] in jobspec.FINAL:
            break
        if job is not None and job["declined"]:
            # its one candidate gave it back: no other miner will take it, so it is cancelled (refund)
            # and counted apart; its timings say nothing about the path
            cancel = txlib.build(client, CHAIN_ID, int(rpc.query(f"/nonce/{client.address}")["nonce"]),
                                 "cancel_job", job_id=job_id)
            rpc.broadcast(cancel, "commit")
            return {"job_id": job_id, "declined": True, "assigned_height": job["assigned_height"]}
        if time.perf_counter() - t0 > TIMEOUT_S:
            raise TimeoutError(f"direct job {job_id} still {job and job['status']} after {TIMEOUT_S} s")
        time.sleep(CLIENT_POLL_S)
    if job["status"] != "completed":
        raise RuntimeError(f"direct job {job_id} {job['status']}: {job.get('reason')}")
    receipt = rpc.query(f"/receipt/{job_id}")
    # committed_tx: the tx index can lag the state that said "completed" (as `aitbc` reads it).
    signed = txlib.decode(rpc.committed_tx(job["receipt_tx"], int(receipt["block_height"])))
    text = sealing.open_text(job_key, signed.msg.sealed_result)
    if hashlib.sha256(text.encode()).hexdigest() != receipt["result_hash"]:
        raise RuntimeError(f"direct job {job_id}: the result does not match its receipt")
    latency = time.perf_counter() - t0
    return {"job_id": job_id, "submitted_wall": wall0, "submit_s": t_submit, "latency_s": latency,
            "ollama_s": receipt["compute_time_ms"] / 1000, "submitted_height": job["submitted_height"],
            "assigned_height": job["assigned_height"],
            "decided_wall": precommit_time(rpc, job["assigned_height"]), "receipt_height": receipt["block_height"]}


def coordinator_job(rpc: ChainRPC, api: CoordinatorClient, prompt: str) -> dict[str, Any]:
    """One job through the coordinator, as bench/full_stack.py's job overhead times it."""
    client = KEYS[COORDINATOR_CLIENT]
    body = sign_job(client, CHAIN_ID, int(rpc.query(f"/nonce/{client.address}")["nonce"]), prompt,
                    TINY_MODEL_NAME, MAX_REWARD, OPTIONS)
    t0 = time.perf_counter()
    submitted = api.submit_job(body)
    t_submit, t_result = time.perf_counter() - t0, None
    while True:
        job = api.get_job(submitted.job_id)
        if job.result is not None and t_result is None:
            t_result = time.perf_counter() - t0
        if job.status in jobspec.FINAL:
            break
        if time.perf_counter() - t0 > TIMEOUT_S:
            raise TimeoutError(f"coordinator job {submitted.job_id} still {job.status} after {TIMEOUT_S} s")
        time.sleep(CLIENT_POLL_S)
    latency = time.perf_counter() - t0
    if job.status != "completed":
        raise RuntimeError(f"coordinator job {job.job_id} {job.status}: {job.error}")
    on_chain = rpc.query(f"/job/{job.job_id}")
    return {"job_id": job.job_id, "submit_s": t_submit, "result_s": t_result, "latency_s": latency,
            "ollama_s": job.compute_time or 0.0, "submitted_height": on_chain["submitted_height"],
            "receipt_height": job.block_height}


# --- who sees the assignment when ----------------------------------------------------------

class _ConnectedOnce:
    """An event source that connects once and then stays silent: ChainWatch then finds jobs only
    by its re-syncs, i.e. by polling `/jobs/open` every resync_s."""

    up = False

    async def __aiter__(self):
        yield Connected(1)
        await asyncio.Event().wait()


class Watchers:
    """Two ChainWatch instances for the miner's address in a thread of their own: one on the node's
    websocket (the miner's queries), one polling. `seen[name][job_id]` = wall-clock time of first sight."""

    def __init__(self, node_url: str, address: str, poll_s: float):
        self.node_url, self.address, self.poll_s = node_url, address, poll_s
        self.seen: dict[str, dict[str, float]] = {"websocket": {}, "poll": {}}
        self.ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="watchers", daemon=True)

    def _note(self, name: str):
        def on_job(job: dict[str, Any]) -> None:
            self.seen[name].setdefault(job["id"], time.time())
        return on_job

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        chains = [AsyncChainRPC(self.node_url, timeout=10), AsyncChainRPC(self.node_url, timeout=10)]
        ws = ChainWatch(chains[0], self.address, self._note("websocket"), lambda job: None,
                        node_url=self.node_url, resync_s=3600)
        poll = ChainWatch(chains[1], self.address, self._note("poll"), lambda job: None,
                          events=_ConnectedOnce(), resync_s=self.poll_s)
        tasks = [asyncio.create_task(ws.run()), asyncio.create_task(poll.run())]
        while not getattr(ws.events, "up", False):
            await asyncio.sleep(0.05)
        self.ready.set()
        await self._stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for chain in chains:
            await chain.aclose()

    def start(self) -> "Watchers":
        self._thread.start()
        if not self.ready.wait(30):
            raise TimeoutError("the websocket watch did not subscribe in 30 s")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)


def precommit_time(rpc: ChainRPC, height: int) -> float:
    """Wall-clock time (epoch s) of the validator's precommit for `height`: when the block was decided."""
    signatures = rpc.call("commit", height=str(height))["signed_header"]["commit"]["signatures"]
    return min(_rfc3339(s["timestamp"]) for s in signatures if s.get("signature"))


def _rfc3339(text: str) -> float:
    """cometbft's timestamps carry nanoseconds; datetime takes microseconds."""
    head, _, frac = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(frac or '0')[:6].ljust(6, '0')}+00:00").timestamp()


def miner_log(log: Path) -> list[dict[str, Any]]:
    """The miner's JSON log lines."""
    entries = []
    for line in log.read_text().splitlines() if log.exists() else ():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue
    return entries


def taken_times(entries: list[dict[str, Any]]) -> dict[str, float]:
    """job id -> wall-clock time of the miner's "direct job taken" line (millisecond precision)."""
    taken: dict[str, float] = {}
    for entry in entries:
        if entry.get("msg") == "direct job taken":
            taken.setdefault(entry["job_id"], datetime.fromisoformat(entry["ts"].replace("Z", "+00:00")).timestamp())
    return taken


# --- the run ----------------------------------------------------------------------------------

def _p50_p95(values: list[float], digits: int = 3) -> dict[str, Any]:
    return {"p50": round(env.percentile(values, 50), digits), "p95": round(env.percentile(values, 95), digits),
            **{k: v for k, v in env.spread(values, digits).items()}}


def measure(root: Path, pairs: int, poll_s: float) -> dict[str, Any]:
    chain = ChainStack(root / "chain", pending_timeout_s=120, job_timeout_s=600)
    ollama = coordinator = miner = watchers = None
    rows: list[dict[str, Any]] = []
    declined: list[str] = []   # direct jobs the miner gave back: cancelled, not timed
    logged: list[dict[str, Any]] = []
    try:
        chain.start()
        ollama = serve_model(root / "ollama" / "models", root / "ollama" / "ollama.log", tiny_model_file(root))
        coordinator = CoordinatorProcess(root / "coordinator", chain, tick_s=0.2).start()
        miner = MinerProcess(root / "miners", MINER, chain, coordinator.url, ollama.url, model=TINY_MODEL_NAME).start()
        wait_for(lambda: any(m.online and m.address == KEYS[MINER].address for m in coordinator.client().miners()),
                 60, "miner online at the coordinator")
        wait_for(lambda: chain.rpc.query(f"/miner/{KEYS[MINER].address}").get("encryption_key"), 30,
                 "the miner's encryption key on chain")
        encryption_key = bytes.fromhex(chain.rpc.query(f"/miner/{KEYS[MINER].address}")["encryption_key"])
        watchers = Watchers(chain.url, KEYS[MINER].address, poll_s).start()
        env.log(f"direct_jobs: {pairs} pairs (+1 warm-up), poll every {poll_s} s")
        with CoordinatorClient(coordinator.url, CLIENT_API_KEY, timeout=30, backoff_s=0.1) as api:
            i = 0
            while len(rows) < pairs and i <= 2 * pairs:  # the first pair warms both paths up
                i += 1
                # a random phase against the block clock and the poller's, so that neither
                # path's wait for the next block (nor the poll's) is the same every time
                time.sleep(random.uniform(0, max(poll_s, 1.0)))
                direct = direct_job(chain.rpc, encryption_key, f"{PROMPT} #d{i}")
                via = coordinator_job(chain.rpc, api, f"{PROMPT} #c{i}")
                if direct.get("declined"):
                    declined.append(direct["job_id"])
                elif i > 1:
                    rows.append({"direct": direct, "coordinator": via})
        time.sleep(poll_s + 1)  # the poller's last look
        logged = miner_log(root / "miners" / MINER / "miner.log")
    finally:
        if watchers is not None:
            watchers.stop()
        for service in (miner, coordinator):
            if service is not None:
                service.stop()
        if ollama is not None:
            ollama.stop()
        chain.stop()
    out = _summarise(rows, watchers.seen if watchers else {}, taken_times(logged), poll_s)
    out["declined"] = {"jobs": declined, "reasons": [e.get("reason", "") for e in logged
                                                     if e.get("msg") == "direct job declined"]}
    return out


def _summarise(rows: list[dict[str, Any]], seen: dict[str, dict[str, float]], taken: dict[str, float],
               poll_s: float) -> dict[str, Any]:
    direct = [r["direct"] for r in rows]
    via = [r["coordinator"] for r in rows]
    detection: dict[str, list[float]] = {"websocket": [], "poll": [], "miner_log": []}
    for d in direct:
        decided = d["decided_wall"]
        for name, times in (("websocket", seen.get("websocket", {})), ("poll", seen.get("poll", {})),
                            ("miner_log", taken)):
            if d["job_id"] in times:
                detection[name].append((times[d["job_id"]] - decided) * 1000)
    return {
        "pairs": len(rows), "client_poll_s": CLIENT_POLL_S, "poll_s": poll_s, "block_interval": "1 s (timeout_commit)",
        "options": OPTIONS.model_dump(), "model": TINY_MODEL_NAME,
        "direct": {"overhead_s": _p50_p95([d["latency_s"] - d["ollama_s"] for d in direct]),
                   "latency_s": _p50_p95([d["latency_s"] for d in direct]),
                   "ollama_s": _p50_p95([d["ollama_s"] for d in direct], 4),
                   "blocks_submit_to_receipt": env.spread([d["receipt_height"] - d["submitted_height"]
                                                           for d in direct], 1)},
        "coordinator": {"result_overhead_s": _p50_p95([c["result_s"] - c["ollama_s"] for c in via]),
                        "final_overhead_s": _p50_p95([c["latency_s"] - c["ollama_s"] for c in via]),
                        "latency_s": _p50_p95([c["latency_s"] for c in via]),
                        "ollama_s": _p50_p95([c["ollama_s"] for c in via], 4),
                        "blocks_submit_to_receipt": env.spread([c["receipt_height"] - c["submitted_height"]
                                                                for c in via], 1)},
        "seen_after_block_ms": {name: _p50_p95(values, 1) for name, values in detection.items()},
        "rows": rows,
    }


# --- its section of docs/benchmarks.md ------------------------------------------------------

def _pp(s: dict[str, Any], unit: str) -> str:
    return "—" if not s.get("n") else f"{s['p50']}{unit} / {s['p95']}{unit}"


def section(r: dict[str, Any]) -> list[str]:
    """The "Direct jobs" section of docs/benchmarks.md (bench/report.py), from a result of `run`."""
    d, c, seen, m = r["direct"], r["coordinator"], r["seen_after_block_ms"], r["machine"]
    load = " / ".join(f"{x:.1f}" for x in r["load_before"])
    out = ["## Direct jobs (no coordinator)", "",
           "`bench/direct_jobs.py`: one real stack (chain with 1 s blocks, the genesis coordinator, one miner daemon "
           "on a real Ollama with aitbc-tiny). The same miner takes the coordinator's pushes and, as every miner "
           "does, watches its node's websocket for the direct jobs the chain assigns it, so both paths run the same "
           f"model, prompt and options ({r['options']['num_predict']} tokens, temperature "
           f"{r['options']['temperature']}). {r['pairs']} pairs, a direct job then a coordinator job, after one "
           "warm-up pair, each pair at a random phase against the block clock. Overhead = client latency − "
           "Ollama's total_duration (the proof's compute time). The direct client does what `aitbc tx submit-job "
           "--wait` does: seal the prompt to the miner, broadcast_tx_sync, poll the chain's `/job` until "
           "completed, read the `record_receipt` tx, open the sealed result and check its sha256 against the "
           f"receipt; it polls every {int(r['client_poll_s'] * 1000)} ms (the CLI every 500 ms), as the "
           "coordinator client does. The coordinator client has the result at the first poll that shows it "
           "(before its receipt is in a block) and the job final once the receipt is committed.", "",
           f"Machine: {m['nproc']} cores ({m['cpu']}) shared with other work, load average (1 / 5 / 15 min) "
           f"{load} before the run.", "",
           "| path | overhead p50 / p95 | client latency p50 / p95 | Ollama p50 | blocks submit → receipt |",
           "|---|---|---|---|---|",
           f"| **direct** (result in hand = final) | **{_pp(d['overhead_s'], ' s')}** | "
           f"{_pp(d['latency_s'], ' s')} | {d['ollama_s']['p50']} s | {d['blocks_submit_to_receipt']['median']:g} |",
           f"| coordinator, result in hand | {_pp(c['result_overhead_s'], ' s')} | | {c['ollama_s']['p50']} s | |",
           f"| coordinator, final (receipt in a block) | {_pp(c['final_overhead_s'], ' s')} | "
           f"{_pp(c['latency_s'], ' s')} | | {c['blocks_submit_to_receipt']['median']:g} |", "",
           "A direct job's prompt reaches its miner only through a committed block: the chain assigns it in the "
           "block that holds the client's `submit_job`, the miner reads it there and its `record_receipt` goes into "
           "a later block, which is when the client can open the result. A coordinator has the prompt over HTTP "
           "and pushes it to its miner as soon as CheckTx accepts the job, so its client holds the result before "
           "any block, and the submit, the assignment and the receipt can all land in one block (last column: "
           "median blocks between the submit and the receipt).", ""]
    if r["declined"]["jobs"]:
        out += [f"{len(r['declined']['jobs'])} direct job(s) were declined by the miner and are left out "
                f"(cancelled and refunded); the miner's reasons: "
                + "; ".join(f"`{reason[:160]}`" for reason in r["declined"]["reasons"]), ""]
    out += ["### How soon a miner sees its assignment", "",
            "From the moment the block that assigns a direct job was decided (the validator's precommit "
            "timestamp, `/commit`; the block is executed and its events published right after) to the moment "
            "the assignment is seen, in ms. The websocket and polling rows are the miner's own watch "
            "(`aitbc.miner.chain_watch.ChainWatch`, the miner's queries on its address) run beside it in the "
            f"benchmark: once on the node's `/websocket`, once with no events, re-reading `/jobs/open` every "
            f"{r['poll_s']:g} s (the block interval: what a miner without the websocket would poll at). Each "
            "reads the job (`/job/<id>`) before it reports it. The daemon row is the real miner's "
            "`direct job taken` log line (millisecond timestamps, same clock).", "",
            "| how | seen after the block, p50 / p95 | n |", "|---|---|---|",
            f"| websocket subscription | {_pp(seen['websocket'], ' ms')} | {seen['websocket']['n']} |",
            f"| the miner daemon (websocket), log line | {_pp(seen['miner_log'], ' ms')} | "
            f"{seen['miner_log']['n']} |",
            f"| polling `/jobs/open` every {r['poll_s']:g} s | {_pp(seen['poll'], ' ms')} | {seen['poll']['n']} |",
            "", "A poll sees an assignment on average half an interval after its block plus the read, whatever "
            "a short run shows: with 1 s blocks and a 1 s poll the two clocks drift slowly against each other, "
            "so consecutive jobs find the poll at nearly the same phase. Each poll reads every open job on the chain "
            "(pages of 1000), whoever it is assigned to; the websocket pushes only the events that name the "
            "miner. The miner still re-reads `/jobs/open` after every reconnect and every 30 s "
            "(`--resync-interval`), so an assignment whose event was missed is found within that interval.", ""]
    return out


def run(pairs: int = 30, poll_s: float = 1.0) -> dict[str, Any]:
    load_before = list(os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="aitbc-bench-direct-") as directory:
        out = measure(Path(directory), pairs, poll_s)
    return {**out, "load_before": load_before, "load_after": list(os.getloadavg())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=30)
    parser.add_argument("--poll-s", type=float, default=1.0)
    args = parser.parse_args()
    out = run(args.pairs, args.poll_s)
    out.pop("rows", None)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
