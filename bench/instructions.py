"""Instructions per transfer in CheckTx, counted by valgrind's callgrind: a figure that does
not move with the load of a shared machine, for changes too small for its CPU timings
(a tenth of CheckTx's Python work is within their spread from one minute to the next).

What is counted, as bench/finalize_block.py runs it: CheckTx of two blocks' worth of
transfers (`--txs` each) in batches of 64, FinalizeBlock of the first block with its
Commit, and the RECHECK of the rest; the signatures are checked beforehand (the Go runtime
of the native verifier does not run under valgrind), so the figures are the Python work:
the check state, the transition, the bookkeeping. Also the protobuf decoding and checks of
a tx (`tx.parse`), which CheckTx does before the signature check.
Each figure is the difference of two runs of this script under callgrind, one doing the
work and one stopping before it, over the number of txs. Python's own hash seed is fixed
in those runs, so that dict layouts, and the count, repeat.

Usage: python -m bench.instructions [REV] [--txs 1000]  (valgrind on PATH; about four minutes,
twice that with REV: its app counted too, exported as bench/baseline.py exports it)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import baseline

# Each step does what the one before it did, then more (`parse` stands alone beside `base`).
STEPS = ("base", "parse", "verified", "checktx", "finalize", "recheck")


def _work(step: str, txs: int) -> None:
    """One measured process: the app and 2 x `txs` signed transfers (a mempool of two blocks'
    worth, as in bench/finalize_block.py), then `step`'s work."""
    from aitbc import crypto, tx as txlib

    # The app refuses to start without the native verifier, which cannot run here; nothing
    # below checks a signature through it (CheckTx finds every tx verified already).
    crypto.require_chain_rule = lambda: None
    from bench.finalize_block import check, finalize_ok, fresh_app, run_block, transfers, wallet

    with tempfile.TemporaryDirectory(prefix="aitbc-bench-") as directory:
        app, signer = fresh_app(directory), wallet()
        run_block(app, [], warm=True)
        pool = transfers(signer, 2 * txs)
        if step == "parse":
            for raw in pool:
                txlib.parse(raw)
            return
        done = STEPS.index(step)
        if done >= STEPS.index("verified"):
            for raw in pool:
                app._remember(txlib.decode(raw))  # noqa: SLF001 - verified ahead, as a batch would have been
        if done >= STEPS.index("checktx"):
            check(app, pool, batch=64)
        if done >= STEPS.index("finalize"):
            finalize_ok(app, pool[:txs])  # the block takes the first half, as CheckTx applied it; then Commit
        if done >= STEPS.index("recheck"):
            check(app, pool[txs:], recheck=True)


def count(step: str, txs: int, site: Path | None = None) -> int:
    """Instructions callgrind counts for a run of `_work(step, txs)` on `site`'s app (an
    exported commit: bench/baseline.py) or, with None, this tree's."""
    env = {**os.environ, "PYTHONPATH": baseline.pythonpath(site),
           "AITBC_ED25519_LIB": os.devnull,  # libsodium signs and checks here
           "PYTHONHASHSEED": "0"}
    proc = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={os.devnull}", sys.executable,
                           "-m", "bench.instructions", "--work", step, "--txs", str(txs)],
                          capture_output=True, text=True, env=env, check=False)
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or found is None:
        raise RuntimeError(f"callgrind run of {step} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return int(found.group(1))


def measure(txs: int, site: Path | None = None) -> dict[str, float]:
    """Instructions per transfer: CheckTx of one already verified (batched), FinalizeBlock of a
    block CheckTx applied (Commit included), the RECHECK after it, and parsing a tx."""
    totals = {step: count(step, txs, site) for step in STEPS}
    out = {"txs_per_block": txs,
           "checktx_verified_per_tx": round((totals["checktx"] - totals["verified"]) / (2 * txs)),
           "finalize_per_tx": round((totals["finalize"] - totals["checktx"]) / txs),
           "recheck_per_tx": round((totals["recheck"] - totals["finalize"]) / txs),
           "parse_per_tx": round((totals["parse"] - totals["base"]) / (2 * txs))}
    out["checktx_recheck_finalize_per_tx"] = sum(out[k] for k in ("checktx_verified_per_tx", "finalize_per_tx",
                                                                  "recheck_per_tx"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rev", nargs="?", help="also count the app of this commit (before / after)")
    parser.add_argument("--txs", type=int, default=1000, help="per block")
    parser.add_argument("--work", choices=STEPS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.work:
        _work(args.work, args.txs)
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="aitbc-instructions-") as directory:
        workdir = Path(directory)
        # Started outside the repository, or an exported commit would run this tree's code.
        with baseline.away_from_repository(workdir):
            if not args.rev:
                print(json.dumps(measure(args.txs)))
                return
            site = baseline.export(args.rev, workdir / "rev")
            baseline.check_imports_from(site, {"PYTHONPATH": baseline.pythonpath(site)})
            print(json.dumps({"rev": args.rev, "before": measure(args.txs, site), "after": measure(args.txs)}))


if __name__ == "__main__":
    main()
