"""docs/benchmarks.md and its plots (docs/benchmarks/*.png), from bench/results/*.json.

Usage: python -m bench.report [--no-plots]   (after `python -m bench`; rewrites the page;
--no-plots keeps the plots in docs/benchmarks/ as they are)
"""

from __future__ import annotations

import collections
import json
import statistics
import re
import sys
from pathlib import Path
from typing import Any

from bench import env

DOCS = env.ROOT / "docs"
IMAGES = DOCS / "benchmarks"


def _fmt(s: dict[str, Any] | None, unit: str = "") -> str:
    if not s or s.get("median") is None:
        return "—"
    return f"{s['median']}{unit} ({s['min']}–{s['max']}, IQR {s['q1']}–{s['q3']}, n={s['n']})"


def _ok(flag: bool | None) -> str:
    return "met" if flag else ("**not met**" if flag is not None else "—")


def _plots(results: dict[str, Any]) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    IMAGES.mkdir(parents=True, exist_ok=True)
    made = {}

    def chain_plot(name: str, runs: dict[str, dict[str, Any]], title: str) -> None:
        fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
        for app, run in runs.items():
            blocks = run["series"]["blocks"]
            xs = [t for t, _ in blocks[1:]]
            rates = [n / (t - t0) if t > t0 else 0 for (t0, _), (t, n) in zip(blocks, blocks[1:])]
            top.step(xs, rates, where="post", label=f"{app} ({run['committed_tx_per_s']} tx/s)")
            backlog = run["series"]["backlog"]
            bottom.plot([t for t, _ in backlog], [n for _, n in backlog], label=app)
        for ax in (top, bottom):
            ax.axvspan(0, runs[next(iter(runs))]["warmup_s"], color="0.9")
            ax.grid(alpha=0.3)
            ax.legend()
        top.set_ylabel("committed tx/s per block")
        bottom.set_ylabel("mempool backlog (txs)")
        bottom.set_xlabel("seconds since load started (grey: warm-up, not counted)")
        top.set_title(title)
        fig.tight_layout()
        fig.savefig(IMAGES / f"{name}.png", dpi=90)
        plt.close(fig)
        made[name] = f"benchmarks/{name}.png"

    ct = results.get("chain_throughput")
    if ct:
        chain_plot("chain_throughput", {app: rs[0] for app, rs in ct["results"].items()},
                   "One node, 1 s blocks, mempool size 5000 (CometBFT default)")
    sat = results.get("chain_saturation")
    if sat:
        chain_plot("chain_saturation", sat["results"], f"One node, 1 s blocks, mempool size {sat['mempool_size']}")
    st = results.get("stack")
    if st:
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
        rows = st["job_overhead"]["rows"]
        target = st["job_overhead"].get("target", {"p50_s": 0.6, "p95_s": 1.0})
        for label, values in (("result released − Ollama", [r.get("result_s", r["latency_s"]) - r["ollama_s"]
                                                              for r in rows]),
                              ("receipt in a block − Ollama", [r["latency_s"] - r["ollama_s"] for r in rows])):
            data = sorted(values)
            left.step(data, [(i + 1) / len(data) for i in range(len(data))], where="post", label=label)
        left.axvline(target["p50_s"], color="g", ls=":", label="p50 target")
        left.axvline(target["p95_s"], color="r", ls=":", label="p95 target")
        left.set_xlabel("seconds")
        left.set_ylabel("fraction of jobs")
        left.set_title(f"Job latency CDF, {len(rows)} jobs, 1 s blocks")
        left.legend(fontsize=8)
        left.grid(alpha=0.3)
        series = st["miner_overhead"]["series"]
        for label, values in (("Ollama directly", series["direct_ms"]), ("through the miner", series["miner_ms"])):
            data = sorted(values)
            right.step(data, [(i + 1) / len(data) for i in range(len(data))], where="post", label=label)
        right.set_xlabel("milliseconds")
        right.set_title("Same prompt: Ollama vs miner job")
        right.legend(fontsize=8)
        right.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(IMAGES / "latency_cdf.png", dpi=90)
        plt.close(fig)
        made["latency_cdf"] = "benchmarks/latency_cdf.png"
    return made


def top_frames(path: Path, count: int = 12) -> list[tuple[float, str]]:
    """Self time by function from a py-spy raw (collapsed stacks) file."""
    if not path.exists():
        return []
    self_time: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        total += int(n)
        # py-spy names a frame it cannot resolve with a NUL byte, or leaves the name empty; keep the
        # report plain text.
        frame = stack.split(";")[-1].replace("\x00", "<unknown>") or "<unknown>"
        frame = re.sub(r" \((?:/[^)]*/)?(?:site-packages/|lib/python3\.\d+/)?([^)]*)\)", r" (\1)", frame)
        self_time[frame] += int(n)
    return [(round(100 * n / total, 1), f) for f, n in self_time.most_common(count)] if total else []


def _frames_table(path: Path) -> str:
    frames = top_frames(path)
    if not frames:
        return "_(no profile recorded)_\n"
    rows = "\n".join(f"| {pct} % | `{frame}` |" for pct, frame in frames)
    return "| self time | function |\n|---:|---|\n" + rows + "\n"


def _yardsticks(results: dict[str, Any]) -> str:
    """Each result's CPU yardstick (env.cpu_yardstick), or a dash for one written before it existed."""
    named = dict(results)
    base = env.read_result("baseline")
    if base:
        named["baseline"] = base
    return ", ".join(f"{name} {r['machine'].get('ed25519_verify_us', '—')}" for name, r in named.items())


