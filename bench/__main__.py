"""Run the benchmarks: python -m bench [--quick] [--only NAME ...] [--no-report]

Full (`make bench`): every benchmark with its full settings; results go to
bench/results/<name>.json, profiles to bench/results/profiles/, and
docs/benchmarks.md (with its plots in docs/benchmarks/) is written from them.
Quick (`make bench-quick`, 5 to 6 minutes here): short versions written to
bench/results/quick/, and ONE JSON line with the headline figures and ratios
on stdout. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

from bench import env

NAMES = ("finalize_block", "state_size", "chain_throughput", "chain_saturation", "stack", "profile_inprocess",
         "gateway_stream", "direct_jobs")


def settings(quick: bool) -> dict[str, dict[str, Any]]:
    if quick:
        return {"finalize_block": {"txs": 500, "rounds": 3},
                "state_size": {"sizes": (2000, 100_000), "miners": 10_000, "rounds": 3},
                "chain_throughput": {"seconds": 12, "warmup": 3, "runs": 1},
                # A short run with a mempool that does not bound blocks: saturated_ratio.
                "chain_saturation": {"seconds": 12, "warmup": 3, "mempool_size": 30_000, "profile": False},
                "stack": {"jobs": 12, "miner_runs": 10, "intake_seconds": 6, "intake_rounds": 2},
                "profile_inprocess": {"txs": 0},
                "gateway_stream": {"runs": 3, "models": ("smollm2:135m",), "demo": False},
                "direct_jobs": {"pairs": 5, "poll_s": 1.0}}
    return {"finalize_block": {"txs": 2000, "rounds": 7},
            "state_size": {"sizes": (2000, 100_000), "miners": 10_000, "rounds": 4},
            "chain_throughput": {"seconds": 30, "warmup": 5, "runs": 3},
            "chain_saturation": {"seconds": 30, "warmup": 5, "mempool_size": 30_000, "runs": 3},
            "stack": {"jobs": 50, "miner_runs": 30, "intake_seconds": 10, "intake_rounds": 6,
                      "short_block_jobs": 20},
            "profile_inprocess": {"txs": 3000},
            "gateway_stream": {"runs": 10, "models": ("smollm2:135m", "aitbc-tiny"), "demo": True},
            "direct_jobs": {"pairs": 30, "poll_s": 1.0}}


def run_finalize_block(s: dict[str, Any], profiles: Path) -> dict[str, Any]:
    from bench import finalize_block

    return finalize_block.measure(s["txs"], s["rounds"])


def run_state_size(s: dict[str, Any], profiles: Path) -> dict[str, Any]:
    from bench import state_size

    return state_size.measure(s["sizes"], s["miners"], s["rounds"])


def run_chain_throughput(s: dict[str, Any], profiles: Path) -> dict[str, Any]:
    from bench import chain_throughput

    return chain_throughput.compare(s["seconds"], s["warmup"], s["runs"])


def run_chain_saturation(s: dict[str, Any], profiles: Path) -> dict[str, Any] | None:
    """Both apps with a mempool big enough that its size never bounds a block, back to back,
    `runs` times (the machine's load changes from one minute to the next). The ratio is the
    median of the runs' ratios. py-spy records our app in one more run, not counted (on 2
    shared cores its sampling would slow the run it watches)."""
    if not s["seconds"]:
        return None
    from bench import chain_throughput

    rounds: list[dict[str, Any]] = []
    for i in range(s.get("runs", 1)):
        results = {}
        for app, hint in (("kvstore", 16_000), ("aitbc", 12_000)):
            results[app] = chain_throughput.run(app, s["seconds"], s["warmup"], rate_hint=hint,
                                                mempool_size=s["mempool_size"])
            env.log(f"chain_saturation {app}: {results[app]['committed_tx_per_s']} tx/s")
        k, a = results["kvstore"]["committed_tx_per_s"], results["aitbc"]["committed_tx_per_s"]
        rounds.append({"results": results, "ratio": round(a / k, 3) if k else None})
    profiled = None
    if s.get("profile", True):
        profiled = chain_throughput.run("aitbc", s["seconds"], s["warmup"], rate_hint=12_000,
                                        mempool_size=s["mempool_size"],
                                        profile=profiles / "chain_saturation_app.pyspy.txt")["committed_tx_per_s"]
    ratios = [r["ratio"] for r in rounds if r["ratio"] is not None]
    return {"mempool_size": s["mempool_size"], "results": rounds[0]["results"], "rounds": rounds,
            "ratios": ratios, "ratio": env.spread(ratios, 3)["median"] if ratios else None,
            "profiled_run_tx_per_s": profiled}


def run_stack(s: dict[str, Any], profiles: Path) -> dict[str, Any]:
    from bench import full_stack

    return full_stack.run(s["jobs"], s["miner_runs"], s["intake_seconds"], intake_rounds=s.get("intake_rounds", 1),
                          profile_dir=profiles, short_block_jobs=s.get("short_block_jobs", 0))


def run_profile_inprocess(s: dict[str, Any], profiles: Path) -> dict[str, Any] | None:
    """pyinstrument over CheckTx + FinalizeBlock of transfers and job txs, in process."""
    if not s["txs"]:
        return None
    import tempfile

    from pyinstrument import Profiler

    from bench import finalize_block as fb
    from aitbc.ops.factories import register_fields

    with tempfile.TemporaryDirectory(prefix="aitbc-bench-") as directory:
        app, signer = fb.fresh_app(directory), fb.wallet()
        try:
            fb.run_block(app, [signer.tx("miner1", "register_miner", **{**register_fields(), "capacity": s["txs"]})],
                         True)
            pays = fb.transfers(signer, s["txs"])
            submits, assigns, receipts = fb.lifecycles(signer, s["txs"] // 3)
            profiler = Profiler(interval=0.0005)
            profiler.start()
            for block in (pays, submits, assigns, receipts):
                fb.run_block(app, block, warm=True)
            profiler.stop()
        finally:
            app.store.close()
    (profiles / "inprocess_checktx_finalize.txt").write_text(profiler.output_text(unicode=False, color=False))
    (profiles / "inprocess_checktx_finalize.html").write_text(profiler.output_html())
    return {"txs": len(pays) + len(submits) + len(assigns) + len(receipts),
            "profile": "bench/results/profiles/inprocess_checktx_finalize.txt"}


def run_gateway_stream(s: dict[str, Any], profiles: Path) -> dict[str, Any]:
    """Time to first token and tokens/s through `aitbc gateway` vs Ollama directly; the demo's answer."""
    from bench import gateway_stream

    return gateway_stream.run(s["runs"], s["models"], s["demo"])


