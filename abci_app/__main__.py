"""Run the ABCI application: python -m aitbc.abci_app --home DIR [--address tcp://127.0.0.1:26658]
[--metrics-address 127.0.0.1:26661] [--log-dir DIR] [--snapshot-interval N --snapshot-keep K]
[--verify-threads N]."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shutil
from pathlib import Path

from aitbc import collector, crypto
from aitbc.abci_app.app import VERIFY_THREADS, Application
from aitbc.abci_app.server import serve
from aitbc.abci_app.snapshots import DEFAULT_INTERVAL, DEFAULT_KEEP, Snapshots
from aitbc.abci_app.store import LevelDBStore
from aitbc.logs import resolve_log_file, setup_logging


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m aitbc.abci_app", description=__doc__)
    parser.add_argument("--home", required=True, help="node home; state goes to HOME/data/aitbc.db")
    parser.add_argument("--address", default="tcp://127.0.0.1:26658")
    parser.add_argument("--metrics-address", default="",
                        help="serve Prometheus metrics on HOST:PORT at /metrics [default: off]")
    parser.add_argument("--log-dir", type=Path,
                        help="folder of app.log (rotated) [env: AITBC_LOG_DIR; default: HOME/logs]")
    parser.add_argument("--snapshot-interval", type=int,
                        help="take a state-sync snapshot every N blocks, 0 = never "
                             f"[default: node.json snapshots.interval, else {DEFAULT_INTERVAL}]")
    parser.add_argument("--snapshot-keep", type=int,
                        help=f"keep the newest K snapshots [default: node.json snapshots.keep, else {DEFAULT_KEEP}]")
    parser.add_argument("--verify-threads", type=int, default=VERIFY_THREADS,
                        help="threads that check signatures in batches, this one included "
                             f"[default: half the cores, at most 4: {VERIFY_THREADS} here]")
    args = parser.parse_args(argv)
    if args.verify_threads < 1:
        parser.error("--verify-threads must be at least 1")
    try:
        crypto.require_chain_rule()
    except crypto.ChainRuleMissing as err:
        parser.exit(2, f"aitbc app: {err}\n")
    home = Path(args.home)
    setup_logging("app", resolve_log_file(home / "logs" / "app.log", args.log_dir))
    db_path = home / "data" / "aitbc.db"
    db_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(f"{db_path}.restore", ignore_errors=True)  # a state-sync restore cut short
    store = LevelDBStore(str(db_path))
    app = Application(store, snapshots=_snapshots(home, args), verify_threads=args.verify_threads)
    log = logging.getLogger("aitbc.app")
    if args.metrics_address:
        try:
            app.metrics.serve(args.metrics_address)
        except OSError as err:  # metrics are worth a warning, not a node that will not start
            log.warning("no metrics: cannot listen on %s (%s)", args.metrics_address, err.strerror)
    log.info("starting at height %d app_hash %s", app.height, app.app_hash.hex())
    collector.tune()
    try:
        asyncio.run(serve(app, args.address))
    finally:
        if app.snapshots is not None:
            app.snapshots.wait()
        store.close()


def _snapshots(home: Path, args: argparse.Namespace) -> Snapshots | None:
    """The node's snapshots (HOME/data/snapshots): flags first, then node.json's "snapshots"."""
    try:
        configured = json.loads((home / "node.json").read_text()).get("snapshots", {})
    except (OSError, ValueError):
        configured = {}
    interval = args.snapshot_interval if args.snapshot_interval is not None else configured.get("interval", DEFAULT_INTERVAL)
    keep = args.snapshot_keep if args.snapshot_keep is not None else configured.get("keep", DEFAULT_KEEP)
    # Kept even with interval 0: the node still restores snapshots and serves the ones it has.
    return Snapshots(home / "data" / "snapshots", interval=int(interval), keep=int(keep))


if __name__ == "__main__":
    main()