def render(results: dict[str, Any], images: dict[str, str]) -> str:
    any_result = next(iter(results.values()))
    m, v = any_result["machine"], any_result["versions"]
    out = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m bench`) from `bench/results/*.json`; do not edit by hand.",
        "`make bench-quick` runs short versions (5 to 6 minutes on this machine) and prints one JSON line.",
        "Spread: median (min–max, IQR q1–q3, n = repeated runs or samples).",
        "",
        "## Machine and versions",
        "",
        "| | |",
        "|---|---|",
        f"| CPU | {m['cpu']}, {m['nproc']} cores (`nproc`) |",
        f"| RAM | {m['ram_gib']} GiB |",
        f"| kernel | {m['kernel']} |",
        f"| cometbft | {v['cometbft']} (abci-cli {v['abci-cli']}) |",
        f"| Python | {v['python']} (protobuf {v['protobuf']}, {v['protobuf_backend']} backend) |",
        f"| Ollama | {v['ollama']} |",
        f"| run at | {any_result['when']} |",
        f"| CPU yardstick: one ed25519 verification (libsodium), CPU µs, when each result was written | "
        f"{_yardsticks(results)} |",
        "",
        "Everything runs on this one machine, on loopback: the node, the app, the load generator,",
        "the coordinator, the miner and Ollama share its cores.",
        "",
    ]
    out += _summary(results)
    if "chain_throughput" in results:
        out += _chain(results["chain_throughput"], results.get("chain_saturation"), images,
                      results.get("finalize_block"))
    if "chain_ceiling" in results:
        from bench import chain_ceiling

        out += chain_ceiling.section(results["chain_ceiling"])
    if "finalize_block" in results:
        out += _finalize(results["finalize_block"])
    if "state_size" in results:
        out += _state(results["state_size"])
    if "stack" in results:
        out += _stack(results["stack"], images)
    if "gateway_stream" in results:
        out += _gateway_stream(results["gateway_stream"])
    if "direct_jobs" in results:
        from bench import direct_jobs

        out += direct_jobs.section(results["direct_jobs"])
    if "miner_slots" in results:
        from bench import miner_slots

        out += miner_slots.section(results["miner_slots"])
    out += _profiles()
    return "\n".join(out) + "\n"


# The CPU yardstick (env.cpu_yardstick) of the host where issue 15 measured CheckTx + RECHECK +
# FinalizeBlock at ≈ 102.8 µs a transfer and set the 60 µs target (docs/benchmarks.md at 8a4234f,
# 2026-11-29: "ed25519 verification ≈ 36 µs in libsodium"). A figure from a faster or slower core
# is scaled by the ratio of the yardsticks before it is judged.
TARGET_HOST_YARDSTICK_US = 36.0


def _saturation_judged(sat: dict[str, Any], ceiling: dict[str, Any] | None) -> tuple[bool, str]:
    """Whether the saturation target is met, and what chain_ceiling's rounds said of the same
    ratio (same node, mempool and load) when it has them. One run's spread spans the 0.9 (0.81
    to 0.97 in six rounds on 2026-12-04), so with both benchmarks' rounds at hand the target is
    judged on the median of all of them together, not on either set alone."""
    ours = [r["ratio_to_kvstore"] for r in (ceiling or {}).get("runs", []) if r["app"] == "aitbc"]
    if not ours:
        return sat["ratio"] is not None and sat["ratio"] >= 0.9, ""
    median = ceiling["summary"]["aitbc"]["ratio_to_kvstore"]["median"]
    pooled = [r for r in (sat.get("ratios") or [sat["ratio"]]) if r is not None] + ours
    together = env.spread(pooled, 3)["median"]
    said = (f"chain_ceiling's rounds ({ceiling['when'][:10]}): {median} ({', '.join(map(str, ours))}); "
            f"all {len(pooled)} rounds together: **{together}**")
    return together >= 0.9, said


def _summary(results: dict[str, Any]) -> list[str]:
    rows = []
    ct, sat = results.get("chain_throughput"), results.get("chain_saturation")
    if ct:
        rows.append(f"| chain throughput, default mempool (5000) | ours / kvstore ≥ 0.8 | "
                    f"{ct['summary']['aitbc']['median']} / {ct['summary']['kvstore']['median']} tx/s = "
                    f"**{ct['ratio']}** | {_ok(ct['ratio'] is not None and ct['ratio'] >= 0.8)} |")
    base = env.read_result("baseline") or {}
    if sat:
        ratios = sat.get("ratios") or [sat["ratio"]]
        before = base.get("saturated_ratio", {}).get("before", {}).get("median")
        met, ceiling = _saturation_judged(sat, results.get("chain_ceiling"))
        judged = _ok(met)
        rows.append(f"| chain throughput, mempool {sat['mempool_size']} (saturation) | ours / kvstore ≥ 0.9 | "
                    f"**{sat['ratio']}** (median of {len(ratios)} back-to-back runs: {', '.join(map(str, ratios))})"
                    + (f"; {ceiling}" if ceiling else "")
                    + (f"; before: {before}" if before is not None else "") +
                    f" | {judged} |")
    fb = results.get("finalize_block")
    if fb:
        us = fb["us_per_tx"]
        was = base.get("inprocess_us_per_tx", {}).get("before", {})
        t, cold = us["transfer_warm_us"]["median"], us["transfer_cold_us"]["median"]
        before = f"; before: {was['transfer_warm_us']['median']} µs" if was else ""
        rows.append(f"| FinalizeBlock per transfer (in process, after CheckTx) | < 20 µs | {t} µs{before} "
                    f"(a block made elsewhere: {us.get('transfer_run_us', {}).get('median', '—')} µs; cold, incl. signature check: "
                    f"{cold} µs) | {_ok(t < 20)} |")
        total = round(sum(us[k]["median"] for k in _PER_TRANSFER), 1)
        before = f"; before: {round(sum(was[k]['median'] for k in _PER_TRANSFER), 1)}" if was else ""
        # µs of one core depend on the core: judged as on the host the target was set on.
        yardstick = fb.get("machine", {}).get("ed25519_verify_us")
        scaled = round(total * TARGET_HOST_YARDSTICK_US / yardstick, 1) if yardstick else None
        rows.append(f"| CheckTx + RECHECK + FinalizeBlock per transfer, CPU µs of one core | ≤ 60 | "
                    f"{total}"
                    + (f" on a core whose yardstick is {yardstick} µs; {scaled} on the host the target was set on "
                       f"(yardstick {TARGET_HOST_YARDSTICK_US} µs, 2026-11-29)" if scaled is not None else "")
                    + f"{before} | {_ok((scaled if scaled is not None else total) <= 60)} |")
        vps = fb["verification"]["verifications_per_signature"]
        rows.append(f"| signature verifications per signature, per node | 1 | {vps} "
                    f"({fb['verification']['verify_calls']} calls / {fb['verification']['signatures']}) | "
                    f"{_ok(vps == 1)} |")
    ss = results.get("state_size")
    if ss:
        rows.append(f"| FinalizeBlock, {ss['runs'][-1]['jobs']:,} vs {ss['runs'][0]['jobs']:,} jobs | ratio < 1.3 | "
                    f"**{ss['ratio']}** "
                    f"(vs the smallest state: {ss['ratio_vs_minimal']}) | {_ok(ss['ratio'] < 1.3)} |")
        big, small = ss["runs"][-1].get("app_rss_mib"), ss["runs"][0].get("app_rss_mib")
        if big and small:
            rows.append(f"| app RSS with {ss['runs'][-1]['jobs']:,} jobs in state | reported, bounded | "
                        f"{big['after_blocks']} MiB (with {ss['runs'][0]['jobs']:,} jobs: {small['after_blocks']} MiB) "
                        f"| — |")
    st = results.get("stack")
    if st:
        jo, mo, it = st["job_overhead"], st["miner_overhead"], st["intake"]
        base = env.read_result("stack_baseline") or {}
        bj, bi = base.get("job_overhead", {}), base.get("intake", {})
        before = f" (before: {bj['overhead_p50_s']} / {bj['overhead_p95_s']})" if bj else ""
        rows.append(f"| job overhead, result released (latency − Ollama), 1 s blocks | p50 ≤ 0.6 s, p95 ≤ 1.0 s | "
                    f"p50 {jo['overhead_p50_s']} s, p95 {jo['overhead_p95_s']} s{before} | {_ok(jo['target_met'])} |")
        if "final_overhead_p50_s" in jo:
            rows.append(f"| job overhead until the receipt is in a block, 1 s blocks | (reported) | "
                        f"p50 {jo['final_overhead_p50_s']} s, p95 {jo['final_overhead_p95_s']} s | — |")
        rows.append(f"| miner overhead | < max(2 %, 20 ms) | {mo['overhead_ms']} ms ({mo['overhead_pct']} %) | "
                    f"{_ok(mo['target_met'])} |")
        before = f" (before: {bi['ratio']})" if bi else ""
        rows.append(f"| coordinator intake vs node broadcast_tx_sync | ≥ 0.5 | "
                    f"{it['coordinator']['accepted_per_s']} / {it['node_broadcast_tx_sync']['accepted_per_s']} /s"
                    + (f"; **{it['ratio']}** (median of {len(it['round_ratios'])} rounds: "
                       f"{', '.join(str(r) for r in it['round_ratios'])})" if len(it.get("round_ratios") or []) > 1
                       else f" = **{it['ratio']}**")
                    + f"{before} | {_ok((it['ratio'] or 0) >= 0.5)} |")
    gs = results.get("gateway_stream")
    if gs:
        for model, r in gs["models"].items():
            o = r["ttft_s"]["overhead"]
            rows.append(f"| time to first token, gateway − Ollama direct ({model}) | (reported) | "
                        f"p50 {o['p50']} s, p95 {o['p95']} s | — |")
    return ["## Summary", "", "| benchmark | target | result | |", "|---|---|---|---|", *rows, ""]


# What one transfer costs a node that proposes its own blocks (bench/finalize_block.py).
_PER_TRANSFER = ("transfer_checktx_us", "transfer_recheck_us", "transfer_warm_us")


def _chain(ct: dict[str, Any], sat: dict[str, Any] | None, images: dict[str, str],
           fb: dict[str, Any] | None) -> list[str]:
    first = ct["results"]["aitbc"][0]
    s = first["settings"]
    out = [
        "## Chain throughput: our app vs kvstore", "",
        "One node, the same `cometbft` binary and config (ours: `ops/cometbft-config/single-node.toml`, 1 s "
        "`timeout_commit`, kv tx indexer, `log_level = \"error\"`), our app vs `abci-cli kvstore --persist` "
        "over the same socket transport. Same load generator (`bench/loadgen.py`, its own process) and tx size "
        f"({first['tx_bytes']} bytes): for us signed transfers from {s['senders']} funded senders (consecutive "
        "nonces), for kvstore `key=value` txs padded to the same length. Every tx is pre-signed and pre-encoded; "
        f"the generator sends `broadcast_tx_async` in JSON-RPC batches of {s['batch']} (CometBFT's "
        f"`max_request_batch_size`) on {s['connections']} keep-alive connections, and keeps the txs sent but not "
        "yet committed under the mempool size, so that no tx that passed CheckTx is dropped for lack of room "
        "(a dropped transfer would leave a nonce gap and stall its sender). The first "
        f"{first['warmup_s']} s are not counted; committed tx/s = txs of the blocks in the window / span of their "
        "header times. The backlog (txs in the mempool, sampled every 0.1 s) last seen before each block must "
        "be above zero: then every block could have taken more than the generator gave it, and the node, not the "
        "generator, is the bottleneck. (Right after a Commit the mempool can be empty for a moment when the "
        "block took all of it: with the default size a block takes the whole mempool, and the generator may only "
        "refill it once CometBFT has removed the committed txs.)", "",
        "| | app | committed tx/s | txs per block | block interval s | backlog before each block: min / median | backlog, all samples: min / median | CPU app / cometbft (cores) | load average before (1 / 5 / 15 min) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    groups = [("mempool 5000 (default)", ct["results"])]
    if sat:
        for i, round_ in enumerate(sat.get("rounds") or [{"results": sat["results"]}]):
            groups.append((f"mempool {sat['mempool_size']}, run {i + 1}", {k: [v] for k, v in round_["results"].items()}))
    for label, runs in groups:
        for app, rs in runs.items():
            rates = env.spread([r["committed_tx_per_s"] for r in rs])
            r = rs[0]
            load = r.get("load_avg", {}).get("before")
            out.append(f"| {label} | {app} | {_fmt(rates)} | {r['txs_per_block']['median']} | "
                       f"{r['block_interval_s']['median']} | {min(x['backlog_at_proposal']['min'] for x in rs)} / "
                       f"{r['backlog_at_proposal']['median']} | {min(x['backlog']['min'] for x in rs)} / "
                       f"{r['backlog']['median']} | {r['cpu_util']['app']} / {r['cpu_util']['cometbft']} | "
                       f"{_load(load) if load else '—'} |")
    out += ["", f"Ratio (ours / kvstore), default mempool: **{ct['ratio']}**" +
            (f"; mempool {sat['mempool_size']}: **{sat['ratio']}** (median of the runs' ratios "
             f"{', '.join(map(str, sat.get('ratios') or [sat['ratio']]))})." if sat else "."), ""]
    if "chain_throughput" in images:
        out += [f"![committed tx/s per block and backlog]({images['chain_throughput']})", ""]
    if sat and "chain_saturation" in images:
        out += [f"![saturation run]({images['chain_saturation']})", ""]
    out += [
        "What bounds it. With CometBFT's default mempool (5000 txs) a block can only hold what the mempool "
        "holds, and with 1 s blocks that is the ceiling for any app: an app that checks txs as fast as they "
        "come commits as much as kvstore "
        + ("(ratio about 1 here)." if (ct["ratio"] or 0) >= 0.9 else
           f"(ratio {ct['ratio']} here: on this loaded machine our CheckTx rate, not the mempool, set the pace)."),
        "",
        "With a mempool large enough that its size never bounds a block, kvstore (Go, no signatures) shows "
        "what CometBFT itself can take on this machine, and our app is bound by its own work per tx and by "
        "how long each block waits for it, while the node, the generator and the app share 2 cores. Before "
        "issue 15 a transfer cost one Python process a CheckTx (decode, canonical-encoding check, ed25519 "
        "verification ≈ 36 µs in libsodium, apply to the check state), a RECHECK after every block for as long "
        "as it waited in the mempool (with 30 000 txs in it, two to five of them), and a FinalizeBlock that ran "
        "it again; and before every Commit CometBFT waited until every CheckTx it had sent was answered, of "
        "which Linux let tens of MB pile up in the loopback socket buffers (seconds of CheckTx work on every "
        "block). What changed:",
        "",
        "- `abci_app/check_state.py`: the check state keeps a log of what CheckTx applied. While a block's "
        "txs are the log's first entries (and its start wrote nothing), FinalizeBlock takes a transfer's writes "
        "and events as CheckTx made them, and after such a block a RECHECK of a transfer still waiting is "
        "answered without running it: it reads exactly what it read when it was checked. A transfer's outcome "
        "depends on nothing but the state (not on height, time or block hash), so a node that never saw the txs "
        "computes the same writes (tests/unit/test_check_state.py replays mixed blocks both ways and compares "
        "app hashes, results and events). CometBFT's mempool order, which now and then differs from the order "
        "CheckTx answered in, and txs it dropped are handled; anything else (a block made elsewhere, a job tx) "
        "runs as before from there on, so a tx whose nonce or funds a block used is still evicted.",
        "- `abci_app/server.py`: the CheckTx requests one read brings are read without building protobuf "
        "messages and answered as a batch whose signatures are checked together (next point); answers are "
        "framed around the app's bytes. The receive buffers stay at 256 KiB, so CometBFT's "
        "unanswered CheckTx stay a few thousand and push back on its RPC clients instead; a proposal or block "
        "arriving is read before more CheckTx work.",
        "- `native/ed25519` (since 2026-12-01): the chain's signature rule is ZIP-215 ed25519 (small-order "
        "public keys refused), checked by curve25519-voi, the library CometBFT checks its own votes with, "
        "through a small cgo library the app loads. Under ZIP-215 one-by-one and batch checks always agree, "
        "so the app checks the signatures of txs that arrive together (pipelined CheckTx, a proposal, a block "
        "made elsewhere) as one batch, in chunks on its two verify threads (ctypes releases the GIL). Measured "
        "with `go test -bench` on this VM within one minute, CPU µs per signature: Go's crypto/ed25519 66.7, "
        "voi alone 43.8, voi batches of 16 / 64 / 256: 32.1 / 29.3 / 20.3; libsodium from Python 72-92 the "
        "same quarter hour. README, \"Transactions\", says what the rule accepts; "
        "tests/unit/test_signature_rule.py pins it. Against the app just before it (`python -m bench.baseline "
        "e8dcfdc`, alternated 3 times on 2026-12-01, yardstick 96 µs), in process: FinalizeBlock of transfers "
        "this node had not checked 194.1 → 92.6 µs each, a batch of 64 CheckTx about a quarter less CPU (4 alternated runs of 6 000 transfers, µs each: "
        "111–142 against 132–179 on one verify thread, 121–152 against 161–195 on two), one CheckTx "
        "alone 167.5 → 170.2 (no gain); on the saturated node no gain could be seen: ratio 0.817 (0.634–0.821) "
        "before, 0.719 (0.663–0.836) after, the app's CPU per committed tx unchanged (194–220 µs against "
        "200–245) and cometbft's higher (244–273 µs against 221–255), for a reason not found yet.",
        "- `abci_app/check_state.py` `Replay` (since 2026-12-01): FinalizeBlock takes a checked transfer wherever "
        "it stands in the block, when every record it decided on (its sender's account, the parameters) holds "
        "what it held in CheckTx; what it only added to (the recipient's balance, the fee burned: "
        "`state.add_to_account`, `add_to_supply`) carries over as amounts. Before, reuse stopped at the first "
        "block tx out of the check state's log order, which CometBFT's mempool often breaks: 44–56 % of the "
        "saturated node's block txs were reused, the rest ran again. Against the app just before it (`python -m "
        "bench.baseline a0514d4`, alternated 3 times on 2026-12-01): 100 % reused in all three runs (79 370, "
        "85 040 and 89 540 txs); RECHECKs that ran their tx 2 356–5 844 per run against 7 509–13 009; "
        "committed transfers/s 4068.4 (3774.0–4503.6) against 3463.4 (3436.9–4314.4), ratio to kvstore 0.838 "
        "(0.74–0.907) against 0.763 (0.63–0.869); in process, a block of four senders' transfers in another "
        "order than CheckTx saw them 80.7 → 32.9 µs each (running them: about 70). CheckTx carries the "
        "bookkeeping (a few dict entries per tx): 5 alternated runs of batched CheckTx gave minima of 113–136 "
        "µs before and 115–140 after, no difference beyond the noise.",
        "- `abci_app/app.py` `VERIFY_THREADS` (since 2026-12-01): half the cores by default (at most 4; "
        "`--verify-threads N`), so one on this machine, where it was two. Under saturation, 4 alternated pairs "
        "of 20 s runs (this tree, only the setting changed), committed transfers/s one against two: 3907.6 / "
        "3585.8, 4978.2 / 4933.7, 5084.0 / 4660.2, 5130.4 / 4780.1; the app's CPU 0.65–0.69 cores against "
        "0.69–0.75. CometBFT shares the two cores: a second verify thread gains no core, and its hand-offs "
        "cost CPU.",
        "- `abci_app/records.py`, `transition.py`, `ledger.py`: records are encoded with a %d template where "
        "they hold only ints (the same canonical JSON bytes: no new chain version), the ante step and the "
        "message run on one overlay, and the nonce and fee are one write.",
        "- `abci_app/block_answer.py` (since 2026-12-02): FinalizeBlock's answer is written straight to "
        "protobuf's wire format, byte for byte what upb serializes for the same message "
        "(tests/unit/test_block_answer.py holds the two to the same bytes for arbitrary events, codes and logs), "
        "and the socket server sends those bytes as they are (`BaseApplication.serialized`). Before, each tx's "
        "events were built as upb messages (nine `add` calls a transfer, about half of FinalizeBlock's time for "
        "a transfer CheckTx had applied) and the whole answer was serialized again at the end. Against the "
        "commit before it (`python -m bench.baseline e081c88`, 4 alternated rounds on 2026-12-02, serialization "
        "counted on both sides), in process: FinalizeBlock of transfers CheckTx had applied 23.4 (14.0–30.8) → "
        "14.7 (10.4–16.9) µs each, of a block made elsewhere 90.4 (55.5–100.7) → 71.0 (49.5–87.4), without "
        "CheckTx first 134.4 → 100.3; on the saturated node no change beyond the spread: committed transfers/s "
        "3427.3 (3335.0–3741.3) before, 3364.2 (3027.2–3864.6) after, ratio to kvstore 0.836 (0.649–0.885) "
        "against 0.804 (0.577–0.972). In the saturation profile taken before it, FinalizeBlock was 13.8 % of "
        "the app's samples (building its events 6.9 %) and CheckTx 71.4 %: a FinalizeBlock a third cheaper moves "
        "the committed rate by a few per cent at most, less than this benchmark's spread.",
        "- `ledger.charged_transfer`, `records.plus`, `events.Event` (since 2026-12-02): a transfer's handler "
        "makes the ante step's write too, so its sender's account is written once instead of twice, with the "
        "same writes (in the same order), events, reads and errors as the charge and the transfer one after "
        "the other (tests/unit/test_charged_transfer.py holds the two to the same outcome over generated "
        "balances, nonces, fees, amounts and recipients, a failed and charged transfer included); a credit or "
        "a fee burned adds to a copy of the record's fields without building keyword arguments; events are "
        "NamedTuples. A tenth of CheckTx's Python work is within the spread of its CPU timings from one "
        "minute to the next here, so these were measured with `python -m bench.instructions REV` (callgrind's "
        "instruction counts, the same to a few instructions run after run, with the signature checked "
        "beforehand: the verifier's Go runtime does not run under valgrind). Against 94eb3a2, per transfer: "
        "CheckTx 209.1k → 168.0k instructions (−19.7 %), FinalizeBlock of the block CheckTx applied (Commit included) 60.7k → 61.6k, "
        "its RECHECK 29.3k → 29.4k; all three 299.1k → 259.0k (−13.4 %); decoding and checking a tx (`tx.parse`) "
        "57.8k, unchanged code (58.0k–59.3k from one set-up of the runs to another). On the saturated node (`python -m bench.baseline 94eb3a2`, 3 alternated rounds on "
        "2026-12-02) no gain could be seen: committed transfers/s 4038.8 (3419.2–4200.2) before, 3623.1 "
        "(3334.8–4085.3) after, ratio to kvstore 0.758 (0.712–0.803) against 0.694 (0.693–0.767), the rounds "
        "overlapping. An earlier run of it the same hour, of the first change alone, while kvstore ran at "
        "less than half its usual rate, gave 0.692 before and 0.398 (0.331–1.176) after: the machine was "
        "too unsteady then for it to count.",
        "- `aitbc/collector.py`: the app's and the coordinator's processes run Python's garbage collector "
        "less often (thresholds 20 000 / 20 / 100) and freeze what start-up made. Measured with gc.callbacks in "
        "`make bench-quick` runs: the app under saturation spent 8 % of its CPU in collections with CPython's "
        "defaults and 2.5 % with these; the coordinator during intake 4 % and under 1 %. The saturation ratio "
        "moved less than its run-to-run spread (0.694 → 0.732, medians of 3).",
        "- `abci_app/events.py` `INDEXED` (since 2026-12-04): a transfer's `sender` is no longer indexed, "
        "since it is always the tx's signer, which `message.sender` already indexes; a transfer's events carry "
        "three indexed attributes instead of four (the stand-in apps below showed that the indexed attributes "
        "are most of what the events cost CometBFT). Measured with `python -m bench.chain_ceiling --apps "
        "kvstore,ceiling-events,aitbc --rounds 4`, once before and once after, the same hour on 2026-12-04: our "
        "app 0.747 / 0.812 / 0.784 / 0.805 of kvstore before (median 0.794, 7 667 committed transfers/s) "
        "and 0.86 / 0.786 / 0.851 / 0.929 after (median 0.855, 7 984/s); cometbft's CPU per committed tx beside "
        "it 154.6 µs before and 144.7 after (medians); the events stand-in 0.881 → 1.052. Not yet the 0.9.",
        "- `native/ed25519` expanded keys (since 2026-12-04): the library keeps the expanded form of the "
        "public keys whose signatures checked out (up to 4 096 keys of about 1.5 KiB; a random one leaves "
        "when it is full). curve25519-voi otherwise expands a key anew for every signature it checks "
        "(decompressing the point and building its table for the multiscalar multiply); a busy sender's "
        "next signatures skip that. Whether a signature is accepted does not depend on what the cache holds: "
        "an expanded key is what the library makes of the same 32 bytes, its small-order flag included "
        "(tests/unit/test_signature_rule.py: a key seen before gets the same answers, tampered, crafted "
        "ZIP-215, small-order and off-curve keys included, and more signers than the cache keeps are all "
        "checked). CPU µs a signature on 2026-12-04 (best of 3), 32 senders in batches of 1 / 64 / 256: "
        "32.1 / 17.45 / 14.58 before, 27.86 / 12.29 / 10.53 after; senders that never repeat: 31.7 / 17.3 / "
        "14.2 before, 33.9 / 18.1 / 15.8 after (a lookup that misses, and an expansion past 93 signatures, "
        "where the library would only decompress). In process, CheckTx of a transfer in batches of 64: "
        "46.1 and 46.2 → 39.9 and 39.5 µs (two alternated runs of bench/finalize_block.py, whose transfers all "
        "come from one sender: with senders that never repeat, about 6 µs more a transfer, from the figures "
        "above, which would still leave CheckTx + RECHECK + FinalizeBlock under 60 µs). On the "
        "saturated node (`python -m bench.chain_ceiling --apps kvstore,aitbc --rounds 1`, three alternated "
        "pairs, `AITBC_ED25519_LIB` choosing the library): the app's CPU per committed tx 69.3 / 73.1 / 73.1 µs "
        "before and 68.4 / 70.5 / 67.1 after; the ratio to kvstore 0.896 / 0.892 / 0.856 before and 0.912 / "
        "0.851 / 0.881 after, within its spread. Left: a key enters once its signature checks out, before "
        "CheckTx looks at its account, so validly signed txs from fresh keys that hold nothing (refused, "
        "paying nothing) can push busy senders' keys out; their signatures then cost what they did before "
        "this change, about 1 µs more.",
        "- `events.message`, `events.transfer`, `block_answer.event` (since 2026-12-04): a transfer's two "
        "events are made without `event()`'s keyword arguments, and an attribute whose two lengths fit a "
        "byte each is rendered in one join. Counted with `python -m bench.instructions 5244697`, per "
        "transfer: CheckTx 168.1k → 158.5k instructions, FinalizeBlock of the block CheckTx applied (Commit "
        "included) 61.9k → 55.6k, with its RECHECK 259.3k → 243.4k (−6.1 %). The same events and bytes "
        "(tests/unit/test_charged_transfer.py, tests/unit/test_block_answer.py).",
        "- `abci_app/events.py` (since 2026-12-04, later): a transfer's event no longer repeats its sender "
        "(`message.sender` of the same tx is it), and `message.action` is given but not indexed (a tx's kind is "
        "in its body; an address's txs are found by `message.sender`): a transfer gives five attributes, "
        "two of them indexed, where it gave six, three indexed. Against the commit before it (`python -m "
        "bench.baseline 31617b3`, 3 alternated rounds on 2026-12-04, yardstick 40.9 µs): committed transfers/s "
        "7083.7 / 7977.0 / 8269.2 before and 8704.2 / 8307.8 / 8170.4 after, ratio to kvstore 0.809 "
        "(0.756–1.044) against 0.928 (0.843–1.031); cometbft's CPU per committed tx beside our app 162 / 147 / "
        "144 µs before and 131 / 134 / 138 after, the app's 79 / 70 / 69 against 69 / 72 / 72. What it "
        "costs a user: `message.action` cannot be searched for (README, \"The chain\").",
        "",
    ]
    base = env.read_result("baseline")
    if base:
        out += _before_after(base)
    if sat and fb:
        us = fb["us_per_tx"]
        per_tx = sum(us[k]["median"] for k in _PER_TRANSFER)
        met, ceiling = _saturation_judged(sat, env.read_result("chain_ceiling"))
        target = "meets the 0.9 target" if met else "misses the 0.9 target"
        verdict = (f" in these runs; with {ceiling} (below), it {target}"
                   if ceiling else f", which {target}")
        counters = sat["results"]["aitbc"].get("app_counters") or {}
        out += [f"In that regime the ratio is {sat['ratio']}{verdict}. In process (next "
                f"section), CheckTx + one RECHECK + FinalizeBlock of a transfer take ≈ {round(per_tx, 1)} µs of "
                f"one core, most of it CheckTx: its signature check in a batch (about 12 µs a signature in batches "
                f"of 64 from senders whose keys the library keeps, 2026-12-04, yardstick 40 µs; the app saw {counters.get('signatures_per_batch', '—')} signatures per batch on average in the saturation "
                f"run); the rest is Python: the protobuf decoding and checks, and the transfer applied to the check "
                f"state (three records encoded, two events). "
                + (f"FinalizeBlock took {counters['finalized_as_checked']} of the {counters['txs_finalized']} block "
                   f"txs of that run as CheckTx had applied them (abci_app/check_state.py) and ran the other "
                   f"{counters['txs_finalized'] - counters['finalized_as_checked']}; "
                   f"RECHECK confirmed {counters['rechecks_confirmed']} txs without running them and ran "
                   f"{counters['rechecks_rerun']}. "
                   if counters.get("txs_finalized") else "")
                + f"What remains per tx beside the app: "
                f"CometBFT's own CPU ({sat['results']['kvstore']['cpu_util']['cometbft']} cores to take "
                f"{sat['results']['kvstore']['committed_tx_per_s']} kvstore tx/s).", ""]
    if sat:
        out += _cpu_per_tx(sat)
    return out


def _cpu_per_tx(sat: dict[str, Any]) -> list[str]:
    """Each saturated run's CPU per committed tx, app and cometbft: on 2 shared cores the ratio
    follows it, which says what the app's own cost per tx would have to be for the target."""
    rows, implied, measured, budgets, spends = [], [], [], [], []
    for number, one in enumerate(sat.get("rounds") or [], 1):
        per_tx = {app: env.cpu_us_per_tx(one["results"][app]) for app in ("kvstore", "aitbc")}
        if None in per_tx.values():
            continue
        kvstore, aitbc = per_tx["kvstore"], per_tx["aitbc"]
        kv, ours = kvstore["app"] + kvstore["cometbft"], aitbc["app"] + aitbc["cometbft"]
        implied.append(round(kv / ours, 3))
        measured.append(one["ratio"])
        budgets.append(env.app_cpu_budget(kvstore, aitbc, 0.9))
        spends.append(aitbc["app"])
        rows.append(f"| run {number} | {kvstore['app']:.0f} + {kvstore['cometbft']:.0f} = {kv:.0f} | "
                    f"{aitbc['app']:.0f} + {aitbc['cometbft']:.0f} = {ours:.0f} | {implied[-1]} | "
                    f"{one['ratio']} |")
    if not rows:
        return []
    gap = max(abs(i - m) for i, m in zip(implied, measured))
    spent = statistics.median(spends)
    budget = statistics.median(budgets)
    return ["CPU per committed tx in each saturated run, app + cometbft (µs: each process's CPU use while the "
            "load ran, in cores, over the committed tx/s):", "",
            "| | kvstore | ours | kvstore ÷ ours | measured ratio |", "|---|---|---|---|---|", *rows, "",
            "The node, the app and the load generator share the two cores, so the committed rate goes with the "
            f"CPU each tx costs: in each run the ratio of the CPU per tx (kvstore's over ours) is within {gap:.3f} "
            "of the measured ratio. With CometBFT's own cost per tx as it is beside our app, 0.9 needs our app at "
            f"about {budget:.0f} µs of CPU per committed tx (median over the runs), {budget / spent:.0%} of the "
            f"{spent:.0f} µs it spends now.", ""]


def _before_after(base: dict[str, Any]) -> list[str]:
    """bench/baseline.py: the app before issue 15 and now, alternated on the same machine."""
    out = ["### Before and after (issue 15)", "",
           f"`python -m bench.baseline {base['rev']}`: the app of commit {base['rev']} (before issue 15) and this "
           f"tree's, alternated {base['rounds']} times on this machine so that both meet the same load; this tree's "
           "benchmark code on both.", ""]
    chain = base.get("chain_tx_per_s")
    if chain:
        rows = [f"| {label} | {_fmt(chain[label])} |" for label in ("kvstore", "before", "after")]
        ratio = base["saturated_ratio"]
        out += [f"Saturated chain (mempool {base['mempool_size']:,}, {base['chain_seconds']:.0f} s runs, kvstore, "
                "before and after back to back in every round):", "",
                "| app | committed tx/s |", "|---|---|", *rows, "",
                f"Ratio to the kvstore run of the same round: before **{ratio['before']['median']}**, after "
                f"**{ratio['after']['median']}** (per round: before {ratio['before']['min']}–{ratio['before']['max']}, "
                f"after {ratio['after']['min']}–{ratio['after']['max']}). Load average (1 min) before each run: "
                + ", ".join(f"{r['load_before'][0]}" for runs in base["chain"].values() for r in runs) + ".", ""]
    inproc = base["inprocess_us_per_tx"]
    keys = [k for k in inproc["after"] if k in inproc["before"]]
    out += [f"In process (`bench/finalize_block.py`, {base['txs_per_block']} txs per block, CPU µs per tx):", "",
            "| step | before | after |", "|---|---|---|",
            *[f"| {_BASELINE_NAMES.get(k, k)} | {_fmt(inproc['before'][k])} | {_fmt(inproc['after'][k])} |"
              for k in keys], ""]
    return out


_FINALIZE_NAMES = {
    "transfer_checktx_us": "transfer, CheckTx (decode + verify + apply to check state), 64 per batch as the socket brings them",
    "transfer_checktx_single_us": "transfer, CheckTx one at a time (a lone tx; its signature checked alone)",
    "transfer_warm_us": "transfer, FinalizeBlock after CheckTx (the block is what this node checked)",
    "transfer_recheck_us": "transfer, RECHECK after such a block",
    "transfer_recheck_rerun_us": "transfer, RECHECK after a block made elsewhere (runs the tx)",
    "transfer_run_us": "transfer, FinalizeBlock of a block made elsewhere (signature verified in CheckTx)",
    "transfer_cold_us": "transfer, FinalizeBlock without CheckTx first (verifies the signature)",
    "transfer_warm_reordered_us": "transfer, FinalizeBlock after CheckTx, in another order than CheckTx saw "
                                  "(four senders to one recipient: taken by the values read, not run)",
    "submit_job_warm_us": "submit_job, FinalizeBlock", "assign_job_warm_us": "assign_job, FinalizeBlock",
    "record_receipt_warm_us": "record_receipt, FinalizeBlock (miner proof checked)",
    "job_tx_warm_us": "job lifecycle, mean of its three txs, FinalizeBlock"}


# bench/baseline.py ran before CheckTx was measured in batches: one tx at a time on both sides.
_BASELINE_NAMES = {**_FINALIZE_NAMES,
                   "transfer_checktx_us": "transfer, CheckTx one at a time (decode + verify + apply to check state)"}


def _finalize(fb: dict[str, Any]) -> list[str]:
    us = fb["us_per_tx"]
    rows = [f"| {_FINALIZE_NAMES.get(k, k)} | {_fmt(s, ' µs')} |" for k, s in us.items()]
    per_tx = round(sum(us[k]["median"] for k in _PER_TRANSFER), 1)
    ver = fb["verification"]
    clock = fb["settings"].get("clock", "wall time")
    out = ["## App cost per tx (in process)", "",
           f"`bench/finalize_block.py`: {fb['settings']['txs_per_block']} txs per block, "
           f"{fb['settings']['rounds']} rounds, {fb['settings']['store']}; no socket, no node; {clock}"
           + (f", {fb['settings']['fees']}" if "fees" in fb["settings"] else "") + ". Transfers meet the app as on "
           "a node that proposes its own blocks: two blocks' worth pass CheckTx, a block takes the first half, the "
           "rest is rechecked; then the paths a block made elsewhere takes. FinalizeBlock is timed as the socket "
           "server asks for it, until its answer is serialized (since 2026-12-02; before, the serialization was "
           "left out). Targets (issue 15): FinalizeBlock "
           "< 20 µs per transfer, CheckTx + RECHECK + FinalizeBlock ≤ 60 µs of one core "
           f"(now {per_tx} µs).", "", "| step | µs per tx |", "|---|---|", *rows, "",
           f"Signature checks along one node's whole ABCI path (CheckTx, PrepareProposal, ProcessProposal, "
           f"FinalizeBlock, Commit, RECHECK of the txs left in the mempool), counted by wrapping `crypto.verify_many`: "
           f"{ver['txs']} txs carrying {ver['signatures']} signatures (tx signatures plus the miner's signature "
           f"inside each record_receipt) → {ver['verify_calls']} checked, "
           f"**{ver['verifications_per_signature']} per signature**.", ""]
    return out


def _state(ss: dict[str, Any]) -> list[str]:
    small, big = ss["runs"][0], ss["runs"][-1]
    rows = [f"| {r['jobs']:,} | {r['miners']:,} | {r['records_written']:,} | {_fmt(r['finalize_ms'], ' ms')} | "
            f"{_fmt(r['checktx_ms'], ' ms')} | {_rss(r.get('app_rss_mib'))} |" for r in (ss["minimal"], *ss["runs"])]
    block = ", ".join(f"{n} {k}" for k, n in ss["settings"]["block"].items())
    return ["## State size", "",
            f"`bench/state_size.py`: the same kind of 500-tx block ({block}; the assigns and receipts act on jobs "
            "already in state) on a small and a big state. The big state is written straight into LevelDB "
            "(records encoded as the state machine encodes them, then compacted), not run through consensus; "
            f"{ss['settings']['rounds']} blocks per state, each CheckTx'd first as on a node, FinalizeBlock timed; one "
            "block before them warms the caches after loading and is not counted. The states are built first and "
            "their blocks run in turns (round r of every state, then round r + 1), so that a machine whose speed "
            "drifts from minute to minute slows all of them alike.",
            "", "| jobs | miners | records written | FinalizeBlock (500 txs) | CheckTx (500 txs) | app RSS after "
            "3 blocks (store opened) |",
            "|---:|---:|---:|---|---|---|", *rows, "",
            f"Ratio {big['jobs']:,} / {small['jobs']:,} jobs (both with {small['miners']:,} miners): "
            f"**{ss['ratio']}**; against the smallest state ({small['jobs']:,} jobs, {ss['minimal']['miners']:,} "
            f"miners): {ss['ratio_vs_minimal']}. Target < {ss['target_ratio']}. "
            "Nothing in FinalizeBlock scans the state: expiry reads only the deadline index up to the block time, "
            "and the app hash covers only what the block changed; what remains is LevelDB's read cost for a "
            "bigger table (bloom filters and a 64 MiB block cache keep it small). Earlier runs compared 100 000 "
            "jobs with 1 000 and found 1.6-2.1: the 1 000-job states held fewer open jobs than their blocks act "
            "on (200 a block for 8 blocks), so from the third block on their blocks had no assigns or receipts "
            "left, cheaper blocks rather than a faster state. Two identical 1 000-job states gave 1.09; the "
            "same blocks on 2 000 and 100 000 jobs 1.02 and 1.17 in the two runs of 2026-11-30. "
            "`bench/state_size.py` now refuses a state too small for its blocks.", "",
            "Memory: the app's resident set (a process of its own opening the store, as a node restarting on it, "
            "then 3 blocks) is larger with a bigger state because start-up reads every record once, to count "
            "the jobs by status for the metrics: that fills LevelDB's block cache (at most 64 MiB) and leaves "
            "Python's heap at its high-water mark. Nothing keeps a record per job: the count keeps only the "
            "counts (and does not decode through the records cache); the caches are bounded (decoded records: 8 192; "
            "verified txs: 64 MiB counted with their decoded size, ≈ 47 000 transfers; addresses: 10 000; "
            "checked miner proofs: 20 000; LevelDB's block cache: 64 MiB), and the check state's log holds the "
            "txs of the mempool, bounded by its size.", ""]


def _rss(rss: dict[str, Any] | None) -> str:
    return "—" if not rss else f"{rss['after_blocks']} MiB ({rss['opened']} MiB)"


def _cpu(c: dict[str, Any]) -> str:
    cpu = c.get("cpu_ms_per_accepted") or {}
    return " / ".join(str(cpu.get(k, "—")) for k in ("coordinator", "app", "cometbft", "load generator")) if cpu else "—"


def inclusive_frames(path: Path, pattern: str, count: int = 14) -> list[tuple[float, str]]:
    """Share of samples whose stack passes through each function whose file matches `pattern`
    (inclusive time), from a py-spy raw file."""
    if not path.exists():
        return []
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        total += int(n)
        seen = set()
        for frame in stack.split(";"):
            frame = re.sub(r":\d+\)$", ")", frame.replace("\x00", "<unknown>"))
            frame = re.sub(r" \((?:/[^)]*/)?(?:site-packages/|lib/python3\.\d+/)?([^)]*)\)", r" (\1)", frame)
            if frame not in seen and re.search(pattern, frame):
                seen.add(frame)
                inclusive[frame] += int(n)
    return [(round(100 * n / total, 1), f) for f, n in inclusive.most_common(count)] if total else []


