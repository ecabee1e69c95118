"""How busy one coordinator keeps its miners' slots: jobs/s end to end and the slots in use.

Two hand miners (ops/harness/hand_miner.py) of `capacity` slots each run every assignment
for `job_s` seconds, as a model would, and complete it with a signed proof; two clients keep
the coordinator's queue full. A slot is busy from the coordinator's `job_assigned` to its
`job_result` (the receipt passed CheckTx). Reported over the steady part of the run (the
first and last 2 s left out): the mean slots in use per miner, and the results released per
second. With `--against REV` the same run is made with REV's coordinator too (the chain,
the miners and the clients from this tree), the two alternated `rounds` times.

Usage: python -m bench.miner_slots [--jobs 300] [--job-s 1.0] [--capacity 16] [--against REV] [--rounds 1]
Prints one JSON line per run; writes bench/results/miner_slots.json, a section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from aitbc.api.coordinator_client import sign_job
from aitbc.ops.factories import CHAIN_ID, KEYS
from aitbc.ops.harness import CLIENT_API_KEY, MODEL, ChainStack, CoordinatorProcess, HandMiner, wait_for
from bench import env
from bench.baseline import away_from_repository, check_imports_from, export, pythonpath
from bench.full_stack import NO_RATE_LIMIT

MINERS = ("miner1", "miner2")
CLIENTS = ("alice", "bob")
EDGE_S = 2.0  # left out at each end of the run: the queue filling, the last jobs draining


def _ts(line: dict[str, Any]) -> float:
    return datetime.datetime.fromisoformat(line["ts"]).timestamp()


def one_run(root: Path, jobs: int, job_s: float, capacity: int, site: Path | None) -> dict[str, Any]:
    """One coordinator (REV's when `site` is given) over a fresh chain; the figures of its run."""
    chain = ChainStack(root / "chain", pending_timeout_s=600, job_timeout_s=600)
    coordinator: CoordinatorProcess | None = None
    miners: list[HandMiner] = []
    try:
        chain.start()
        coordinator = CoordinatorProcess(root / "coordinator", chain, tick_s=0.2, **NO_RATE_LIMIT)
        if site is not None:
            coordinator.env["PYTHONPATH"] = pythonpath(site)
            check_imports_from(site, coordinator.env)
        coordinator.start()

        def run_for_a_while(assignment: dict[str, Any]) -> str:
            time.sleep(job_s)
            return f"done: {assignment['job_data']['prompt']}"

        for name in MINERS:
            miner = HandMiner(name, KEYS["coordinator"].address).__enter__()
            miners.append(miner)
            chain.register_miner(name, miner.endpoint, capacity=capacity)
            miner.join(coordinator.url, capacity=capacity)
            miner.start_heartbeats()
            miner.serve_automatically(run_for_a_while, workers=capacity)
        client = coordinator.client()
        wait_for(lambda: sum(m.online for m in client.miners()) == len(MINERS), 30, "miners online")
        bodies = {name: [sign_job(KEYS[name], CHAIN_ID, n, f"{name} {n}", MODEL, 1_000_000).model_dump(mode="json")
                         for n in range(chain.next_nonce(name), chain.next_nonce(name) + jobs // len(CLIENTS))]
                  for name in CLIENTS}
        pids = {"coordinator": coordinator.proc.pid, "app": chain.node.app.pid, "cometbft": chain.node.cometbft.pid}
        cpu0 = {name: env.cpu_seconds(pid) for name, pid in pids.items()}
        started = time.monotonic()

        def submit(name: str) -> None:
            with httpx.Client(timeout=30, headers={"X-Api-Key": CLIENT_API_KEY}) as http:
                for body in bodies[name]:
                    answer = http.post(f"{coordinator.url}/v1/jobs", json=body)
                    assert answer.status_code == 201, answer.text

        threads = [threading.Thread(target=submit, args=(name,)) for name in CLIENTS]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        total = sum(len(b) for b in bodies.values())
        wait_for(lambda: sum(len(m.worked_on) for m in miners) >= total, 60 + 3 * total * job_s, "every job run")
        wait_for(lambda: len(coordinator.log_events("job_result")) >= total, 60, "every result released")
        elapsed = time.monotonic() - started
        cpu = {name: round(env.cpu_seconds(pid) - cpu0[name], 2) for name, pid in pids.items()}
        assigned = {e["job_id"]: (_ts(e), e["miner"]) for e in coordinator.log_events("job_assigned")}
        released = {e["job_id"]: _ts(e) for e in coordinator.log_events("job_result")}
        return {"jobs": total, "seconds": round(elapsed, 2), "cpu_s": cpu, **_slots(assigned, released, capacity)}
    finally:
        for miner in miners:
            miner.__exit__(None, None, None)
        if coordinator is not None:
            coordinator.stop()
        chain.stop()


def _slots(assigned: dict[str, tuple[float, str]], released: dict[str, float], capacity: int) -> dict[str, Any]:
    """Slots in use per miner (mean, sampled every 50 ms) and results per second, between the
    first assignment and the last release, EDGE_S in from each end."""
    holds = [(assigned[j][0], released[j], assigned[j][1]) for j in released if j in assigned]
    start = min(h[0] for h in holds) + EDGE_S
    stop = max(h[1] for h in holds) - EDGE_S
    if stop <= start:  # nothing left to measure once the edges are cut: say so, not a None later
        raise SystemExit(f"the run lasted {stop - start + 2 * EDGE_S:.1f} s, not more than the {2 * EDGE_S:.0f} s "
                         "its edges leave out: give it more --jobs")
    busy: dict[str, list[int]] = {}
    at = start
    while at < stop:
        for miner in {h[2] for h in holds}:
            busy.setdefault(miner, []).append(sum(1 for a, r, m in holds if m == miner and a <= at < r))
        at += 0.05
    held = [r - a for a, r, _ in holds]
    in_use = statistics.mean(statistics.mean(samples) for samples in busy.values()) if busy else 0.0
    return {"capacity": capacity, "window_s": round(stop - start, 2),
            "slots_in_use_mean": round(in_use, 2), "slots_in_use_share": round(in_use / capacity, 3),
            "results_per_s": round(sum(1 for _, r, _ in holds if start <= r < stop) / (stop - start), 2),
            "slot_held_s_median": round(statistics.median(held), 3)}


def measure(jobs: int, job_s: float, capacity: int, against: str | None, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="aitbc-miner-slots-") as directory:
        root = Path(directory)
        site = export(against, root / "old") if against else None
        sides = [("old", site), ("new", None)] if against else [("new", None)]
        runs: dict[str, list[dict[str, Any]]] = {side: [] for side, _ in sides}
        with away_from_repository(root):
            for round_no in range(rounds):
                for side, side_site in (sides if round_no % 2 == 0 else sides[::-1]):
                    result = one_run(root / f"{side}-{round_no}", jobs, job_s, capacity, side_site)
                    print(json.dumps({"side": side, "round": round_no, **result}), flush=True)
                    runs[side].append(result)
    summary = {side: {key: env.spread([r[key] for r in results], 3)
                      for key in ("slots_in_use_share", "results_per_s", "slot_held_s_median")}
               for side, results in runs.items()}
    return {"against": against, "jobs": jobs, "job_s": job_s, "capacity": capacity, "miners": len(MINERS),
            "rounds": rounds, "load_before": [round(x, 2) for x in os.getloadavg()], "runs": runs,
            "summary": summary}


def section(r: dict[str, Any]) -> list[str]:
    """The "Miner slots" section of docs/benchmarks.md (bench/report.py), from a result of `measure`."""
    rows = [f"| {'this tree' if side == 'new' else r['against']} | {_cell(s['slots_in_use_share'])} | "
            f"{_cell(s['results_per_s'])} | {_cell(s['slot_held_s_median'])} |"
            for side, s in sorted(r["summary"].items(), reverse=True)]
    return ["## Miner slots (end to end)", "",
            f"`python -m bench.miner_slots{' --against ' + r['against'] if r['against'] else ''} --rounds "
            f"{r['rounds']}`: one coordinator on a one-node chain (1 s blocks), {r['miners']} hand miners of "
            f"{r['capacity']} slots each that run every assignment for {r['job_s']:g} s and complete it with a "
            f"signed proof, {r['jobs']} jobs from two clients that keep the queue full. A slot is in use from "
            "the job's assignment to its result's release (our receipt passed CheckTx); figures over the steady "
            f"part of each run (2 s left out at each end), the sides alternated, {r['rounds']} rounds.", "",
            "| coordinator | slots in use (share of capacity) | results/s | slot held per job (s, median) |",
            "|---|---|---|---|", *rows, "",
            "A miner's slot is free for the chain's CheckTx once our receipt for its job has passed CheckTx. "
            "Until 2026-12-01 the coordinator waited for the committed count (`/miners`), a block or more "
            "later, and counted the released job as its own until then: after every job the slot sat idle "
            "for most of a block (coordinator/README.md, Assign). The idle time per job does not depend on "
            "the job's length: with jobs of several seconds, as real models take, it is a smaller share than "
            "with these 1 s jobs.", ""]


def _cell(s: dict[str, Any]) -> str:
    return f"{s['median']} ({s['min']}–{s['max']})" if s["n"] > 1 else f"{s['median']}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--job-s", type=float, default=1.0)
    parser.add_argument("--capacity", type=int, default=16)
    parser.add_argument("--against", help="an older commit whose coordinator runs the same load")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    result = measure(args.jobs, args.job_s, args.capacity, args.against, args.rounds)
    env.write_result("miner_slots", result)
    print(json.dumps(result["summary"]))


if __name__ == "__main__":
    main()
