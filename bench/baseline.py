"""Before and after on one machine: the same measurements on an older commit's app and on
this tree's, alternated, so that both meet the same load (a shared 2-core machine changes
speed from one minute to the next; figures taken an hour apart do not compare).

- In process: bench/finalize_block.py's costs per tx, this tree's benchmark code run on
  both apps (an app from before abci_app/check_state.py had only a reset of its check
  state, which stands in for `check_state.forget()`).
- On a node: committed transfers/s with a mempool that does not bound blocks (30 000),
  the old app, this tree's and kvstore back to back in every round.

The older commit is exported with `git archive` into a temporary directory, its protobuf
code generated from its own protos, and put first on PYTHONPATH for its processes.

Usage: python -m bench.baseline REV [--rounds 3] [--seconds 20] [--txs 2000]
Writes bench/results/baseline.json, shown by docs/benchmarks.md as before / after.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

from bench import env

# The repository's folders as subpackages of `aitbc` (setup.py's FOLDERS, minus aitbc itself).
FOLDERS = ("abci_app", "coordinator", "miner", "cli", "explorer", "ops", "gateway")
SATURATION_MEMPOOL = 30_000


def export(rev: str, into: Path) -> Path:
    """Lay out `rev`'s code as an importable `aitbc` under `into`; returns the PYTHONPATH entry."""
    tree = into / "tree"
    tree.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(env.ROOT), "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    package = into / "site" / "aitbc"
    package.mkdir(parents=True)
    for item in (tree / "aitbc").iterdir():
        if item.name != "pb":
            (package / item.name).symlink_to(item)
    for folder in FOLDERS:
        if (tree / folder).is_dir():
            (package / folder).symlink_to(tree / folder)
    spec = importlib.util.spec_from_file_location("baseline_proto_build", tree / "proto" / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    build.generate(package / "pb")
    return into / "site"


@contextlib.contextmanager
def away_from_repository(directory: Path) -> Iterator[None]:
    """Run the processes started inside from `directory`: `python -m` puts its working
    directory first on sys.path, and from the repository root the tree's own aitbc/ (then
    every folder through the editable install) wins over an exported commit on PYTHONPATH,
    so an "old" process would run this tree's code."""
    cwd = os.getcwd()
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(cwd)


def check_imports_from(site: Path, extra_env: dict[str, str]) -> None:
    """Raise unless a process started here with `extra_env` imports the coordinator and the
    app from `site`: a comparison whose "old" side runs this tree's code shows nothing."""
    probe = ("import aitbc.abci_app, aitbc.coordinator; "
             "print(aitbc.abci_app.__file__); print(aitbc.coordinator.__file__)")
    found = subprocess.run([sys.executable, "-c", probe], env={**os.environ, **extra_env}, capture_output=True,
                           text=True, check=True).stdout.split()
    if not all(path.startswith(str(site)) for path in found):
        raise RuntimeError(f"the old side would import {found}, not {site}'s code")


def pythonpath(site: Path | None) -> str:
    """This tree's bench package; `site`'s aitbc (an exported commit) before the installed
    (this tree's) one."""
    return os.pathsep.join([*([str(site)] if site else []), str(env.ROOT)])


def _subprocess_env(site: Path | None) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": pythonpath(site)}


def inprocess_round(site: Path | None, txs: int, workdir: Path) -> dict[str, float]:
    """One round of bench/finalize_block.py in a fresh process on `site`'s app (None: this tree's)."""
    out = subprocess.run([env.python(), "-m", "bench.baseline", "--inprocess", str(txs)], check=True,
                         capture_output=True, text=True, env=_subprocess_env(site), cwd=workdir)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _inprocess(txs: int) -> None:
    from types import SimpleNamespace

    from bench import finalize_block as fb

    made = fb.fresh_app

    def fresh_app(directory: str):
        app = made(directory)
        if not hasattr(app, "check_state"):  # before the check state's log: a reset was all there was
            app.check_state = SimpleNamespace(forget=app._reset_check_state)
        return app

    fb.fresh_app = fresh_app
    print(json.dumps(fb.one_round(txs, checktx_batch=1)))  # an app from before batches has no check_tx_batch


def chain_run(app: str, site: Path | None, seconds: float, workdir: Path) -> dict[str, Any]:
    """One saturated run of chain_throughput on `app` ('kvstore' or 'aitbc' from `site`)."""
    from bench import chain_throughput

    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = _subprocess_env(site)["PYTHONPATH"]
    try:
        with away_from_repository(workdir):
            load = os.getloadavg()
            run = chain_throughput.run(app, seconds, 5, rate_hint=16_000 if app == "kvstore" else 12_000,
                                       mempool_size=SATURATION_MEMPOOL)
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved
    run.pop("series")
    return {"committed_tx_per_s": run["committed_tx_per_s"], "txs_per_block": run["txs_per_block"]["median"],
            "block_interval_s": run["block_interval_s"]["median"], "cpu_util": run["cpu_util"],
            "backlog_at_proposal_min": run["backlog_at_proposal"]["min"], "load_before": [round(x, 2) for x in load],
            "app_counters": run.get("app_counters")}


def measure(rev: str, rounds: int, seconds: float, txs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="aitbc-baseline-") as directory:
        workdir = Path(directory)
        site = export(rev, workdir / "rev")
        described = subprocess.run(["git", "-C", str(env.ROOT), "log", "-1", "--format=%h %s", rev],
                                   check=True, capture_output=True, text=True).stdout.strip()
        inprocess: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
        chain: dict[str, list[dict[str, Any]]] = {"kvstore": [], "before": [], "after": []}
        for i in range(rounds):
            for label, where in (("before", site), ("after", None)) if i % 2 == 0 else (("after", None), ("before", site)):
                inprocess[label].append(inprocess_round(where, txs, workdir))
                env.log(f"baseline in process {label}: {inprocess[label][-1]}")
            if seconds:
                for label, app, where in (("kvstore", "kvstore", None), ("before", "aitbc", site), ("after", "aitbc", None)):
                    chain[label].append(chain_run(app, where, seconds, workdir))
                    env.log(f"baseline chain {label}: {chain[label][-1]['committed_tx_per_s']} tx/s")
    per_tx = {label: {key: env.spread([r[key] for r in runs]) for key in runs[0]} for label, runs in inprocess.items()}
    out: dict[str, Any] = {"rev": rev, "rev_described": described, "rounds": rounds, "txs_per_block": txs,
                           "inprocess_us_per_tx": per_tx, "chain": chain, "chain_seconds": seconds,
                           "mempool_size": SATURATION_MEMPOOL}
    if seconds:
        rates = {label: [r["committed_tx_per_s"] for r in runs] for label, runs in chain.items()}
        out["chain_tx_per_s"] = {label: env.spread(values) for label, values in rates.items()}
        # Each round's ratio: its kvstore run came right before, under the same load.
        out["saturated_ratio"] = {label: env.spread([a / k for a, k in zip(rates[label], rates["kvstore"]) if k], 3)
                                  for label in ("before", "after")}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rev", nargs="?")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20, help="of each chain run; 0: in process only")
    parser.add_argument("--txs", type=int, default=2000)
    parser.add_argument("--inprocess", type=int, metavar="TXS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inprocess:
        _inprocess(args.inprocess)
        return
    if not args.rev:
        parser.error("name the older commit (REV)")
    result = measure(args.rev, args.rounds, args.seconds, args.txs)
    env.write_result("baseline", result)
    print(json.dumps({k: v for k, v in result.items() if k not in ("chain", "inprocess_us_per_tx")}))


if __name__ == "__main__":
    sys.exit(main())