def _stack(st: dict[str, Any], images: dict[str, str]) -> list[str]:
    jo, mo, it = st["job_overhead"], st["miner_overhead"], st["intake"]
    c, n = it["coordinator"], it["node_broadcast_tx_sync"]
    base = env.read_result("stack_baseline") or {}
    bj, bi = base.get("job_overhead"), base.get("intake")
    short = st.get("job_overhead_short_blocks")
    target = jo.get("target", {"p50_s": 0.6, "p95_s": 1.0})
    out = ["## Job overhead (whole stack)", "",
           f"`bench/full_stack.py`: {jo['jobs']} jobs one after another through the coordinator client that the CLI "
           f"uses (sign, `POST /v1/jobs`, then `GET /v1/jobs/{{id}}` every {int(jo['client_poll_s'] * 1000)} ms until "
           "final), the real coordinator (scheduler tick 0.2 s), the chain (cometbft + our app, block "
           f"interval {jo['block_interval']}), the real miner daemon and a real Ollama serving the generated tiny "
           "model. Client-seen latency = submit until the first poll that shows the result (released once the "
           "coordinator has checked the miner's signed proof and CheckTx accepted its `record_receipt`, marked "
           "`receipt_pending`; docs/verification.md, \"When the client gets the result\"); final = until the job is "
           "final (its receipt in a block). Overhead = latency − Ollama's `total_duration` for that job.", "",
           "| | result released | receipt in a block |" + (" before (receipt in a block) |" if bj else ""),
           "|---|---|---|" + ("---|" if bj else ""),
           f"| overhead p50 / p95 (s) | **{jo['overhead_p50_s']} / {jo['overhead_p95_s']}** (target "
           f"{target['p50_s']} / {target['p95_s']}: {_ok(jo['target_met'])}) | "
           f"{jo.get('final_overhead_p50_s')} / {jo.get('final_overhead_p95_s')} |"
           + (f" {bj['overhead_p50_s']} / {bj['overhead_p95_s']} |" if bj else ""),
           f"| overhead (s) | {_fmt(jo['overhead_s'])} | {_fmt(jo.get('final_overhead_s'))} |"
           + (f" {_fmt(bj['overhead_s'])} |" if bj else ""),
           f"| client-seen latency (s) | {_fmt(jo.get('result_s'))} | {_fmt(jo['latency_s'])} |"
           + (f" {_fmt(bj['latency_s'])} |" if bj else ""),
           f"| submit → the miner started (s) | {_fmt(jo.get('queued_s'))} | |"
           + (f" {_fmt(bj.get('queued_s'))} |" if bj else ""),
           f"| Ollama total_duration (s) | {_fmt(jo['ollama_s'])} | |" + (f" {_fmt(bj['ollama_s'])} |" if bj else ""),
           f"| the submit call itself (s) | {_fmt(jo['submit_call_s'])} | |"
           + (f" {_fmt(bj['submit_call_s'])} |" if bj else ""),
           ""]
    if short:
        out += [f"A shorter block time is a config choice, measured here on its own chain "
                f"({short['jobs']} jobs, block interval {short['block_interval']}; same coordinator settings): "
                f"result released p50 / p95 **{short['overhead_p50_s']} / {short['overhead_p95_s']} s**, receipt in "
                f"a block **{short['final_overhead_p50_s']} / {short['final_overhead_p95_s']} s**. It shortens the wait "
                "for the paid receipt, not for the result, and costs a block (and its consensus rounds, "
                "RECHECK and state commit) four times as often.", ""]
    if "latency_cdf" in images:
        out += [f"![latency CDFs]({images['latency_cdf']})", ""]
    out += ["Where the time went before: a job waited for the scheduler's next tick (0.2 s here, 0.25 s by "
            "default) to be assigned, then for the block that held its `record_receipt`, found by asking the node "
            "for every tx in flight once per tick (`tx`). What changed: the submission wakes the scheduler, which "
            "assigns at once (submit → miner started above); the miner already started on the assignment it finds "
            "in the mempool, so neither the escrow nor the assignment waits for a block (docs/verification.md says "
            "why that is safe); and the result is released when CheckTx accepts the receipt, a block before the "
            "receipt is paid. What remains: HTTP round trips (client ↔ coordinator, coordinator → miner, miner → "
            "coordinator, three `broadcast_tx_sync`), the miner's look into the mempool for its assignment, and "
            "the client's 50 ms poll. The block is still there for the final state: the tracker reads each new "
            "block once (`block` + the app's `/tx_results`), on its 0.2 s tick and, since 2026-12-02, as soon as "
            "the node's websocket says a block was committed (`coordinator/block_watch.py`). The `aitbc` CLI and "
            "the gateway wait with long polls (`GET /v1/jobs/{id}?wait=` with the last answer's ETag: the "
            "coordinator answers when the job changes; until 2026-12-02 they polled every 0.25 s) and the CLI "
            "prints a released result at once on stderr, marked pending.", "",
            "## Miner overhead", "",
            f"The same prompt and options ({mo['runs']} alternating runs after 2 warm-ups): sent to Ollama directly "
            "vs pushed to the miner daemon as an assignment signed by the coordinator, until the miner's signed "
            "completion reaches a stand-in coordinator (the miner checks the assignment's signature, runs Ollama "
            "and streams its text as chunks, looks up the model digest (cached 30 s; since 2026-12-02 while "
            "Ollama generates), signs the proof and posts it).", "",
            "| | ms |", "|---|---|",
            f"| Ollama directly (wall) | {_fmt(mo['direct_ms'])} |", f"| through the miner | {_fmt(mo['miner_ms'])} |",
            f"| Ollama total_duration | {_fmt(mo['ollama_total_duration_ms'])} |",
            f"| overhead (difference of medians) | **{mo['overhead_ms']} ms = {mo['overhead_pct']} %**; allowed "
            f"{mo['allowed_ms']} ms ({_ok(mo['target_met'])}) |", "",
            "The tiny model answers in a few ms, so the percentage is large while the absolute overhead is small; "
            "with a real model (seconds per answer) the same milliseconds are well under 2 %. Since 2026-12-02 the "
            "miner posts its completion without waiting for the answer to its last chunk (the coordinator keeps "
            "whichever brings the end of the text first, coordinator/job_streams.py `settle`). In the miner's log "
            "(ms timestamps, 32 jobs a run), from Ollama's last token to the signed completion: p50 4-5 ms, p90 "
            "9-19 ms before (4 runs), p50 1 ms, p90 1 ms after (2 runs); from there until the stand-in's answer "
            "p50 4-5 → 7 ms (the last chunk and the completion now reach it together). This benchmark's difference "
            "of medians did not resolve a change in alternated runs (before 19.64, 16.02, 17.35, 17.95, 20.18, "
            "18.54, 19.13 ms; after 21.1, 19.72 ms; a first version that sent no last chunk: 15.55, 17.88, 18.13, "
            "16.57, 15.14 ms)."
            + (f" Taken in the same run as the intake below, on a machine shared with other work (load average "
               f"{_load(it['load_average']['before'])} on 2 cores): Ollama's own wall time is part of both sides."
               if it.get("load_average") else ""), "",
            "## Coordinator intake", "",
            f"Job submissions accepted per second by one coordinator (`POST /v1/jobs`; it checks the signed tx, "
            f"stores the job and runs CheckTx through `broadcast_tx_sync`) from {it['concurrency']} concurrent clients "
            f"(one keep-alive connection each, one request at a time, each its own funded key), next to the node's own "
            f"`broadcast_tx_sync` rate for the same kind of signed submit_job txs at the same concurrency, "
            f"{_windows(it)}. No miner is online during this test, so the jobs queue and nothing else competes for the "
            "CPU. CPU ms per accepted submission = user + system time each process spent during that run / "
            "submissions accepted: unlike the rates, it hardly depends on what else the machine was doing.", "",
            "| | accepted/s | latency per request | rejected | CPU ms per accepted: coordinator / app / cometbft / "
            "load generator |",
            "|---|---|---|---|---|",
            f"| coordinator | **{c['accepted_per_s']}** | {_fmt(c['latency_ms'], ' ms')} | {c['rejected']} | {_cpu(c)} |",
            f"| node broadcast_tx_sync | **{n['accepted_per_s']}** | {_fmt(n['latency_ms'], ' ms')} | {n['rejected']} | "
            f"{_cpu(n)} |"]
    if bi:
        out += [f"| before: coordinator | {bi['coordinator']['accepted_per_s']} | "
                f"{_fmt(bi['coordinator']['latency_ms'], ' ms')} | {bi['coordinator']['rejected']} | "
                f"{_cpu(bi['coordinator'])} |",
                f"| before: node broadcast_tx_sync | {bi['node_broadcast_tx_sync']['accepted_per_s']} | "
                f"{_fmt(bi['node_broadcast_tx_sync']['latency_ms'], ' ms')} | "
                f"{bi['node_broadcast_tx_sync']['rejected']} | {_cpu(bi['node_broadcast_tx_sync'])} |"]
    load = it.get("load_average")
    rounds = (f" (median of the rounds' ratios {', '.join(str(r) for r in it['round_ratios'])})"
              if len(it.get("round_ratios") or []) > 1 else "")
    out += ["", f"Ratio coordinator / node: **{it['ratio']}**{rounds}" + (f" (before: {bi['ratio']})" if bi else "")
            + (f"; load average (1 / 5 / 15 min) {_load(load['before'])} before, {_load(load['after'])} after the "
               "run, on 2 cores" if load else "") + ".", ""]
    out += _intake_waits(c, n)
    out += _intake_notes(it, bi)
    out += ["The coordinator's profile under this load is in `bench/results/profiles/coordinator_intake.pyspy.txt`; "
            "its top functions by self time:", "",
            _frames_table(env.RESULTS / "profiles" / "coordinator_intake.pyspy.txt"), "",
            "and the coordinator's own code by inclusive time (share of samples whose stack passes through it):", "",
            _inclusive_table(env.RESULTS / "profiles" / "coordinator_intake.pyspy.txt"), ""]
    return out


