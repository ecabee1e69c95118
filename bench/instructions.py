"""Instructions per transfer in CheckTx, counted by valgrind's callgrind: a figure that does
not move with the load of a shared machine, for changes too small for its CPU timings
(a tenth of CheckTx's Python work is within their spread from one minute to the next).

What is counted: CheckTx of `--txs` transfers in batches of 64, as bench/finalize_block.py
runs them, with their signatures checked beforehand (the Go runtime of the native verifier
does not run under valgrind), so the figure is the Python work: the check state, the
transition, the bookkeeping. Also the protobuf decoding and checks of a tx (`tx.parse`).
Each figure is the difference of two runs of this script under callgrind, one doing the
work and one stopping before it, over the number of txs. Python's own hash seed is fixed
in those runs, so that dict layouts, and the count, repeat.

Usage: python -m bench.instructions [--txs 1000]  (valgrind on PATH; about a minute and a half)
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

STEPS = ("base", "parse", "verified", "checktx")


def _work(step: str, txs: int) -> None:
    """One measured process: the app and `txs` signed transfers, then `step`'s work."""
    from aitbc import crypto, tx as txlib

    # The app refuses to start without the native verifier, which cannot run here; nothing
    # below checks a signature through it (CheckTx finds every tx verified already).
    crypto.require_chain_rule = lambda: None
    from bench.finalize_block import check, fresh_app, run_block, transfers, wallet

    with tempfile.TemporaryDirectory(prefix="aitbc-bench-") as directory:
        app, signer = fresh_app(directory), wallet()
        run_block(app, [], warm=True)
        pool = transfers(signer, txs)
        if step == "parse":
            for raw in pool:
                txlib.parse(raw)
        elif step in ("verified", "checktx"):
            for raw in pool:
                app._remember(txlib.decode(raw))  # noqa: SLF001 - verified ahead, as a batch would have been
            if step == "checktx":
                check(app, pool, batch=64)


def count(step: str, txs: int) -> int:
    """Instructions callgrind counts for a run of `_work(step, txs)`."""
    env = {**os.environ, "AITBC_ED25519_LIB": os.devnull, "PYTHONHASHSEED": "0"}  # libsodium signs and checks here
    proc = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={os.devnull}", sys.executable,
                           "-m", "bench.instructions", "--work", step, "--txs", str(txs)],
                          capture_output=True, text=True, env=env, check=False)
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or found is None:
        raise RuntimeError(f"callgrind run of {step} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return int(found.group(1))


def measure(txs: int) -> dict[str, float]:
    """Instructions per tx: CheckTx of a verified transfer (batched), and parsing one."""
    totals = {step: count(step, txs) for step in STEPS}
    return {"txs": txs,
            "checktx_verified_per_tx": round((totals["checktx"] - totals["verified"]) / txs),
            "parse_per_tx": round((totals["parse"] - totals["base"]) / txs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--txs", type=int, default=1000)
    parser.add_argument("--work", choices=STEPS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.work:
        _work(args.work, args.txs)
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    print(json.dumps(measure(args.txs)))


if __name__ == "__main__":
    main()