def run_direct_jobs(s: dict[str, Any], profiles: Path) -> dict[str, Any]:
    """Direct-job overhead against the coordinator path; websocket against polling for assignments."""
    from bench import direct_jobs

    return direct_jobs.run(s["pairs"], s["poll_s"])


RUNNERS: dict[str, Callable[[dict[str, Any], Path], dict[str, Any] | None]] = {
    "finalize_block": run_finalize_block, "state_size": run_state_size, "chain_throughput": run_chain_throughput,
    "chain_saturation": run_chain_saturation, "stack": run_stack, "profile_inprocess": run_profile_inprocess,
    "gateway_stream": run_gateway_stream, "direct_jobs": run_direct_jobs,
}


def headline(results: dict[str, Any]) -> dict[str, Any]:
    """The one-line summary: headline figures and ratios."""
    line: dict[str, Any] = {}
    fb = results.get("finalize_block")
    if fb:
        us = fb["us_per_tx"]
        line.update(transfer_finalize_us=us["transfer_warm_us"]["median"],
                    transfer_finalize_cold_us=us["transfer_cold_us"]["median"],
                    job_tx_finalize_us=us["job_tx_warm_us"]["median"],
                    verifications_per_signature=fb["verification"]["verifications_per_signature"])
    ss = results.get("state_size")
    if ss:
        line.update(state_size_ratio=ss["ratio"])
    ct = results.get("chain_throughput")
    if ct:
        line.update(chain_aitbc_tx_s=ct["summary"]["aitbc"]["median"], chain_kvstore_tx_s=ct["summary"]["kvstore"]["median"],
                    chain_ratio=ct["ratio"],
                    chain_min_backlog_at_proposal=min(r["backlog_at_proposal"]["min"] for rs in ct["results"].values()
                                                      for r in rs))
    sat = results.get("chain_saturation")
    if sat:
        line.update(saturated_aitbc_tx_s=sat["results"]["aitbc"]["committed_tx_per_s"],
                    saturated_kvstore_tx_s=sat["results"]["kvstore"]["committed_tx_per_s"],
                    saturated_ratio=sat["ratio"])
    st = results.get("stack")
    if st:
        jo, mo, it = st["job_overhead"], st["miner_overhead"], st["intake"]
        line.update(job_overhead_p50_s=jo["overhead_p50_s"], job_overhead_p95_s=jo["overhead_p95_s"],
                    job_final_overhead_p50_s=jo.get("final_overhead_p50_s"),
                    job_final_overhead_p95_s=jo.get("final_overhead_p95_s"),
                    miner_overhead_ms=mo["overhead_ms"], miner_overhead_pct=mo["overhead_pct"],
                    intake_coordinator_per_s=it["coordinator"]["accepted_per_s"],
                    intake_node_sync_per_s=it["node_broadcast_tx_sync"]["accepted_per_s"], intake_ratio=it["ratio"])
    gs = results.get("gateway_stream")
    if gs:
        first = gs["models"][next(iter(gs["models"]))]
        line.update(gateway_ttft_overhead_p50_s=first["ttft_s"]["overhead"]["p50"],
                    gateway_ttft_overhead_p95_s=first["ttft_s"]["overhead"]["p95"],
                    gateway_tokens_per_s=first["tokens_per_s"]["gateway"]["p50"],
                    direct_tokens_per_s=first["tokens_per_s"]["direct"]["p50"])
    dj = results.get("direct_jobs")
    if dj:
        line.update(direct_overhead_p50_s=dj["direct"]["overhead_s"]["p50"],
                    direct_overhead_p95_s=dj["direct"]["overhead_s"]["p95"],
                    assignment_seen_websocket_ms=dj["seen_after_block_ms"]["websocket"]["p50"],
                    assignment_seen_polling_ms=dj["seen_after_block_ms"]["poll"]["p50"])
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="+", choices=NAMES)
    parser.add_argument("--no-report", action="store_true", help="do not rewrite docs/benchmarks.md")
    args = parser.parse_args(argv)
    if args.quick:
        os.environ["AITBC_BENCH_RESULTS"] = str(env.RESULTS / "quick")
        env.RESULTS = env.RESULTS / "quick"
    profiles = env.RESULTS / "profiles"
    profiles.mkdir(parents=True, exist_ok=True)
    chosen = settings(args.quick)
    results: dict[str, Any] = {}
    failed = []
    started = time.monotonic()
    for name in args.only or NAMES:
        env.log(f"{name}: {chosen[name]}")
        t = time.monotonic()
        try:
            result = RUNNERS[name](chosen[name], profiles)
        except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the others
            env.log(f"{name} FAILED: {type(exc).__name__}: {exc}")
            failed.append(name)
            continue
        if result is None:
            continue
        result["settings_used"] = {k: v for k, v in chosen[name].items()}
        result["duration_s"] = round(time.monotonic() - t, 1)
        env.write_result(name, result)
        results[name] = result
    if not args.quick and not args.no_report:
        from bench import report

        path = report.write()
        env.log(f"wrote {path}")
    line = headline(results) | {"quick": args.quick, "seconds": round(time.monotonic() - started), "failed": failed}
    print(json.dumps(line), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