def _windows(it: dict[str, Any]) -> str:
    rounds = it.get("rounds", 1)
    if rounds == 1:
        return f"{it['seconds']} s each, one after the other"
    return (f"in {rounds} rounds of {it['seconds']} s for each, side by side (the coordinator first in odd rounds, "
            "the node first in even ones), so that both meet the machine as it is that minute (its speed drifts: "
            "rates of one run taken 20 s apart varied by up to 1.4x) and the same state (it grows by every "
            "accepted job; no job expires during the rounds, and the coordinator fails none for want of a miner: "
            "queue_timeout_s 3600 s since 2026-12-04, the harness's 60 s before, so from the middle rounds on it "
            "also failed 32 overdue jobs a tick). Rates and CPU are over all rounds, the ratio is the "
            "median of the rounds' ratios")


def _inclusive_table(path: Path) -> str:
    frames = inclusive_frames(path, r"\((coordinator|aitbc)/(?!__main__\.py|cli\.py)")
    if not frames:
        return "_(no profile recorded)_\n"
    return "| inclusive | function |\n|---:|---|\n" + "\n".join(f"| {pct} % | `{f}` |" for pct, f in frames) + "\n"


def _intake_waits(c: dict[str, Any], n: dict[str, Any]) -> list[str]:
    """Where a submission's time went, from the coordinator's own wait histograms (full_stack.wait_totals)."""
    waits, mean = c.get("waits_mean_ms") or {}, c.get("latency_mean_ms")
    if "node_broadcast" not in waits or "store_commit" not in waits or not mean:
        return []
    rest = round(mean - waits["node_broadcast"] - waits["store_commit"], 2)
    node = n.get("latency_ms") or {}
    return [f"Where a submission's time went (means over the coordinator's windows, from its own histograms "
            f"`aitbc_store_commit_wait_seconds` and `aitbc_node_broadcast_seconds`): of {mean} ms the clients "
            f"waited, {waits['store_commit']} ms until its job and tx were committed with the others of that "
            f"moment, {waits['node_broadcast']} ms from handing the tx to the node until its CheckTx answer was "
            f"back, and {rest} ms for the rest: the HTTP request and answer, the checks, and the turns of the "
            f"coordinator's event loop between the steps. The node's answer is the largest part; the node answers "
            f"its own clients at the same concurrency in {n.get('latency_mean_ms')} ms on average "
            f"({node.get('median')} median, up to {node.get('max')}). The commit comes before the broadcast so that "
            "a crash between the two leaves the tx stored for the next start to send (coordinator/README.md, How "
            "jobs move); writing and broadcasting side by side would take the commit's wait off a submission's "
            "latency, at the price of a crash leaving a job on chain whose prompt the coordinator never kept "
            "(its escrow locked until the job expires).", ""]


