#!/usr/bin/env python
"""A bounded load test on loopback: it starts its own stack, sends jobs and
transfers for a fixed time, waits a grace period for every accepted job to end,
prints one JSON report on stdout, and stops everything it started.

    .venv/bin/python scripts/loadtest.py --seconds 60 --rate 1 --transfer-rate 4

The stack (aitbc.ops.harness.marketplace): `--validators 1` (default) is a single-node
chain; `--validators 4` a 4-validator testnet on 127.0.0.1 (one app and one
cometbft per node). On top: a real Ollama serving the generated tiny model, the
coordinator against node 0 and `--miners` miner daemons. Jobs are signed by one
client and posted to the coordinator at `--rate` per second; transfers are
signed by 4 accounts at `--transfer-rate` per second in all, account i sending
to node i mod N with broadcast_tx_sync (aitbc.ops.harness.load).

Report: accepted, completed, refunded, lost (accepted jobs neither completed nor
refunded after the grace period: must be 0), rejected (with reasons), latency
percentiles of jobs (submit -> final status on chain) and transfers (broadcast
-> commit), and the audit and app-hash checks at the end. Exit status 0 when
nothing was lost and the chain checks hold, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from aitbc import audit  # noqa: E402
from aitbc.ops.harness.load import LoadGenerator  # noqa: E402
from aitbc.ops.harness.marketplace import CHAIN_ID, FaultStack, app_hashes_agree, wait_synced  # noqa: E402


def say(text: str) -> None:
    print(f"loadtest: {text}", file=sys.stderr, flush=True)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30, help="how long to send (default 30)")
    parser.add_argument("--rate", type=float, default=1.0, help="jobs per second (default 1)")
    parser.add_argument("--transfer-rate", type=float, default=4.0, help="transfers per second in all (default 4)")
    parser.add_argument("--validators", type=int, default=1, help="1: single node (default); N: N validators")
    parser.add_argument("--miners", type=int, default=2, help="miner daemons (default 2)")
    parser.add_argument("--miner-capacity", type=int, default=1, help="jobs each miner runs at once (default 1)")
    parser.add_argument("--num-predict", type=int, default=8, help="tokens per job (default 8)")
    parser.add_argument("--grace", type=float, default=90, help="seconds to wait for jobs to end (default 90)")
    parser.add_argument("--dir", type=Path, default=None, help="where the stack lives (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the folder (logs, chain data) afterwards")
    args = parser.parse_args()
    if args.seconds <= 0 or args.seconds > 3600:
        parser.error("--seconds must be in (0, 3600]: the test is bounded")
    if not 1 <= args.validators <= 7:
        parser.error("--validators must be between 1 and 7")
    return args


def run(args: argparse.Namespace, root: Path) -> dict:
    timings: dict[str, float] = {}
    started = time.monotonic()
    stack = FaultStack(root, validators=args.validators, miners=args.miners, namespace="aitbc-loadtest",
                       miner_capacity=args.miner_capacity,
                       chain_params={"pending_timeout_s": 60, "job_timeout_s": 120})
    report: dict = {}
    try:
        say(f"starting {args.validators} validator(s), Ollama, the coordinator and {args.miners} miner(s) in {root}")
        stack.start()
        timings["stack_start_s"] = round(time.monotonic() - started, 1)
        load = LoadGenerator(CHAIN_ID, stack.node_urls, stack.coordinator_url, stack.client_api_key,
                             stack.keys["client1"], [stack.keys[n] for n in stack.transfer_names],
                             job_rate=args.rate, transfer_rate=args.transfer_rate, num_predict=args.num_predict)
        say(f"sending {args.rate} jobs/s and {args.transfer_rate} transfers/s for {args.seconds:g} s")
        load.start()
        first_height = load.watched_height
        time.sleep(args.seconds)
        load.stop_sending()
        sent = time.monotonic()
        say(f"stopped sending; waiting up to {args.grace:g} s for every accepted job to end")
        load.settle(args.grace)
        timings["settle_s"] = round(time.monotonic() - sent, 1)
        load.stop()
        jobs = load.job_summary()
        transfers = load.transfer_summary()
        top = wait_synced(stack, timeout=60, ahead=1)
        try:
            app_hashes_agree(stack, max(1, first_height), top)
            hashes_agree = True
        except AssertionError as err:
            hashes_agree, report["app_hash_error"] = False, str(err)
        rpc = stack.rpc(0)
        try:
            result = audit.audit(rpc)
        finally:
            rpc.close()
        report.update({
            "config": {"seconds": args.seconds, "job_rate": args.rate, "transfer_rate": args.transfer_rate,
                       "validators": args.validators, "miners": args.miners, "miner_capacity": args.miner_capacity,
                       "num_predict": args.num_predict, "grace_s": args.grace},
            "accepted": jobs["accepted"], "completed": jobs["completed"], "refunded": jobs["refunded"],
            "lost": jobs["lost"], "rejected": jobs["rejected"],
            "latency_s": {"job_submit_to_final": jobs["latency_submit_to_final_s"],
                          "transfer_broadcast_to_commit": transfers["latency_broadcast_to_commit_s"]},
            "jobs": {k: v for k, v in jobs.items() if k not in ("latency_submit_to_final_s",)},
            "transfers": {k: v for k, v in transfers.items() if k != "latency_broadcast_to_commit_s"},
            "chain": {"blocks": [first_height, top], "audit_ok": result.ok,
                      "audit_problems": {k: v for k, v in result.checks.items() if v},
                      "app_hashes_agree": hashes_agree},
        })
    finally:
        stack.stop()
        left = stack.leftovers()
        report["left_running"] = left
        timings["total_s"] = round(time.monotonic() - started, 1)
        report["timings"] = timings
    return report


def main() -> int:
    args = parse()
    root = args.dir.resolve() if args.dir else Path(tempfile.mkdtemp(prefix="aitbc-loadtest-"))
    if args.dir and root.exists() and any(root.iterdir()):
        say(f"{root} is not empty: choose an empty or new folder")
        return 2
    try:
        report = run(args, root)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(report, indent=2))
    ok = (report.get("lost") == 0 and report.get("transfers", {}).get("lost") == 0
          and report.get("chain", {}).get("audit_ok") and report.get("chain", {}).get("app_hashes_agree")
          and not report.get("left_running"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
