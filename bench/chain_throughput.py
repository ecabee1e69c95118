"""Committed txs per second on one real node with 1 s blocks: our app or CometBFT's kvstore.

Same cometbft build, same config (ours, see `configure`), same load
generator (`bench.loadgen`, a separate process) and the same tx size for
both: our app gets signed transfers (one funded sender per stream,
consecutive nonces); kvstore gets `key=value` txs padded to the same length,
over the socket (`abci-cli kvstore --persist`, so it writes to disk as ours
does). The first `warmup` seconds are not counted; committed tx/s is the
sum of txs of the blocks made during the measured window over the span of
their header times. The generator samples the mempool backlog: it must stay
above zero, or the generator (not the node) was the bottleneck.

Usage: python -m bench.chain_throughput [--app aitbc|kvstore|both] [--seconds 30] [--json]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from aitbc import tx as txlib

from aitbc.ops import nodehome, procs, tools
from aitbc.crypto import PrivateKey
from bench import env

CHAIN_ID = "aitbc-bench"
# On top of ops/cometbft-config/single-node.toml, for both apps alike.
MEMPOOL_SIZE = 5000           # cometbft's default
BATCH = 10                    # cometbft's default max_request_batch_size
CONNECTIONS = 8


def kvstore_command(port: int, data_dir: Path) -> list[str]:
    binary = env.abci_cli()
    if not binary.exists():
        raise tools.ToolMissing(f"{binary} not found: run `make bench-setup`")
    return [str(binary), "kvstore", "--address", f"tcp://127.0.0.1:{port}", "--log_level", "error",
            "--persist", str(data_dir)]


def ceiling_command(mode: str, port: int) -> list[str]:
    """A stand-in app of bench/ceiling_app.py (`mode`) on `port`."""
    return [env.python(), str(env.ROOT / "bench" / "ceiling_app.py"), mode, "--address", f"tcp://127.0.0.1:{port}"]


def app_command(app: str, port: int, data_dir: Path) -> list[str] | None:
    """The command of `app` on the ABCI `port`: None for ours (the node home's own), else
    kvstore or a stand-in of bench/ceiling_app.py (`ceiling-` and its mode)."""
    if app == "kvstore":
        return kvstore_command(port, data_dir)
    if app.startswith("ceiling-"):
        return ceiling_command(app.removeprefix("ceiling-"), port)
    return None


def build_streams(app: str, senders: list[PrivateKey], per_sender: int) -> list[list[str]]:
    """Pre-signed, base64-encoded txs, one list per sender (its nonces in order)."""
    sink = PrivateKey(b"\x01" * 32).address
    if app == "kvstore":  # the size of our transfer, without signing them all
        size = len(txlib.build(senders[0], CHAIN_ID, 0, "transfer", to=sink, amount=1))
        return [[base64.b64encode(f"s{i}n{n}=".encode().ljust(size, b"x")).decode() for n in range(per_sender)]
                for i in range(len(senders))]
    return [[base64.b64encode(txlib.build(k, CHAIN_ID, n, "transfer", to=sink, amount=1)).decode()
             for n in range(per_sender)] for k in senders]


def sender_keys(count: int) -> list[PrivateKey]:
    return [PrivateKey(i.to_bytes(4, "big") * 8) for i in range(1, count + 1)]


def blocks(rpc: str, first: int, last: int) -> list[dict[str, Any]]:
    """height, txs, header time (unix seconds) of blocks first..last."""
    rows = []
    with httpx.Client(timeout=30) as http:
        for start in range(first, last + 1, 20):
            end = min(last, start + 19)
            metas = http.get(f"{rpc}/blockchain", params={"minHeight": start, "maxHeight": end}).json()["result"]
            for m in metas["block_metas"]:
                rows.append({"height": int(m["header"]["height"]), "txs": int(m["num_txs"]),
                             "time": _unix(m["header"]["time"])})
    return sorted(rows, key=lambda r: r["height"])


def _unix(text: str) -> float:
    main, _, frac = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(main + "+00:00").timestamp() + float("0." + (frac or "0"))


def committed_rate(rows: list[dict[str, Any]], start: float, end: float) -> tuple[float, int, float]:
    """(tx/s, txs, seconds) over the blocks whose header time lies in [start, end]."""
    inside = [i for i, r in enumerate(rows) if start <= r["time"] <= end]
    if len(inside) < 2:
        return 0.0, 0, 0.0
    first, last = inside[0], inside[-1]
    txs = sum(rows[i]["txs"] for i in range(first + 1, last + 1))
    span = rows[last]["time"] - rows[first]["time"]
    return (txs / span if span > 0 else 0.0), txs, span


def init_node(home: Path, senders: list[PrivateKey], mempool_size: int = MEMPOOL_SIZE) -> nodehome.Ports:
    # The app's /metrics (no cometbft metrics: the same config as kvstore's node).
    ports = nodehome.Ports(procs.free_port(), procs.free_port(), procs.free_port(), app_metrics=procs.free_port())
    keys = {f"s{i}": k for i, k in enumerate(senders)} | {"coordinator": PrivateKey(b"\x02" * 32)}
    nodehome.init_home(home, CHAIN_ID, ports, keys)
    path = home / "cometbft" / "config" / "config.toml"
    text = path.read_text()
    for section, key, value in (("", "log_level", '"error"'), ("mempool", "size", str(mempool_size)),
                                ("rpc", "max_request_batch_size", str(BATCH))):
        text = nodehome.set_toml(text, section, key, value)
    path.write_text(text)
    return ports


def _backlog_at_proposal(samples: list[list[float]], block_times: list[float]) -> list[int]:
    """The mempool backlog last sampled before each block's header time: what the proposer could take."""
    out = []
    for t in block_times:
        before = [n for s, n in samples if t - 0.5 <= s < t]
        if before:
            out.append(before[-1])
    return out


def _app_counters(port: int) -> dict[str, Any] | None:
    """From the app's /metrics over the whole run: signatures per native batch, and how many
    block txs FinalizeBlock took as CheckTx applied them (abci_app/check_state.py)."""
    try:
        samples = env.metric_samples(f"http://127.0.0.1:{port}")
    except httpx.HTTPError:
        return None

    def total(name: str, **labels: str) -> float:
        return env.metric_total(samples, name, **labels)

    batches = total("aitbc_app_signature_batch_size_count")
    return {"signature_batches": int(batches),
            "signatures_per_batch": round(total("aitbc_app_signature_batch_size_sum") / batches, 1)
            if batches else None,
            "txs_finalized": int(total("aitbc_app_txs_total")),
            "finalized_as_checked": int(total("aitbc_app_reused_total", what="finalize")),
            "rechecks_confirmed": int(total("aitbc_app_reused_total", what="recheck_confirmed")),
            "rechecks_rerun": int(total("aitbc_app_reused_total", what="recheck_rerun"))}


def _wait_drained(rpc: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if int(httpx.get(f"{rpc}/num_unconfirmed_txs", params={"limit": 1}).json()["result"]["total"]) == 0:
            return True
        time.sleep(0.5)
    return False


def run(app: str, seconds: float = 30, warmup: float = 5, senders: int = 32, rate_hint: int = 6000,
        connections: int = CONNECTIONS, mempool_size: int = MEMPOOL_SIZE,
        profile: Path | None = None) -> dict[str, Any]:
    """Start a fresh node with `app`, load it for `seconds`, return the figures.

    `rate_hint` sizes the pre-signed supply (txs/s the node might take); the
    result says `exhausted` when the generator ran out. With `profile`, py-spy
    records our app process during the load (a flame graph SVG at that path).
    """
    keys = sender_keys(senders)
    per_sender = int(rate_hint * (seconds + 2) / senders) + 1
    env.log(f"chain_throughput {app}: pre-signing {per_sender * senders} txs")
    streams = build_streams(app, keys, per_sender)
    with tempfile.TemporaryDirectory(prefix="aitbc-bench-") as directory:
        home = Path(directory) / "node"
        ports = init_node(home, keys, mempool_size)
        command = app_command(app, ports.abci, home / "kvstore")
        node = nodehome.Node(home, python=env.python(), app_command=command).start()
        spy = None
        try:
            node.wait_for_height(2)
            spec = {"host": "127.0.0.1", "port": ports.rpc, "streams": streams, "seconds": seconds,
                    "connections": connections, "batch": BATCH, "high": mempool_size,
                    "sample_s": 0.1}
            spec_path, out_path = Path(directory) / "load.json", Path(directory) / "load.out.json"
            spec_path.write_text(json.dumps(spec))
            first = node.height()
            load_before = os.getloadavg()
            cpu0 = {"app": env.cpu_seconds(node.app.pid), "cometbft": env.cpu_seconds(node.cometbft.pid)}
            generator = procs.spawn([env.python(), "-m", "bench.loadgen", str(spec_path), str(out_path)],
                                    home / "logs" / "loadgen.log", {"PYTHONPATH": str(env.ROOT)})
            if profile is not None and app == "aitbc":
                spy = procs.spawn([str(Path(env.python()).parent / "py-spy"), "record", "-p", str(node.app.pid), "-o", str(profile), "-f", "raw" if profile.suffix == ".txt" else "flamegraph", "-r", "200",
                                   "-d", str(int(seconds)), "--nonblocking"], home / "logs" / "py-spy.log")
            t0 = time.monotonic()
            generator.wait(seconds + 120)
            wall = time.monotonic() - t0
            load_after = os.getloadavg()
            cpu = {"app": env.cpu_seconds(node.app.pid) - cpu0["app"],
                   "cometbft": env.cpu_seconds(node.cometbft.pid) - cpu0["cometbft"]}
            if spy is not None:
                spy.wait(60)
            load = json.loads(out_path.read_text())
            drained = _wait_drained(node.rpc, 60)
            last = node.height()
            rows = blocks(node.rpc, first, last)
            counters = _app_counters(ports.app_metrics) if app == "aitbc" else None
        finally:
            procs.stop(spy)
            node.stop()
    start = load["started_unix"]
    rate, txs, span = committed_rate(rows, start + warmup, start + seconds)
    window = [s for t, s in load["samples"] if warmup <= t <= seconds]
    busy = [r for r in rows if start + warmup <= r["time"] <= start + seconds]
    at_proposal = _backlog_at_proposal(load["samples"], [r["time"] - start for r in busy])
    lost = load["sent"] - sum(r["txs"] for r in rows) if drained else None
    return {
        "app": app, "tx_bytes": len(base64.b64decode(streams[0][0])), "seconds": seconds, "warmup_s": warmup,
        "committed_tx_per_s": round(rate, 1), "committed_in_window": txs, "window_s": round(span, 2),
        "sent": load["sent"], "sent_per_s": round(load["sent"] / seconds, 1), "rejected_before_checktx": load["rejected"],
        "sent_not_committed": lost,
        "generator_paused_s": load["paused_s"], "exhausted": load["exhausted"],
        "backlog_at_proposal": {"min": min(at_proposal, default=0),
                                "median": statistics.median(at_proposal) if at_proposal else 0,
                                "blocks": len(at_proposal)},
        "backlog": {"min": min(window, default=0), "median": statistics.median(window) if window else 0,
                    "max": max(window, default=0), "samples": len(window)},
        "app_counters": counters,
        "blocks_in_window": len(busy), "txs_per_block": env.spread([r["txs"] for r in busy], 0),
        "block_interval_s": env.spread([b["time"] - a["time"] for a, b in zip(busy, busy[1:])], 3),
        "cpu_util": {k: round(v / wall, 2) for k, v in cpu.items()},
        # The machine's load average (1, 5, 15 min) as the load started and once it stopped.
        "load_avg": {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in load_after]},
        "settings": {"senders": senders, "connections": connections, "batch": BATCH, "mempool_size": mempool_size,
                     "max_outstanding": mempool_size, "timeout_commit": "1s",
                     "broadcast": "broadcast_tx_async (JSON-RPC batches)"},
        "series": {"blocks": [[round(r["time"] - start, 3), r["txs"]] for r in rows],
                   "backlog": load["samples"]},
    }


def compare(seconds: float, warmup: float, runs: int, profile_dir: Path | None = None) -> dict[str, Any]:
    """Alternate kvstore and our app `runs` times each; the ratio of medians."""
    results: dict[str, list[dict[str, Any]]] = {"kvstore": [], "aitbc": []}
    for i in range(runs):
        for app in ("kvstore", "aitbc"):
            profile = profile_dir / "chain_throughput_app.svg" if (profile_dir and app == "aitbc" and i == 0) else None
            results[app].append(run(app, seconds, warmup, profile=profile))
            env.log(f"chain_throughput {app}: {results[app][-1]['committed_tx_per_s']} tx/s")
    summary = {app: env.spread([r["committed_tx_per_s"] for r in rs]) for app, rs in results.items()}
    ratio = summary["aitbc"]["median"] / summary["kvstore"]["median"] if summary["kvstore"]["median"] else None
    return {"runs": runs, "summary": summary, "ratio": round(ratio, 3) if ratio else None, "target_ratio": 0.8,
            "results": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--app", choices=["aitbc", "kvstore", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--mempool-size", type=int, default=MEMPOOL_SIZE)
    parser.add_argument("--rate-hint", type=int, default=6000)
    args = parser.parse_args()
    if args.app == "both":
        out = compare(args.seconds, args.warmup, args.runs)
    else:
        out = run(args.app, args.seconds, args.warmup, rate_hint=args.rate_hint, mempool_size=args.mempool_size)
        out.pop("series")
    print(json.dumps(out if args.app != "both" else {k: v for k, v in out.items() if k != "results"}))


if __name__ == "__main__":
    main()
