"""`coordinator` commands: `start` the service, `add-key` for a client or admin.
Mounted by the main CLI as `aitbc coordinator ...`; also `python -m aitbc.coordinator`."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click

from aitbc.coordinator.apikeys import ROLES, ApiKeys
from aitbc.coordinator.settings import CoordinatorSettings
from aitbc.coordinator.store import Store, private_dir, private_files

GRACE_S = 5  # seconds held requests may still finish after SIGTERM (below a supervisor's usual 10)


def _settings(**flags: Any) -> CoordinatorSettings:
    """Environment first, flags given on the command line on top."""
    return CoordinatorSettings(**{k: v for k, v in flags.items() if v is not None})


@click.group("coordinator")
def coordinator() -> None:
    """The AITBC coordinator service (job intake, miner selection, receipts)."""


@coordinator.command("start")
@click.option("--host", help="Listen address [env: AITBC_COORDINATOR_HOST; default: 127.0.0.1].")
@click.option("--port", type=int, help="Listen port [env: AITBC_COORDINATOR_PORT; default: 18000].")
@click.option("--node", help="CometBFT RPC URL [env: AITBC_NODE; default: http://127.0.0.1:26657].")
@click.option("--data-dir", type=click.Path(path_type=Path), help="SQLite store and log [default: $AITBC_HOME/coordinator].")
@click.option("--key", help="Keyring name of the coordinator's chain key [default: coordinator].")
@click.option("--register-url", help="Not the genesis coordinator: register this key on chain at start, with this "
                                     "URL for clients, unless it is registered [env: AITBC_COORDINATOR_REGISTER_URL].")
@click.option("--bond", help="Bond for --register-url, e.g. 100 (AITBC) [env: AITBC_COORDINATOR_BOND; "
                             "default: the chain's min_coordinator_bond].")
@click.option("--queue-timeout", "queue_timeout_s", type=float, help="Seconds a job may wait for a miner [default: 60].")
@click.option("--miner-offline-after", "miner_offline_after_s", type=float,
              help="Seconds without heartbeat before a miner is offline [default: 15].")
@click.option("--rate-limit", "rate_limit_per_minute", type=float, help="Requests per minute per API key [default: 120].")
@click.option("--burst", "rate_limit_burst", type=int, help="Requests allowed at once per API key [default: 20].")
@click.option("--client-api-key-file", "client_api_keys_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Accept the client keys in this file, one a line [env: AITBC_COORDINATOR_CLIENT_API_KEYS_FILE; "
                   "or the keys themselves, comma-separated, in AITBC_COORDINATOR_CLIENT_API_KEYS].")
@click.option("--admin-api-key-file", "admin_api_keys_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Accept the admin keys in this file [env: AITBC_COORDINATOR_ADMIN_API_KEYS_FILE; or "
                   "AITBC_COORDINATOR_ADMIN_API_KEYS].")
@click.option("--allow-private-endpoints/--refuse-private-endpoints", "allow_private_endpoints", default=None,
              help="Call miner endpoints on loopback/private/link-local addresses (local testnets) "
                   "[env: AITBC_COORDINATOR_ALLOW_PRIVATE_ENDPOINTS; default: refuse].")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@click.option("--log-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Folder of coordinator.log (rotated at 10 MiB, 5 kept) [env: AITBC_LOG_DIR; default: the data dir].")
@click.option("--access-log/--no-access-log", default=False,
              help="A log line per HTTP request (uvicorn's access log) [default: off: the coordinator logs "
                   "each job's events, /metrics counts requests by route and status, and a client polling "
                   "its job would be most of the log].")
def start(log_level: str, log_dir: Path | None, access_log: bool, **flags: Any) -> None:
    """Run the coordinator (uvicorn) until Ctrl-C.

    Its key is the chain's genesis coordinator or one registered on chain (`aitbc tx
    register-coordinator`, or --register-url here); it takes only jobs whose submit_job
    names it (GET /v1/chain: job_coordinator).

    API keys are never taken on the command line, which every local user can read
    with `ps`: pass them in the environment or in a 0600 file.
    """
    import uvicorn

    from aitbc import collector
    from aitbc.logs import resolve_log_file, setup_logging
    from aitbc.coordinator.http.app import create_app
    from aitbc.coordinator.core import StartupError

    settings = _settings(**flags)
    # The log names jobs and miners' answers: in the private data dir, owner-only like the db.
    private_dir(settings.data_dir)
    log_path = resolve_log_file(settings.log_path, log_dir)
    # A console that can block (a pipe, a terminal) through a thread of its own; files on the event loop (aitbc/logs.py).
    setup_logging("coordinator", log_path, getattr(logging, log_level.upper()), writer_thread=True)
    private_files(log_path)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per RPC call is noise
    try:
        app = create_app(settings)
    except StartupError as err:
        raise click.ClickException(str(err)) from None
    logging.getLogger("coordinator").info("starting", extra={
        "event": "starting", "host": settings.host, "port": settings.port, "node": settings.node,
        "data_dir": str(settings.data_dir), "queue_timeout_s": settings.queue_timeout_s})
    collector.tune()
    # log_config=None: uvicorn's records go through our JSON handlers too.
    # Held requests (long polls, event streams) are cut GRACE_S after a SIGTERM, so the app's
    # shutdown (the log's last lines, the chain client) runs before a supervisor's SIGKILL.
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, log_level=log_level,
                access_log=access_log, timeout_graceful_shutdown=GRACE_S)


@coordinator.command("add-key")
@click.option("--role", type=click.Choice(ROLES), default="client", show_default=True)
@click.option("--label", default="", help="A note to remember whose key it is.")
@click.option("--data-dir", type=click.Path(path_type=Path), help="The coordinator's data dir.")
def add_key(role: str, label: str, data_dir: Path | None) -> None:
    """Create an API key and print it (only its hash is stored)."""
    settings = _settings(data_dir=data_dir)
    store = Store(settings.db_path)
    try:
        key = ApiKeys(store, settings.api_key_pepper).create(role, label)
    finally:
        store.close()
    click.echo(key)
    click.echo(f"{role} key stored (hashed) in {settings.db_path}", err=True)


def main() -> None:
    coordinator(prog_name="python -m aitbc.coordinator")


if __name__ == "__main__":
    sys.exit(main())