# What the intake profiles showed and what was changed for it (issue 15); the figures of this
# run and of the baseline are filled in from the results.
def _intake_notes(it: dict[str, Any], bi: dict[str, Any] | None) -> list[str]:
    cpu = it["coordinator"].get("cpu_ms_per_accepted") or {}
    node_cpu = it["node_broadcast_tx_sync"].get("cpu_ms_per_accepted") or {}
    before = (bi or {}).get("coordinator", {}).get("cpu_ms_per_accepted") or {}
    before_idle = (bi or {}).get("node_broadcast_tx_sync", {}).get("cpu_ms_per_accepted") or {}
    return [
        "What the profiles showed, and what changed (the coordinator before: commit e1162cd; each step measured "
        "with this benchmark's CPU ms per accepted submission, the machine shared with other work, so rates varied "
        "by up to 2x from run to run while the CPU figures held):",
        "",
        "- **One HTTP request per tx, through httpx** (a third of the coordinator's samples in httpx/httpcore, its "
        "connection pool scanning every connection per request). Now `broadcast_tx_sync` goes over plain keep-alive "
        "connections (`aitbc/rpc.py` `_PlainHTTP`), one lane per signer (`coordinator/broadcasts.py`: a signer's "
        "waiting txs go as one JSON-RPC batch, in order; different signers side by side). A first version batched "
        "across signers (8 lanes, up to 10 calls): fewer requests, but CometBFT runs a batch's calls one after "
        "another, each waiting for its CheckTx answer, so a submission waited ~40 ms for its CheckTx where the "
        "node alone answers in ~8 ms, and cometbft burned more CPU per tx (`libs/timer.ThrottleTimer.fireRoutine` "
        "was a third of its CPU in a pprof of such a run: the ABCI socket client's flush timer is built with "
        "`flushThrottleMS = 20` as a Go time.Duration, 20 ns rather than the 20 ms its name says, so it fires "
        "almost continuously while requests wait). Side by side: the intake ratio went from ~0.3 to ~0.43 in A/B "
        "runs.",
        "- **Following every tx in flight with one `tx` call per tx per tick**: with thousands of jobs queued, each "
        "tick asked the node thousands of times, and the scheduler read every queued job (and its txs, one query "
        "each) twice per tick even with no miner online. Now the tracker reads each new block once (`block` + "
        "`block_results` in one batch request; since, the app's `/tx_results` instead: below) and writes a block's committed submit txs in one transaction; the "
        "scheduler first checks whether any miner is online at all, and a miner that refuses for a reason that "
        "holds for every job (at capacity: a stopped miner looks online until its heartbeat is old) leaves the "
        "pass instead of costing a refused `assign_job` per queued job."
        + (f" The coordinator's CPU while idle with thousands of jobs queued (during the node's run) went from "
           f"{before_idle.get('coordinator')} ms per node tx to {node_cpu.get('coordinator')}." if before_idle else ""),
        "- **SQLite**: the job and its submit tx are written in one transaction, and the tx's `sent` mark rides on "
        "the next write (`Store.mark_sent`): one commit per submission instead of three. The SQLite store is still "
        "written before the broadcast (a crash leaves the tx `stored`, and the tracker sends it; "
        "coordinator/README.md, How jobs move). Since, submissions that reach that write in the same turn of the "
        "event loop share one commit (`coordinator/group_commit.py`, each in its own savepoint, so a duplicate is "
        "refused alone): 4.3-4.5 writes per commit under this load; 1.425 vs 1.52 coordinator CPU ms per job, mean "
        "of 3 A/B runs each, within this machine's spread.",
        "- **A thread hand-off per request**: FastAPI ran the plain `def` dependency `get_coordinator` in its "
        "thread pool; now async.",
        "- **uvicorn's pure-Python HTTP parser (h11) and asyncio's event loop**: httptools and uvloop are "
        "dependencies now, which uvicorn picks up on its own (1.7 vs 2.0-2.3 CPU ms per job in A/B runs minutes "
        "apart).",
        "- Smaller: callers finding the offered-model cache stale share one read (they all read at once before), "
        "and a chain call without a failure skips building a retry loop.",
        "- **Every tx's events, rendered by the node and parsed by the coordinator**: the tracker's `block_results` "
        "is about 1 KB of JSON per tx (the events), and cometbft spent 0.123 CPU ms per tx rendering it (the "
        "`block` call: 0.007), more than a tenth of what it spends on the tx itself; parsing it stalled the "
        "coordinator's event loop for milliseconds per block. Now the app answers `/tx_results/<height>` (the "
        "block's tx count and its failures, by index; kept in memory for the last 64 heights it committed, not "
        "state: `abci_app/recent_results.py`) and the tracker reads the block with it in one batch request, "
        "falling back to `block_results` for a height the app no longer keeps (after its restart). cometbft's "
        "CPU per accepted submission went from 1.01-1.10 ms to 0.84-0.86 in runs minutes apart "
        "(tests/integration/test_block_outcomes.py checks both paths say the same).",
        "- **uvicorn's access log**: a JSON line per request, 3.8 % of the coordinator's samples, on top of the "
        "line the coordinator writes per job. It is off by default now (`aitbc-coordinator start --access-log` "
        "turns it on): the job events are logged and `/metrics` counts requests by route and status.",
        "- **Small per-request costs, and where a submission's time goes** (commits f3dd176, 4c3cb04, 7ac3e37): the "
        "log file counts what it wrote instead of asking the file per record (`aitbc/logs.py` `RotatingLogFile`; "
        "the stdlib stats the path twice and seeks the file for each), a known API key is found by its hash "
        "without reading the `api_keys` table, POST /v1/jobs serializes its answer itself (FastAPI validated the "
        "model again on the way out), and the node client's answer timeout makes no task. In alternated runs "
        "(2 x 10 s each, old then new) the coordinator's CPU per job was 1.536 / 1.648, 1.657 / 1.486 and "
        "1.28 / 1.607 ms (the new side then also kept the tracker's height while idle, since reverted): not separable from the machine's drift, which moved the node's own rate from 983 to "
        "1285 /s between runs minutes apart. Timed inside the coordinator under this load, a submission's "
        "~28 ms were 0.2 ms of checks, 6-7.5 ms waiting for its shared commit and 18-19 ms for its broadcast, "
        "while a probe sending `check_tx` straight to the node every 20 ms in the same window saw p50 4.6 ms "
        "(p90 19.8). The coordinator's event loop, sampled with a 1 ms sleep, lagged p50 0.13 ms, p90 7-9 ms, "
        "p99 27-29 ms: most of a submission's time is spent waiting for the loop to come back to it. Two ways "
        "of taking turns out of a submission, sending a signer's first tx from the request's own task instead of "
        "a lane task and committing each submission alone instead of in a group, did not move the rate in 4 "
        "alternated pairs (ratios old / new 0.401 / 0.344, 0.426 / 0.386, 0.376 / 0.445, 0.45 / 0.377) and "
        "were left out (the second measured side by side since: next point). With 32 connections on each side "
        "instead of 16, one run gave 559 against 1214 /s (0.46).",
        "- **Measuring a few percent: two coordinators side by side** (`python -m bench.intake_ab REV`, since "
        "2026-12-01): an older commit's coordinator and this tree's on one chain, each driven by 8 connections in "
        "the same 10 s windows, so that the machine's drift reaches both alike. Its own spread, HEAD against "
        "itself over 8 windows: rate ratio 0.999 (0.964-1.045), CPU per job 0.998 (0.955-1.037). **Until the "
        "evening of 2026-12-01 every run of it compared this tree with itself**: started from the repository "
        "root, as its usage says, the \"old\" coordinator found the tree's own `aitbc/` first on its sys.path "
        "(`python -m` puts the working directory there) and, through the editable install, this tree's code "
        "for everything else. So the old/new figures it gave were its A/A spread, not the changes they were "
        "taken for: the node client's calls over the plain keep-alive path, spot checks read once per head and "
        "lighter log records against 67aa514 (rate 1.002, CPU 0.998), committing each submission alone instead "
        "of in the group commit (rate 1.133, 1.022, 0.965; never committed), the queue's index (rate 1.004, "
        "CPU 0.99) and the price-cap column (rate 0.994, CPU 0.982); and likewise, if it was taken the same "
        "way, a job's INFO line costing about a tenth of the coordinator's CPU per job (0.91 with the lines "
        "off). The tool now starts its processes outside the repository and refuses to run unless the old "
        "side imports REV's code (`bench/baseline.py`: `away_from_repository`, `check_imports_from`). "
        "Re-measured with it, 8 windows each, intake only (no miner online): against 67aa514, rate 0.986 "
        "(0.942-1.06) and CPU 0.983 (0.913-1.087); against f1d276c (the price-cap column and everything "
        "after it), rate 0.979 (0.912-1.031) and CPU 1.001 (0.955-1.092). Neither moved intake beyond the "
        "spread; the lone commit was not measured again, the log line was (2026-12-02, below).",
        "- **FastAPI's dependency solving, for every submission** (since 2026-12-01): a profile of the "
        "coordinator under this load put a third of its samples in FastAPI and Starlette outside the endpoint, "
        "a tenth in `solve_dependencies` alone (it walks the route's dependency tree, computes cache keys and "
        "inspects each callable anew per request). `POST /v1/jobs` is now a `DirectRoute` "
        "(`coordinator/http/direct_route.py`): the same endpoint, path, OpenAPI entry, middleware and problem "
        "answers, but its three arguments (the JSON body, the coordinator, the API key's principal) are read "
        "by a fixed handler through the same functions the dependencies use "
        "(tests/unit/test_coordinator_direct_route.py sends the same bad requests through it and through a "
        "plain FastAPI route of the same endpoint and compares the answers; since 2026-12-02 in FastAPI's order "
        "too: the body's JSON is parsed before the key is checked, so a body that is not JSON spends no "
        "rate-limit token). Side by side against the commit before it (`python -m "
        "bench.intake_ab 1b22419 --rounds 6`): CPU per job 0.838 (0.816-0.871) of the old, rate 1.102 "
        "(1.081-1.147), each of the 6 windows outside the tool's A/A spread; again with the route's error "
        "paths mended (5bd3058: a body the JSON parser gives up on, a client gone mid-body): CPU 0.871 "
        "(0.847-0.895), rate 1.071 (1.03-1.237). A miner's status, chunk and "
        "completion reports are DirectRoutes too (a streaming miner posts a job's text up to 20 times a "
        "second). `python -m bench.route_cpu` calls the app in process, each route beside a plain FastAPI route "
        "of the same endpoint, in alternated batches: in two runs a submission cost 0.767 and 0.708 of the "
        "plain route's CPU (300 and 425 µs less), a chunk 0.848 and 0.739 (102 and 212 µs less).",
        "- **The job's log line, made and written on the event loop** (since 2026-12-02): side by side against "
        "018cef0 with the `job submitted` line simply left out (a ceiling only, never committed), CPU per job "
        "0.922 (0.893-0.942) of the old and rate 1.056 (1.027-1.101), far more than the line's 2.5 % of the "
        "samples in the profile below: py-spy leaves out a thread waiting in a system call (its `--idle` is off), "
        "and the line was two writes, one to the console and one to the file. Now the coordinator's records are "
        "formatted and written by threads of their own, one per output (`aitbc/logs.py`); the event loop only "
        "makes the record and queues it. Side by side against 018cef0, 6 windows: with one thread for both "
        "outputs rate 1.057 (1.028-1.086) and 1.073 (1.029-1.129) in two runs, CPU per job 1.04 and 1.023 of the "
        "old (the threads' work still counts to the process); with one per output (a console nobody reads holds "
        "up neither the requests nor the file; each queue is bounded, what overflows is dropped and counted) rate "
        "1.072 (1.032-1.128), CPU 1.073. Queued lines are written when the app shuts down. The miner "
        "keeps writing on its event loop: with a writer thread its overhead (above) was 1-4 ms more per job in "
        "three alternated pairs (21.0, 24.7, 23.1 ms against 20.0, 20.5, 18.8), the thread's wake-ups and the GIL "
        "changing hands on the job's path. Since 2026-12-04 a writer thread, once a line arrives, waits 10 ms "
        "and writes every line that gathered in one write and one flush (`aitbc/logs.py` `BATCH_WAIT_S`): "
        "woken and writing for each line, the two threads cost about 120 µs of CPU a line in process (1 000 "
        "lines/s; about 30 written on the logging thread), batched about 40. Side by side against fbb461a: CPU "
        "per job 0.943 (0.927-0.954) and 0.95 (0.935-0.964) of the old, rate 0.994 (0.928-1.017) and 0.965 "
        "(0.939-0.981), 6 and 8 windows; with a 50 ms wait CPU 0.938 but rate 0.917 (0.887-1.011), with 3 ms "
        "CPU 0.978 and rate 0.992, 8 windows each: a longer batch holds the GIL for its formatting while the "
        "event loop waits (a 1 ms GIL switch interval made it worse: rate 0.952). Side by side, the CPU one "
        "coordinator saves goes to both, so the rate there undersells it; alone, the intake benchmark gained "
        "(0.442 to 0.463, one run each, within its spread). Later that day (`python -m bench.intake_ab 8763cea "
        "--alone`, 6 windows each, CPU per job and rate against the old): with the line left out (a ceiling only) "
        "0.865 (0.857-0.92) and 1.065, so through the two threads the line still cost about 13 %, where written "
        "on the logging thread it takes about 25 µs in process; with both outputs written on the event loop "
        "0.925 (0.917-0.972) and 1.043; an A/A run 1.005 (0.996-1.017) and 1.03 (0.951-1.08). Since, an output "
        "that is a regular file (the log file; the console of a service whose output goes to a file, as here) is "
        "written on the event loop, and only one that can block on a reader (a pipe, a socket, a terminal: "
        "`logs.may_block`) keeps its thread: 0.95 (0.903-0.966) and 1.019.",
        "- **What the SQLite writes cost at most** (measured, not changed): with a submission's job and tx rows "
        "not written at all (a ceiling only, which loses the job on a crash), side by side against 2084971, "
        "4 windows: CPU per job 0.815 (0.805-0.824), rate 1.111 (1.081-1.259). The group commit on a thread and "
        "a connection of its own (the event loop reading through its own, WAL letting readers go on during a "
        "commit; tried, not committed), side by side against ae2e8bd, 6 windows: rate 0.96 (0.94-1.048), CPU "
        "per job 1.071 (1.046-1.12). Handing each batch to the thread and its answer back (a wake-up of the "
        "event loop through its self-pipe) and the GIL changing hands cost more than the SQL it moved.",
        "- **SQLite's checkpoints in the event loop's commits** (since 2026-12-04): in WAL mode SQLite copies the "
        "log into the database inside the commit that finds it past 1 000 pages, and with `synchronous=NORMAL` "
        "waits for fsync there. In process, 3 000 submissions committed one by one: 37 commits took 1-5 ms, "
        "127 ms in all, more than half of the time spent committing (with fsync off, none over 0.5 ms). Now a "
        "thread with its own connection checkpoints every 50 ms in PASSIVE mode, which neither waits for nor "
        "holds up the writer, and SQLite's own checkpoint stays as a backstop at 8 000 pages "
        "(`coordinator/wal_checkpoints.py`): 4 commits over 1 ms, 13-16 ms in all. Side by side against "
        "e4bc861, 8 windows, twice: rate 1.051 (1.024-1.073) and 1.043 (1.004-1.094), CPU per job 1.012 and "
        "1.003 (the thread's work counts to the process).",
        "- **Every overdue job read on every tick** (since 2026-12-04): a job no miner takes within "
        "`queue_timeout_s` is failed on chain, 32 a tick, but `fail_overdue` read and built every overdue pending "
        "job first, each tick (5 a second here). This benchmark ran the coordinator with the harness's 60 s "
        "queue timeout and no miner online, so from the middle rounds on, tens of thousands of jobs were "
        "overdue: in a py-spy record of a coordinator in such a round, 52 % of its samples were `fail_overdue` "
        "and 47 % that read. Now a tick reads them a page of 64 at a time (`Store.jobs_submitted_before`), and "
        "the jobs marked for reconciling likewise. `python -m bench.intake_ab 4210d82 --alone` (one coordinator "
        "at a time with 16 connections, 8 windows, the 60 s timeout on both sides): in the first three windows, "
        "before any job was overdue, rate 1.001, 0.99, 0.947 and CPU per job 0.977-1.011 of the old; in the five "
        "after, CPU per job 0.27-0.54 of the old (0.65-0.80 ms against 1.26-2.95) and rate 0.996-1.401. "
        "The benchmark's coordinator now runs with a queue timeout of an hour (above), as its chain already did "
        "with the jobs' own timeout: failing jobs for want of a miner is not intake.",
        "- **Per-request costs outside the endpoint** (since 2026-12-04 evening): FastAPI 0.165 runs its own "
        "OpenTelemetry hooks on every request; with no OpenTelemetry provider configured they record nothing, but "
        "each request still looked up the three providers (each look-up reads the environment). Every service's "
        "app now turns them off (`aitbc/api/apps.py`; our services report through `/metrics` and their logs). "
        "Also: the direct route's check that a content type is JSON (an email-header parse, about 8 µs) is "
        "cached, and the request counter's and a submission's outcome counters are labelled once, not per "
        "request (`labels()` checks its arguments under a lock). In process (the app called as ASGI, a "
        "stand-in node, 5 000 submissions in batches of 1 000, three alternated runs): 388 / 363, 396 / 395 "
        "and 397 / 357 µs of CPU per submission before / after; FastAPI's hooks alone about 15 µs. "
        "`python -m bench.intake_ab 46ab18b --rounds 6 --connections 16 --alone`: CPU per job 0.956 "
        "(0.941-1.0) of the old, rate 1.038 (0.935-1.099). Three runs of this benchmark afterwards gave intake "
        "ratios 0.53 (rounds 0.465-0.548), 0.505 (0.476-0.586) and 0.504 (0.443-0.564), the median of their 18 "
        "rounds 0.511 with 8 of them under 0.5; the three runs before it on the old code, 0.479, 0.494 and "
        "0.502. Looked at and left: checkpointing the WAL every 0.5-1 s instead of 50 ms saves the "
        "checkpoint thread ~15-20 µs per job in process at 1 000 jobs/s, but the writer then meets longer "
        "stalls (commits over 1 ms: 295-353 ms in all over 15 s, up to 28 ms each, against 126-184 ms and "
        "9-10 ms); a log file flushed every 10 ms instead of per line saves under 2 µs a line here.",
        "- **Where the event loop's long turns go** (2026-12-04, measured): each turn over 2 ms timed in the "
        "coordinator under this load (asyncio's own loop in place of uvloop, so that its turns can be timed; "
        "2 windows of 10 s, ~960 submissions/s): 0.5 s of such turns started a signer's broadcast "
        "(`Broadcasts._drain`, 143 of them) with 13 ms of the thread's CPU among them, and 0.23 s answered "
        "requests with 20 ms of CPU. The loop's thread spends those turns waiting, not computing: a send on "
        "loopback wakes the node (or the client) on one of the 2 cores that the node, its app, the load "
        "generator and the coordinator share, and the woken process runs first. A 0.5 ms switch interval "
        "for the GIL (against 5) left them as they were, so it is not the log's or the checkpoint's thread "
        "holding the GIL. The scheduler's tick (`scheduler.run`) takes 6-15 ms every 0.2 s, mostly its own "
        "CPU (139 of 225 ms).",
        "- **Fewer turns of the event loop and fewer writes per submission** (2026-12-02, measured, none kept; "
        "side by side against 7edf8bb, 6 windows each unless said): uvicorn writes a response's head and body in "
        "two socket writes, and a transport that joined them into one: CPU per job 0.973 (0.969-1.004), rate "
        "1.008 (0.923-1.081); a signer's broadcast sent from the request's own task when its lane is idle (a "
        "task switch less each way): CPU 0.98 (0.95-1.034), rate 1.002 (0.966-1.087); each submission committed "
        "at once instead of in the group commit: rate 1.067 (1.009-1.175) but CPU 1.045 (1.005-1.064), and alone "
        "against the node (this benchmark, 4 rounds) intake ratio 0.429 with 2.078 coordinator CPU ms per job, "
        "against 0.442 and 1.837 for 7edf8bb in a run minutes before: lower latency side by side, more CPU per job, no gain "
        "alone. All within or near the A/A spread above.",
        "- **A second coordinator process** (2026-12-02, measured): two coordinators side by side on one chain "
        "(`python -m bench.intake_ab HEAD` at 7edf8bb, 8 connections each, 4 windows of 10 s) took 381-415 submissions/s "
        "together, where one coordinator driven by all 16 connections took 357/s in the same hour (intake ratio "
        "0.442 then): at this benchmark's concurrency a second process adds about a tenth, since each serves "
        "half the clients on cores the node shares. The rate per coordinator is bound by latency (16 clients, "
        "one request each: 16 / latency) as much as by CPU.",
        "- **An assignment pass read the whole queue** (since 2026-12-01): whenever a miner could take a job, each "
        "pass (every tick, and right after each submission) read every pending job from the store and made a "
        "`StoredJob` of it, and every tick counted the queue for the depth gauge. With 50 000 jobs queued and one "
        "miner taking 2, a pass held the event loop for 1.1-1.6 s. Now a pass reads the queue 64 jobs at a time, "
        "oldest first and only of models some miner could take now (index `jobs_queue`), and stops when the "
        "miners are full; the queue's models take one index seek each; the depth is counted when `/metrics` is "
        "read. The same pass: 2.1-4.1 ms (the fake chain of tests/unit/test_coordinator_queue.py, both trees). "
        "Not part of the intake figures above, where no miner is online (its cost to intake: the previous "
        "point). Likewise `GET /v1/jobs`: a client's newest jobs "
        "and the admin's list sorted every job kept, 38.5 and 118.8 ms with 50 000 jobs, now read by index "
        "(`jobs_by_key`, `jobs_by_time`): 2.2 and 2.0 ms. A client could still make every pass slow: jobs "
        "capped below every miner's price, queued at its rate limit ahead of everyone's, were each read and tried "
        "under their lock, about 0.12 ms a job (1 000 of them: 126-128 ms a pass, on every tick and after every "
        "submission). The cap is a store column now and the page query leaves out, per model, the jobs capped "
        "below the cheapest miner that could take one now: 0.9-3.5 ms with 1 000 of them ahead, 25-27 ms with "
        "50 000 (SQLite walking the queue index); tests/attacks/test_coordinator_attacks.py shows it over HTTP "
        "(the old filter read 1 679 queued jobs where this one reads fewer than 50). Each pass also read the "
        "chain's `/miners`, which the node's app renders from every miner record on the thread that runs "
        "CheckTx (in process: 1.0, 9.9, 78.6 and 1035 ms for 10, 100, 1 000 and 10 000 miners): the app now "
        "keeps that answer (and `/coordinators`, `/params`, `/supply`) until its next Commit, and a pass reuses "
        "a list read less than 0.5 s before.",
        "",
        f"CPU per accepted submission in the coordinator: {cpu.get('coordinator')} ms"
        + (f" (before: {before.get('coordinator')})" if before else "")
        + f"; the node alone takes {round((node_cpu.get('app') or 0) + (node_cpu.get('cometbft') or 0), 2)} ms per "
        f"tx (app + cometbft), and {round((cpu.get('app') or 0) + (cpu.get('cometbft') or 0), 2)} ms when the same "
        "txs come through the coordinator (cometbft still pays more per tx when fewer CheckTx are in flight at "
        "once). "
        + ("The ratio meets the 0.5 target in this run, but not by a margin that survives this machine's run-to-run "
           "spread (the last six runs: 0.479, 0.494 and 0.502 before the per-request change above, 0.53, 0.505 "
           "and 0.504 after it). "
           if (it.get("ratio") or 0) >= 0.5 else "The ratio misses the 0.5 target. ")
        + "The coordinator's event loop is busy for most of the run (60-70 % of one core), so the coordinator's "
        "own CPU per job is what bounds its rate, through the turns its requests wait for as much as through "
        "the CPU itself. What is left in it is the price of an HTTP service "
        "in Python per job: uvicorn, FastAPI's routing and five middlewares (its dependency solving no longer: "
        "above), the tx's decode and signature check (~0.09 ms), "
        "the SQLite writes (shared commits, above; at most a tenth of the rate, above), and loopback socket writes (the response and the broadcast), which this VM makes dear (`StreamWriter.write` "
        "to the node is the largest single leaf in the profile below). With the node, the app, the load "
        "generator and the coordinator on 2 cores, one coordinator process does not reach half the node's bare "
        "rate here." + _intake_bound(it) + " What could: a second coordinator process for intake (the store is "
        "SQLite in WAL mode; the in-memory streams and job locks would need a home), or intake off the Python "
        "request path.",
        "",
    ]


