"""What the saturated node commits with stand-in apps that do only a part of our app's work,
beside kvstore and our app, in the same rounds: the ceiling each part sets on the ratio
to kvstore (issue 15's target: 0.9).

Each round runs, one after another on a fresh node of chain_saturation's settings (mempool
30 000, the same load generator and transfers): kvstore, `ceiling-bare` (our Python socket
server answering code 0, looking at nothing), `ceiling-signatures` (that, and each new tx
decoded and its signature checked in its batch), `ceiling-events` (that, and FinalizeBlock
giving each transfer the events our app gives it), optionally `ceiling-unindexed` (the same
events, none of them indexed), and our app: bench/ceiling_app.py. The order turns each round,
so that no app always meets the machine at the same point of the round. Per run: committed
transfers/s, the ratio to the round's kvstore run, and the app's and cometbft's CPU per
committed tx.

Usage: python -m bench.chain_ceiling [--rounds 3] [--seconds 20] [--apps A,B,...]
Prints one JSON line per run; writes bench/results/chain_ceiling.json, which docs/benchmarks.md
shows (bench/report.py). About 1 minute an app a round on this machine (6 minutes a round for the five default apps).
"""

from __future__ import annotations

import argparse
import json
import statistics
from typing import Any

from aitbc.abci_app import events
from bench import chain_throughput, env

# A transfer's two events are a message and a transfer.
_TRANSFER_INDEXED = len(events.INDEXED[events.MESSAGE]) + len(events.INDEXED[events.TRANSFER])

# What each app does (the stand-ins: bench/ceiling_app.py), for the report.
DOES = {
    "kvstore": "CometBFT's Go example app (`abci-cli kvstore`): no signatures, two events of four attributes a tx, "
               "six of them indexed",
    "ceiling-bare": "our socket server, code 0 to everything, no events",
    "ceiling-signatures": "+ each new tx decoded and checked (`tx.parse`) and its signature checked in its batch",
    "ceiling-events": "+ a transfer's two events in FinalizeBlock, as our app gives them "
                      f"({_TRANSFER_INDEXED} attributes indexed)",
    "ceiling-unindexed": "the same events, none indexed",
    "aitbc": "our app",
}
APPS = ("kvstore", "ceiling-bare", "ceiling-signatures", "ceiling-events", "aitbc")
OPTIONAL_APPS = ("ceiling-unindexed",)
RATE_HINTS = {"kvstore": 16_000, "ceiling-bare": 16_000}  # else 12 000
MEMPOOL_SIZE = 30_000


def _cpu_us_per_tx(result: dict[str, Any]) -> dict[str, float | None]:
    per_tx = env.cpu_us_per_tx(result)
    return {name: round(per_tx[name], 1) if per_tx else None for name in result["cpu_util"]}


def measure(rounds: int, seconds: float, warmup: float, apps: tuple[str, ...] = APPS) -> dict[str, Any]:
    if "kvstore" not in apps:
        apps = ("kvstore", *apps)
    runs: list[dict[str, Any]] = []
    for round_no in range(rounds):
        order = apps[round_no % len(apps):] + apps[:round_no % len(apps)]
        results = {app: chain_throughput.run(app, seconds, warmup, rate_hint=RATE_HINTS.get(app, 12_000),
                                             mempool_size=MEMPOOL_SIZE) for app in order}
        kvstore = results["kvstore"]["committed_tx_per_s"]
        for app in apps:
            result = results[app]
            row = {"round": round_no + 1, "app": app, "committed_tx_per_s": result["committed_tx_per_s"],
                   "ratio_to_kvstore": round(result["committed_tx_per_s"] / kvstore, 3) if kvstore else None,
                   "cpu_us_per_tx": _cpu_us_per_tx(result), "cpu_cores": result["cpu_util"],
                   "exhausted": result["exhausted"], "backlog_at_proposal": result["backlog_at_proposal"]}
            print(json.dumps(row), flush=True)
            runs.append(row)
    summary = {}
    for app in apps:
        mine = [r for r in runs if r["app"] == app]
        summary[app] = {
            "committed_tx_per_s": env.spread([r["committed_tx_per_s"] for r in mine]),
            "ratio_to_kvstore": env.spread([r["ratio_to_kvstore"] for r in mine if r["ratio_to_kvstore"]], 3),
            "app_cpu_us_per_tx": env.spread([r["cpu_us_per_tx"]["app"] for r in mine if r["cpu_us_per_tx"]["app"]], 1),
            "cometbft_cpu_us_per_tx": env.spread([r["cpu_us_per_tx"]["cometbft"] for r in mine
                                                  if r["cpu_us_per_tx"]["cometbft"]], 1),
        }
    return {"rounds": rounds, "seconds": seconds, "warmup": warmup, "mempool_size": MEMPOOL_SIZE,
            "apps": list(apps), "runs": runs, "summary": summary}


