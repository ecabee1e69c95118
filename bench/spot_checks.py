"""Spot checks, measured with the real stack: detection of a tampering miner at a
check share, false positives among honest miners, and the extra cost per job.

One chain (check_share_bps as given), the coordinator, a real Ollama with the
tiny model, a tampering miner (the miner's TEST ONLY fault switch, share 1.0,
staked highest so it gets work first) and two honest miners. Jobs are
deterministic (temperature 0, fixed seed). Prints one JSON line.
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
sys.path[:0] = [str(ROOT), str(ROOT / "gen")]

from coordinator.models import JobOptions  # noqa: E402
from miner.ollama_client import run_sync  # noqa: E402
from miner.ollama_server import TINY_MODEL_NAME, OllamaServer  # noqa: E402
from miner.tiny_model import write_tiny_model  # noqa: E402
from aitbc import procs  # noqa: E402
from tests.factories import KEYS  # noqa: E402
from tests.integration.stack import ChainStack, CoordinatorProcess, MinerProcess, wait_for  # noqa: E402

FINAL = ("completed", "failed", "expired")


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
        ollama = OllamaServer(procs.free_port(), tmp / "models", tmp / "ollama.log")
        chain = ChainStack(tmp / "chain", check_share_bps=args.share_bps, check_window_blocks=60, slash_bps=args.slash_bps,
                           pending_timeout_s=120, job_timeout_s=120)
        started = []
        try:
            ollama.start()
            started.append(ollama)
            run_sync(ollama.url, lambda c: c.ensure_model(TINY_MODEL_NAME, model))
            chain.start()
            started.append(chain)
            coordinator = CoordinatorProcess(tmp / "coordinator", chain).start()
            started.append(coordinator)
            for name, extra in (("miner1", ("--stake", "300aitbc", "--fault-tamper-share", "1")),
                                ("miner2", ()), ("bob", ())):
                started.append(MinerProcess(tmp / "miners", name, chain, coordinator.url, ollama.url,
                                            model=TINY_MODEL_NAME, extra_args=extra).start())
            client = coordinator.client()
            wait_for(lambda: sum(m.online for m in client.miners()) == 3, 60, "miners online")
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
            cheat = KEYS["miner1"].address
            by_cheat = [j for j in jobs if j["miner"] == cheat]
            detected = [j for j in by_cheat if j["check_status"] == "failed"]
            caught_as_checker = sum(cheat in j["checkers"] and j["check_status"] == "passed" for j in jobs)
            checked = [j for j in jobs if j["check_status"]]
            honest_slashed = sum(chain.rpc.query(f"/miner/{KEYS[n].address}")["slashed"] for n in ("miner2", "bob"))
            first = next((n for n, j in enumerate(by_cheat, 1) if j["check_status"] == "failed"), None)
            paid = sum(j["payment"] for j in jobs)
            print(json.dumps({
                "jobs": len(jobs), "check_share": args.share_bps / 10_000, "checked": len(checked),
                "tampered_results": len(by_cheat), "detected": len(detected),
                "detection_rate": round(len(detected) / len(by_cheat), 3) if by_cheat else None,
                "cheat_jobs_until_first_detection": first,
                "cheat_slashed": chain.rpc.query(f"/miner/{cheat}")["slashed"],
                "cheat_outvoted_as_checker": caught_as_checker,
                "honest_slashed (false positives)": honest_slashed,
                "check_outcomes": {s: sum(j["check_status"] == s for j in jobs)
                                   for s in ("passed", "failed", "inconclusive", "lapsed")},
                "miner_pay_uaitbc": paid, "checker_pay_uaitbc": sum(j["check_paid"] for j in jobs),
                "extra_cost_per_job_uaitbc": round(sum(j["check_paid"] for j in jobs) / len(jobs), 1),
                "extra_cost_share_of_miner_pay": round(sum(j["check_paid"] for j in jobs) / paid, 3) if paid else None,
                "wall_seconds": round(elapsed, 1)}))
        finally:
            for part in reversed(started):
                part.stop()


if __name__ == "__main__":
    main()