def _intake_bound(it: dict[str, Any], cores: int = 2) -> str:
    """What the two sides' CPU per tx allow the intake ratio on this machine's cores, and what the
    coordinator's own CPU per job would have to be for 0.5, from the run's figures."""
    c, n = it["coordinator"], it["node_broadcast_tx_sync"]
    c_cpu, n_cpu = c.get("cpu_ms_per_accepted") or {}, n.get("cpu_ms_per_accepted") or {}
    if not c_cpu or not n_cpu or None in (*c_cpu.values(), *n_cpu.values()):
        return ""
    c_total, n_total = sum(c_cpu.values()), sum(n_cpu.values())
    c_use = c["accepted_per_s"] * c_total / 1000 / cores
    n_use = n["accepted_per_s"] * n_total / 1000 / cores
    others, target = c_total - c_cpu["coordinator"], 0.5
    equal_use = n_total / target - others                  # coordinator CPU ms a job for 0.5, equal core use
    as_run = c_use / n_use * n_total / target - others     # and at the core use each side had in this run
    return (f" All four processes together spent {c_total:.2f} ms of CPU per submission through the coordinator "
            f"and {n_total:.2f} ms per tx sent to the node, and kept the {cores} cores {c_use:.0%} and "
            f"{n_use:.0%} busy: with both equally busy the ratio could reach {n_total / c_total:.2f} at most. "
            f"0.5 would need the coordinator's own CPU per job at {equal_use:.2f} ms with the cores equally busy, "
            f"{as_run:.2f} ms as busy as in this run (now {c_cpu['coordinator']}).")


