"""Coordinator intake, an older commit's coordinator against this tree's, at the same moment.

Alternated runs (bench/baseline.py) cannot see a difference of a few percent in the
coordinator: this shared 2-core machine's speed moves by 15-20 % from one minute to the
next. Here both coordinators run side by side on one chain (the same genesis key, their own
stores), each driven by half the connections with pre-signed submissions from its own
clients, in the same windows; whatever the machine does, it does to both. Per window: each
one's accepted submissions/s, the CPU ms its process spent per accepted submission, and
the ratio this tree / old. An A/A run (REV = HEAD on a clean tree) shows the instrument's
own spread.

With --alone each window drives one coordinator at a time with all its connections, the two
back to back (which goes first turns each round): what the intake benchmark measures, a
coordinator alone against the node. Side by side, the CPU one coordinator saves goes to both,
so a change that trades a little latency for less CPU shows there as a lower rate; alone it
shows as what it is. Alternated windows are noisier than simultaneous ones.

Intake only: a miner is registered on chain so that the model is offered, and none runs,
so neither coordinator signs a tx of its own (their nonces would collide); nor do they fail
queued jobs for want of a miner (queue_timeout_s: full_stack.QUEUE_TIMEOUT_S; before
2026-12-04 both did, from about a minute into a run).

Usage: python -m bench.intake_ab REV [--rounds 4] [--seconds 10] [--connections 8] [--alone]
Prints one JSON line per window and a summary line; writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from aitbc.crypto import PrivateKey
from aitbc.ops.factories import register_fields
from aitbc.ops.harness import CLIENT_API_KEY, ChainStack, CoordinatorProcess
from aitbc.ops.ollama_server import TINY_MODEL_NAME
from bench import env
from bench.baseline import away_from_repository, check_imports_from, export, pythonpath
from bench.full_stack import NO_RATE_LIMIT, QUEUE_TIMEOUT_S, _drive, _send, _submit_bodies, fund

SIDES = ("old", "new")


def _window(ports: list[int], streams: list[list[list[bytes]]], at: list[list[int]], seconds: float,
            new_first: bool, alone: bool = False) -> list[dict[str, Any]]:
    headers = f"X-Api-Key: {CLIENT_API_KEY}\r\n".encode()
    order = [1, 0] if new_first else [0, 1]

    def drive(i: int):
        return _drive("127.0.0.1", ports[i], streams[i], b"/v1/jobs", headers, seconds,
                      lambda status, _answer: status in (200, 201), at[i])

    async def both() -> list[dict[str, Any]]:
        if alone:
            results = [await drive(i) for i in order]
        else:
            results = await asyncio.gather(*(drive(i) for i in order))
        return [results[order.index(i)] for i in range(2)]

    return asyncio.run(both())


def measure(rev: str, rounds: int, seconds: float, connections: int, alone: bool = False) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="aitbc-intake-ab-") as directory:
        root = Path(directory)
        site = export(rev, root / "old")
        with away_from_repository(root):  # else REV's coordinator would run this tree's code
            chain = ChainStack(root / "chain", pending_timeout_s=3600, job_timeout_s=600)
            coordinators: list[CoordinatorProcess] = []
            try:
                chain.start()
                _send(chain, "miner1", "register_miner", **register_fields(models=(TINY_MODEL_NAME,)))
                for side, old_code in zip(SIDES, (site, None)):
                    coordinator = CoordinatorProcess(root / f"coordinator-{side}", chain, tick_s=0.2,
                                                     queue_timeout_s=QUEUE_TIMEOUT_S, **NO_RATE_LIMIT)
                    coordinator.env["PYTHONPATH"] = pythonpath(old_code)
                    if old_code:
                        check_imports_from(site, coordinator.env)
                    coordinators.append(coordinator.start())
                keys = [PrivateKey(bytes([11, i]) * 16) for i in range(2 * connections)]
                fund(chain, keys)
                # more than either can take: 800/s side by side, 1 500/s alone
                per_key = int((1500 if alone else 800) * seconds * rounds / connections) + 20
                env.log(f"intake_ab: pre-signing {2 * connections * per_key} submit_job txs")
                bodies = [[body for body, _ in stream] for stream in _submit_bodies(keys, per_key, {})]
                streams = [bodies[:connections], bodies[connections:]]
                at = [[0] * connections, [0] * connections]
                ports = [int(c.url.rsplit(":", 1)[1]) for c in coordinators]
                windows = []
                for round_no in range(rounds):
                    cpu0 = [env.cpu_seconds(c.proc.pid) for c in coordinators]
                    results = _window(ports, streams, at, seconds, new_first=round_no % 2 == 1, alone=alone)
                    row: dict[str, Any] = {}
                    for i, (side, result) in enumerate(zip(SIDES, results)):
                        at[i] = result["sent"]
                        cpu_ms = (env.cpu_seconds(coordinators[i].proc.pid) - cpu0[i]) * 1000
                        row[side] = {"accepted_per_s": result["accepted_per_s"], "rejected": result["rejected"],
                                     "cpu_ms_per_accepted": round(cpu_ms / max(result["accepted"], 1), 3),
                                     "latency_ms_median": result["latency_ms"]["median"]}
                    row["rate_new_over_old"] = round(row["new"]["accepted_per_s"] / row["old"]["accepted_per_s"], 3)
                    row["cpu_new_over_old"] = round(row["new"]["cpu_ms_per_accepted"]
                                                    / row["old"]["cpu_ms_per_accepted"], 3)
                    print(json.dumps(row), flush=True)
                    windows.append(row)
            finally:
                for coordinator in coordinators:
                    coordinator.stop()
                chain.stop()
    return {"rev": rev, "rounds": rounds, "seconds": seconds, "connections_each": connections, "alone": alone,
            "rate_new_over_old": env.spread([w["rate_new_over_old"] for w in windows], 3),
            "cpu_new_over_old": env.spread([w["cpu_new_over_old"] for w in windows], 3),
            "cpu_ms_per_accepted": {side: round(statistics.mean(w[side]["cpu_ms_per_accepted"] for w in windows), 3)
                                    for side in SIDES}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rev", help="the older commit (its coordinator is 'old')")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=8, help="per coordinator")
    parser.add_argument("--alone", action="store_true", help="one coordinator at a time, back to back")
    args = parser.parse_args()
    print(json.dumps(measure(args.rev, args.rounds, args.seconds, args.connections, args.alone)))


if __name__ == "__main__":
    main()
