"""Run the ABCI application: python -m aitbc.abci_app --home DIR [--address tcp://127.0.0.1:26658]
[--metrics-address 127.0.0.1:26661] [--log-dir DIR]."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from aitbc.abci_app.app import Application
from aitbc.abci_app.server import serve
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
    args = parser.parse_args(argv)
    home = Path(args.home)
    setup_logging("app", resolve_log_file(home / "logs" / "app.log", args.log_dir))
    db_path = home / "data" / "aitbc.db"
    db_path.parent.mkdir(parents=True, exist_ok=True)
    store = LevelDBStore(str(db_path))
    app = Application(store)
    log = logging.getLogger("aitbc.app")
    if args.metrics_address:
        try:
            app.metrics.serve(args.metrics_address)
        except OSError as err:  # metrics are worth a warning, not a node that will not start
            log.warning("no metrics: cannot listen on %s (%s)", args.metrics_address, err.strerror)
    log.info("starting at height %d app_hash %s", app.height, app.app_hash.hex())
    try:
        asyncio.run(serve(app, args.address))
    finally:
        store.close()


if __name__ == "__main__":
    main()