def _p(s: dict[str, Any], unit: str) -> str:
    return "—" if s.get("p50") is None else f"{s['p50']}{unit} / {s['p95']}{unit}"


def _load(values: list[float]) -> str:
    return " / ".join(f"{x:.1f}" for x in values)


def _gateway_stream(gs: dict[str, Any]) -> list[str]:
    m = gs["machine"]
    runs = next(iter(gs["models"].values()))["runs"]
    out = ["## Streaming through the gateway (OpenAI API)", "",
           "`bench/gateway_stream.py`: a real stack (chain with 1 s blocks, coordinator, one miner daemon per model "
           "on a real Ollama, and `aitbc gateway` as its own process). The same chat "
           f"({json.dumps(gs['messages'][0]['content'])}; temperature {gs['temperature']}, seed {gs['seed']}, "
           f"{gs['max_tokens']} tokens, Ollama `num_thread` {gs['num_thread']} as the miner runs it) is streamed "
           "straight from Ollama (`POST /api/chat`, stream=true) and through the gateway (`POST "
           "/v1/chat/completions`, stream=true, server-sent events; each request is a marketplace job with escrow, "
           f"assignment, receipt and fee), alternating, {runs} pairs after one warm-up pair. Time to first token "
           "(TTFT) = request sent → first non-empty content chunk; overhead = gateway − direct TTFT of the same "
           "pair. Tokens/s = (completion tokens − 1) / (last − first content chunk), completion tokens from "
           "Ollama's `eval_count` and from the gateway's usage chunk (the receipt's `tokens_generated`). Stream "
           "end = Ollama's `done` object, or the gateway's `[DONE]`, which it sends only once the receipt is "
           "committed and checked against the text streamed.", "",
           f"Timings taken on a {m['nproc']}-core machine ({m['cpu']}) shared with other work: load average "
           f"(1 / 5 / 15 min, `os.getloadavg()`) {_load(gs['load_before'])} before, "
           f"{_load(gs['load_after_streams'])} after the streams"
           + (f", {_load(gs['load_after'])} after the demo" if "demo" in gs else "") + ". A load well above the "
           "core count slows generation (and stretches every time here) compared with an idle machine.", "",
           "| model | | TTFT p50 / p95 | tokens/s p50 / p95 | stream end p50 / p95 | tokens |",
           "|---|---|---|---|---|---|"]
    for model, r in gs["models"].items():
        t, rate, end = r["ttft_s"], r["tokens_per_s"], r["end_s"]
        for path, label in (("direct", "Ollama direct"), ("gateway", "through the gateway")):
            # A stream that arrives in one piece has no span to divide by: say how many runs had one.
            n = rate[path]["n"]
            rated = _p(rate[path], "") + (f" (n={n}: the other answers came in one piece)" if n < r["runs"] else "")
            out.append(f"| {model} | {label} | {_p(t[path], ' s')} | {rated} | "
                       f"{_p(end[path], ' s')} | {int(r['tokens'][path]['median'])} |")
        out.append(f"| {model} | **overhead** (gateway − direct) | **{_p(t['overhead'], ' s')}** | | | |")
        if r.get("last_text_overhead"):
            out.append(f"| {model} | all the text shown (last content chunk), gateway − direct | | | "
                       f"{_p(r['last_text_overhead'], ' s')} | |")
        whole = r.get("whole_s")
        if whole:
            out.append(f"| {model} | through the gateway, not streamed (whole answer) | | | "
                       f"{_p(whole['gateway'], ' s')} | |")
            out.append(f"| {model} | **whole answer − Ollama's stream end** | | | **{_p(whole['overhead'], ' s')}** | |")
    out += [""]
    if any(r.get("last_text_overhead") for r in gs["models"].values()):
        out += ["All the text shown: when the client has the last piece of text, before the stream's end waits for "
                "the receipt's block; gateway − direct of the same pair. It holds the TTFT overhead and any "
                "difference in generation time between the two requests of a pair, which for smollm2:135m (64 "
                "tokens in 4-6 s on this machine) is a few tenths of a second either way from run to run. Since "
                "2026-12-02 a miner posts its completion without waiting for its last chunk's answer, and the "
                "coordinator streams the end of the text from whichever comes first.", ""]
    same = all(r["same_text"] for r in gs["models"].values())
    out += [("Both paths gave the same text in every pair (same seed)." if same else
             "**The two paths did not always give the same text.**") +
            " What the overhead holds: the gateway signs the job's escrow and submits it to the coordinator "
            "(CheckTx, no block wait); the submission wakes the coordinator's scheduler, which assigns it at once; "
            "the miner checks the assignment (it finds the assign tx in the mempool) and starts Ollama, and its "
            "first tokens travel miner → coordinator (the first piece at once, then at most one request per 50 ms) "
            "→ gateway → client. Until 2026-12-02 a client that followed its job before any text had come, as the "
            "gateway does right after its submit, was looked at again only at the event stream's next poll "
            "(0.25 s): the overhead was 0.159 / 0.265 s p50 (p95 0.167 / 0.271 s) for smollm2:135m / aitbc-tiny in "
            "a run of this benchmark just before. The stream now wakes its readers when the job's first text "
            "arrives and when its stored status changes (`coordinator/job_streams.py`; "
            "tests/unit/test_coordinator_job_streams.py holds the stream's poll at 5 s and sees both within a "
            "second). The stream's end waits for the receipt in a block, by design, and for the coordinator's "
            "tracker, which reads new blocks on its tick (0.2–0.25 s); no longer for the stream's poll after "
            "it (the aitbc-tiny stream's end, p50: 1.028 s before, 0.976 s in a run right after).", "",
            "Not streamed (the OpenAI client's default), the gateway answers once the job is final, its receipt in "
            "a block; this benchmark now times that too (the whole answer, started at a random phase against the "
            "1 s block clock, over Ollama's whole stream of the same round). Until 2026-12-02 the gateway, like "
            "the `aitbc` CLI, asked the coordinator every 0.25 s, and the coordinator's tracker read a new block "
            "only on its tick. Now the gateway and the CLI wait with long polls (`GET /v1/jobs/{id}?wait=` with "
            "the last answer's ETag: the coordinator answers when the job changes, coordinator/http/job_watch.py) "
            "and the tracker reads a block as soon as the node's websocket says it was committed "
            "(coordinator/block_watch.py). `python -m bench.gateway_stream --runs 20 --models aitbc-tiny "
            "--no-demo` just before and just after (2026-12-02, commit c50c6ef and its successors): whole answer "
            "over Ollama p50 1.001 → 0.714 s, p95 1.294 → 0.968 s, max 1.517 → 1.074 s (the stream's end moved "
            "the other way, 0.861 → 0.969 s p50, because each stream now starts right after the block that ended "
            "the round's whole answer, so at the same phase every time). What remains is the wait for the block "
            "that takes the receipt, by design: up to a block interval after the receipt reached the mempool.", ""]
    demo = gs.get("demo")
    if demo:
        out += ["### The demo", "",
                f"`make demo` (`{demo['command']}`: smollm2:135m, `--num-predict 64`, one job through the CLI "
                f"wrapper, {demo.get('client_waits', 'polled every 0.2 s until final')}), run after the "
                "streams above. Its answer to "
                "\"What is machine learning?\":", "",
                *[f"> {line}" if line else ">" for line in demo["answer"].splitlines()], "",
                "| | seconds |", "|---|---|",
                f"| client saw (submit → status completed) | {demo['client_s']} |",
                f"| Ollama total_duration | {demo['ollama_s']} |",
                f"| system overhead (chain txs in 1 s blocks, HTTP, "
                f"{'CLI start-up' if 'client_waits' in demo else 'polling'}) | {demo['overhead_s']} |",
                f"| whole demo (set-up, job, tear-down) | {demo['wall_s']} |", ""]
    return out


