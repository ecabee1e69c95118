"""Spot checks, measured with the real stack: detection of a tampering miner and
of a miner that inflates its compute time, false slashes of honest miners, what
the cheats were paid, and the extra cost per job.

One chain (check_share_bps as given), the coordinator, a real Ollama with the
tiny model, a tampering miner (TEST ONLY switch: every result falsified), an
inflating miner (TEST ONLY switch: claims 1000x its measured time) and an
honest miner; checkers are drawn by the chain. Jobs are deterministic
(temperature 0, fixed seed). Prints one JSON line.
Usage: python bench/spot_checks.py [--jobs 30] [--share-bps 3000] [--slash-bps 500]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from aitbc.api.coordinator_models import JobOptions  # noqa: E402
from aitbc.ops.ollama_server import TINY_MODEL_NAME  # noqa: E402
from aitbc.ops.tiny_model import write_tiny_model  # noqa: E402
from aitbc.audit import audit  # noqa: E402
from aitbc.jobspec import FINAL  # noqa: E402
from aitbc.ops.factories import KEYS  # noqa: E402
from aitbc.ops.harness import ChainStack, CoordinatorProcess, MinerProcess, serve_model, wait_for  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--share-bps", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=3)
    parser.add_argument("--slash-bps", type=int, default=500,
                        help="small, so the cheat keeps enough stake to keep getting work while measured")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = tmp / "tiny.gguf"
        write_tiny_model(model)
        chain = ChainStack(tmp / "chain", check_share_bps=args.share_bps, check_window_blocks=60, slash_bps=args.slash_bps,
                           pending_timeout_s=120, job_timeout_s=120)
        started = []
        try:
            ollama = serve_model(tmp / "models", tmp / "ollama.log", model)
            started.append(ollama)
            chain.start()
            started.append(chain)
            coordinator = CoordinatorProcess(tmp / "coordinator", chain).start()
            started.append(coordinator)
            roles = {"miner1": "tampering", "miner2": "inflating", "bob": "honest"}
            for name, extra in (("miner1", ("--fault-tamper-share", "1")), ("miner2", ("--fault-inflate-time", "1000")),
                                ("bob", ())):
                started.append(MinerProcess(tmp / "miners", name, chain, coordinator.url, ollama.url,
                                            model=TINY_MODEL_NAME, extra_args=extra).start())
            client = coordinator.client()
            wait_for(lambda: sum(m.online for m in client.miners()) == len(roles), 60, "miners online")
            options = JobOptions(temperature=0, seed=42, num_predict=24)
            t0 = time.monotonic()
            ids = []
            for start in range(0, args.jobs, args.batch):
                batch = [client.submit_job(chain.sign_job("alice", prompt=f"question {i}", options=options)).job_id
                         for i in range(start, min(args.jobs, start + args.batch))]
                for job_id in batch:
                    wait_for(lambda: client.get_job(job_id).status in FINAL, 180, f"{job_id} final")
                ids += batch
            elapsed = time.monotonic() - t0
            jobs = [chain.rpc.query(f"/job/{i}") for i in ids]
            receipts = {j["id"]: chain.rpc.query(f"/receipt/{j['id']}") for j in jobs if j["receipt_id"]}
            by_role = {}
            for name, role in roles.items():
                address = KEYS[name].address
                mine = [j for j in jobs if j["miner"] == address]
                checked = [j for j in mine if j["check_status"]]
                entry = by_role.setdefault(role, {"jobs": 0, "checked": 0, "proven_wrong": 0, "unpaid_undecided": 0,
                                                  "paid_uaitbc": 0, "max_paid_uaitbc": 0, "slashed": 0,
                                                  "claimed_ms": 0, "billed_ms": 0})
                entry["jobs"] += len(mine)
                entry["checked"] += len(checked)
                entry["proven_wrong"] += sum(j["check_status"] == "failed" for j in mine)
                entry["unpaid_undecided"] += sum(j["check_status"] in ("inconclusive", "unresolved") for j in mine)
                entry["paid_uaitbc"] += sum(j["payment"] for j in mine)
                entry["max_paid_uaitbc"] = max([entry["max_paid_uaitbc"], *(j["payment"] for j in mine)])
                entry["slashed"] += chain.rpc.query(f"/miner/{address}")["slashed"]
                entry["claimed_ms"] += sum(receipts[j["id"]]["compute_time_ms"] for j in mine if j["id"] in receipts)
                entry["billed_ms"] += sum(receipts[j["id"]]["billed_ms"] for j in mine if j["id"] in receipts)
            for entry in by_role.values():
                entry["detection_rate_of_checked"] = round(entry["proven_wrong"] / entry["checked"], 3) \
                    if entry["checked"] else None
            paid = sum(j["payment"] for j in jobs)
            print(json.dumps({
                "jobs": len(jobs), "check_share": args.share_bps / 10_000,
                "checked": sum(bool(j["check_status"]) for j in jobs), "by_role": by_role,
                "honest_slashed (false positives)": by_role["honest"]["slashed"],
                "check_outcomes": {s: sum(j["check_status"] == s for j in jobs)
                                   for s in ("passed", "failed", "inconclusive", "unresolved", "lapsed")},
                "miner_pay_uaitbc": paid, "checker_pay_uaitbc": sum(j["check_paid"] for j in jobs),
                "extra_cost_per_job_uaitbc": round(sum(j["check_paid"] for j in jobs) / len(jobs), 1),
                "extra_cost_share_of_miner_pay": round(sum(j["check_paid"] for j in jobs) / paid, 3) if paid else None,
                "fees_burned_uaitbc": chain.rpc.query("/supply")["fees"],
                "audit_ok": audit(chain.rpc).ok,
                "wall_seconds": round(elapsed, 1)}))
        finally:
            for part in reversed(started):
                part.stop()


if __name__ == "__main__":
    main()