def section(r: dict[str, Any]) -> list[str]:
    """The "ceiling" part of docs/benchmarks.md (bench/report.py), from a result of `measure`."""
    out = ["### What each part of the app's work costs the saturated node: stand-in apps", "",
           f"`python -m bench.chain_ceiling` ({r['when'][:10]}): the saturated run above (mempool "
           f"{r['mempool_size']:,}, {r['seconds']:g} s, the first {r['warmup']:g} s not counted, the same signed "
           "transfers) with apps that do only a part of our app's work (bench/ceiling_app.py), each round all of "
           f"them one after another, the order turned each round ({r['rounds']} rounds). Ratio: to the kvstore run "
           "of the same round, median (per round). CPU: each process's, over the committed txs.", "",
           "| app | does | committed tx/s | ratio to kvstore | app CPU µs / tx | cometbft CPU µs / tx |",
           "|---|---|---|---|---|---|"]
    for app in r["apps"]:
        s = r["summary"][app]
        per_round = ", ".join(str(x["ratio_to_kvstore"]) for x in r["runs"] if x["app"] == app)
        out.append(f"| {app} | {DOES.get(app, '')} | {s['committed_tx_per_s']['median']} | "
                   f"{s['ratio_to_kvstore']['median']} ({per_round}) | {s['app_cpu_us_per_tx']['median']} | "
                   f"{s['cometbft_cpu_us_per_tx']['median']} |")
    return out + ["", *_analysis(r), ""]


def _median(r: dict[str, Any], app: str, key: str) -> float | None:
    return r["summary"].get(app, {}).get(key, {}).get("median")


def _app_cpu_for(r: dict[str, Any], ratio: float) -> float | None:
    """env.app_cpu_budget in each round, the median over the rounds."""
    needed = []
    for round_no in range(1, r["rounds"] + 1):
        rows = {x["app"]: x["cpu_us_per_tx"] for x in r["runs"] if x["round"] == round_no}
        if "kvstore" in rows and "aitbc" in rows and None not in (*rows["kvstore"].values(), rows["aitbc"]["cometbft"]):
            needed.append(env.app_cpu_budget(rows["kvstore"], rows["aitbc"], ratio))
    return round(statistics.median(needed), 1) if needed else None


def _analysis(r: dict[str, Any]) -> list[str]:
    """What the table says, in the figures of this result."""
    ratio = {app: _median(r, app, "ratio_to_kvstore") for app in r["apps"]}
    app_cpu = {app: _median(r, app, "app_cpu_us_per_tx") for app in r["apps"]}
    node_cpu = {app: _median(r, app, "cometbft_cpu_us_per_tx") for app in r["apps"]}
    have = lambda *apps: all(ratio.get(a) is not None and app_cpu.get(a) is not None for a in apps)  # noqa: E731
    said = []
    if have("ceiling-bare"):
        said.append(f"Our socket server answering every request at once commits {ratio['ceiling-bare']} of kvstore's "
                    f"rate, with {app_cpu['ceiling-bare']} µs of app CPU a tx: the Python server, its batches and "
                    "the wire are not what holds our app back.")
    if have("ceiling-bare", "ceiling-signatures"):
        said.append(f"Decoding each tx and checking its signature adds {app_cpu['ceiling-signatures'] - app_cpu['ceiling-bare']:.0f} "
                    f"µs of app CPU a tx (median to median) and still commits {ratio['ceiling-signatures']} of kvstore's "
                    "rate, which checks no signature at all.")
    if have("ceiling-signatures", "ceiling-events") and node_cpu.get("ceiling-events") and node_cpu.get("ceiling-signatures"):
        unindexed = ""
        if have("ceiling-unindexed") and node_cpu.get("ceiling-unindexed"):
            unindexed = (f" ({node_cpu['ceiling-unindexed'] - node_cpu['ceiling-signatures']:.0f} µs with none of "
                         f"the attributes indexed, ratio {ratio['ceiling-unindexed']})")
        said.append(f"A transfer's two events cost CometBFT more than they cost the app: "
                    f"{node_cpu['ceiling-events'] - node_cpu['ceiling-signatures']:.0f} µs of cometbft CPU a tx more than "
                    f"without them{unindexed}, for {app_cpu['ceiling-events'] - app_cpu['ceiling-signatures']:.0f} µs "
                    f"of app CPU; with them the stand-in commits {ratio['ceiling-events']} of kvstore's rate (kvstore "
                    f"gives two events a tx too, at {node_cpu.get('kvstore')} µs of cometbft CPU). That is about the "
                    "most an app that checks signatures and gives these events can commit here, whatever its state "
                    "costs.")
    if have("ceiling-events", "aitbc"):
        said.append(f"Our app's state work (the check state, RECHECK, FinalizeBlock's replay of what CheckTx applied, "
                    f"the store and the app hash) costs {app_cpu['aitbc'] - app_cpu['ceiling-events']:.0f} µs of app "
                    f"CPU a tx on top of that, and our app commits {ratio['aitbc']}.")
    needed = _app_cpu_for(r, 0.9)
    if needed is not None and have("aitbc"):
        said.append(f"With cometbft's CPU per tx as it is beside our app, 0.9 would need our app at about {needed} µs of "
                    f"CPU a committed tx, against {app_cpu['aitbc']} now"
                    + (f" and {app_cpu['ceiling-signatures']} for the signatures stand-in alone"
                       if have("ceiling-signatures") else "") + ".")
    return [" ".join(said)] if said else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--apps", default=",".join(APPS),
                        help=f"which, comma-separated (kvstore is always run); of {', '.join(APPS + OPTIONAL_APPS)}")
    args = parser.parse_args()
    apps = tuple(a for a in args.apps.split(",") if a)
    unknown = set(apps) - set(APPS + OPTIONAL_APPS)
    if unknown:
        parser.error(f"unknown app(s): {', '.join(sorted(unknown))}")
    result = measure(args.rounds, args.seconds, args.warmup, apps)
    print(json.dumps(result["summary"]))
    print(env.write_result("chain_ceiling", result))


if __name__ == "__main__":
    main()