def _profiles() -> list[str]:
    path = env.RESULTS / "profiles" / "chain_saturation_app.pyspy.txt"
    return ["## Profiles", "",
            "Saved under `bench/results/profiles/`: `chain_saturation_app.pyspy.txt` (py-spy, raw collapsed stacks "
            "of our app process during the saturation run; `py-spy` or any flame-graph tool renders it), "
            "`coordinator_intake.pyspy.txt` (the coordinator during intake), `inprocess_checktx_finalize.{txt,html}` "
            "(pyinstrument over CheckTx + FinalizeBlock of transfers and job txs in process), and the same two from "
            "before issue 15 (`*.before.*`).", "",
            "Our app under saturation load, top functions by self time:", "", _frames_table(path), "",
            "And where its time goes by inclusive time (what each part costs, callees included):", "",
            _app_inclusive(path), ""] + _profile_before()


_APP_PARTS = (("check_tx_batch", "CheckTx (batches from the socket)"), ("check_tx (", "CheckTx"),
              ("_verify_shared", "signature verification (both threads)"), ("execute (", "apply a tx (transition.execute)"),
              ("recheck_confirms", "RECHECK confirmed without running"), ("rerun (", "RECHECK running the tx"),
              ("finalize_block", "FinalizeBlock"), ("add_abci_events", "events into FinalizeBlock's answer"),
              ("abci_app/block_answer.py", "FinalizeBlock's answer serialized (block_answer.py)"),
              ("prepare_proposal", "PrepareProposal"), ("process_proposal", "ProcessProposal"),
              ("Application.commit", "Commit"))


def _app_inclusive(path: Path) -> str:
    if not path.exists():
        return "_(no profile recorded)_\n"
    totals: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        total += int(n)
        for needle, label in _APP_PARTS:
            if needle in stack:
                totals[label] += int(n)
    rows = [f"| {round(100 * totals[label] / total, 1)} % | {label} |" for _, label in _APP_PARTS if totals[label]]
    return "| share of samples | part |\n|---:|---|\n" + "\n".join(rows) + "\n" if total else "_(empty profile)_\n"


def _profile_before() -> list[str]:
    before = env.RESULTS / "profiles" / "chain_saturation_app.before.pyspy.txt"
    if not before.exists():
        return []
    return ["Before issue 15 (`chain_saturation_app.before.pyspy.txt`, the saturation run of the earlier "
            "report): one thread did everything, and the work that issue 15 removed shows: RECHECK ran every "
            "waiting tx, FinalizeBlock ran every tx again, every record went through a new JSON encoder.", "",
            _frames_table(before), "", _app_inclusive(before), ""]


def load_results() -> dict[str, Any]:
    results = {}
    for name in ("chain_throughput", "chain_saturation", "chain_ceiling", "finalize_block", "state_size", "stack",
                 "gateway_stream", "direct_jobs", "miner_slots"):
        found = env.read_result(name)
        if found is not None:
            results[name] = found
    return results


def write(plots: bool = True) -> Path:
    """Rewrite docs/benchmarks.md; with `plots` False the plots already in docs/benchmarks/ are kept."""
    results = load_results()
    if not results:
        raise SystemExit("no results in bench/results: run `python -m bench` first")
    images = _plots(results) if plots else {p.stem: f"benchmarks/{p.name}" for p in IMAGES.glob("*.png")}
    path = DOCS / "benchmarks.md"
    path.write_text(render(results, images))
    return path


if __name__ == "__main__":
    print(write(plots="--no-plots" not in sys.argv[1:]))
