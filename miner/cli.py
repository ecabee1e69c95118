"""`aitbc miner start|status` (also `python -m aitbc.miner`).

Flags override AITBC_MINER_* environment variables, which override defaults.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from pathlib import Path

import click
import httpx
from pydantic import ValidationError

from aitbc.logs import resolve_log_file, setup_logging
from aitbc.miner.registration import SEED_RE
from aitbc.miner.settings import MinerSettings

DEFAULT_MINER_URL = "http://127.0.0.1:18001"


class MinerCLIError(click.ClickException):
    exit_code = 1


class MinerUnreachable(MinerCLIError):
    exit_code = 3


# (flag, settings field, click type, help) for `start`; None values are left to env and defaults.
START_OPTIONS = [
    ("--key", "key", str, "keyring name or address [env: AITBC_MINER_KEY, which may also hold a hex seed; "
                          "default: miner1]"),
    ("--node", "node", str, "chain node RPC URL [env: AITBC_NODE; default: http://127.0.0.1:26657]"),
    ("--coordinator-url", "coordinator_url", str, "coordinator URL [env: AITBC_URL; default: http://127.0.0.1:18000; "
                                                  "empty: no coordinator]"),
    ("--host", "host", str, "address to listen on [default: 127.0.0.1]"),
    ("--port", "port", int, "port to listen on [default: 18001]"),
    ("--endpoint", "endpoint", str, "public URL the coordinator calls [default: http://HOST:PORT]"),
    ("--ollama-url", "ollama_url", str, "Ollama URL [default: http://127.0.0.1:11434]"),
    ("--capacity", "capacity", int, "jobs run at once [default: 1]"),
    ("--stake", "stake", str, "stake, e.g. 100aitbc [default: the chain's minimum]"),
    ("--price", "price_per_second", str, "price per compute second, e.g. 0.02aitbc [default: chain param]"),
    ("--ms-per-token", "ms_per_token", int, "ceiling on billed ms per token; a job pays at most tokens x this "
                                            "[default: the chain's max_ms_per_token]"),
    ("--ollama-timeout", "ollama_timeout_s", float, "seconds one generation may take; never more than the chain's "
                                                 "job_timeout_s less 10 % (min 5 s), so a stuck job is given up "
                                                 "before it expires [default: 300]"),
    ("--num-thread", "num_thread", int, "Ollama num_thread for every job [default: Ollama's choice]"),
    ("--heartbeat-interval", "heartbeat_interval_s", float, "seconds between heartbeats [default: 5]"),
    ("--report-retry", "report_retry_s", float, "seconds to retry an unacknowledged result [default: 300]"),
    ("--resync-interval", "resync_interval_s", float, "seconds between re-reads of the chain's open jobs, besides "
                                                      "its websocket events [default: 30]"),
    ("--data-dir", "data_dir", click.Path(file_okay=False), "log and outbox directory [default: $AITBC_HOME/miner]"),
    ("--log-level", "log_level", click.Choice(["debug", "info", "warning", "error"]), "[default: info]"),
    ("--fault-tamper-share", "fault_tamper_share", click.FloatRange(0, 1),
     "TEST ONLY: share of results falsified before signing, to exercise spot checks [default: 0]"),
    ("--fault-inflate-time", "fault_inflate_time_x", click.FloatRange(1, 1_000_000),
     "TEST ONLY: claim this multiple of the measured compute time, to exercise metering [default: 1]"),
]


@click.group("miner")
def miner() -> None:
    """Run an AITBC miner: serve inference jobs from the coordinator and the chain on a local Ollama."""


def _start_options(f):
    for flag, field, kind, help_text in reversed(START_OPTIONS):
        f = click.option(flag, field, type=kind, default=None, help=help_text)(f)
    f = click.option("--no-coordinator", "no_coordinator", is_flag=True, default=None,
                     help="serve only direct jobs from the chain; never call a coordinator "
                          "[env: AITBC_MINER_NO_COORDINATOR]")(f)
    f = click.option("--log-dir", "log_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
                     help="folder of miner.log (rotated at 10 MiB, 5 kept) [env: AITBC_LOG_DIR; default: the data dir]")(f)
    return click.option("--model", "models", multiple=True,
                        help="model to offer (repeat); default: every model Ollama has")(f)


@miner.command()
@_start_options
def start(**flags) -> None:
    """Check Ollama and the chain, register, and serve assignments until Ctrl-C.

    The miner registers its encryption key and watches the chain (the node's websocket) for
    direct jobs assigned to it in any case; with a coordinator it also takes the jobs the
    coordinator pushes."""
    log_dir = flags.pop("log_dir", None)
    if not flags.get("no_coordinator"):
        flags.pop("no_coordinator", None)  # absent: the environment decides
    overrides = {k: v for k, v in flags.items() if v not in (None, ())}
    if "models" in overrides:
        overrides["models"] = list(overrides["models"])
    try:
        settings = MinerSettings(**overrides)
    except ValidationError as exc:
        raise MinerCLIError(f"invalid settings: {exc}") from None
    if "key" in overrides and SEED_RE.match(overrides["key"]):
        # argv is readable by every local user (`ps`); the environment is not.
        click.echo("warning: a key seed given with --key is visible to other users in `ps`; "
                   "set AITBC_MINER_KEY instead", err=True)
    _check_port(settings.host, settings.port)
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    settings.home.chmod(0o700)  # log and outbox hold clients' prompts' answers: owner only
    log_file = resolve_log_file(settings.log_file, log_dir)
    _setup_logging(settings, log_file)
    log_file.chmod(0o600)
    click.echo(f"miner log: {log_file}", err=True)
    asyncio.run(_serve(settings))


def _setup_logging(settings: MinerSettings, log_file: Path) -> None:
    level = getattr(logging, settings.log_level.upper())
    setup_logging("miner", log_file, level)
    # One line per HTTP call (heartbeats every few seconds) buries the events that matter.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(level if level <= logging.DEBUG else logging.WARNING)


def _check_port(host: str, port: int) -> None:
    # Before registering on chain: an endpoint nobody can serve would attract jobs.
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise MinerCLIError(f"cannot listen on {host}:{port} ({exc.strerror}): pass another --port") from None


async def _serve(settings: MinerSettings) -> None:
    import uvicorn

    from aitbc.miner.app import create_app
    from aitbc.miner.daemon import MinerDaemon
    from aitbc.miner.registration import StartupError

    daemon = None
    try:
        daemon = MinerDaemon(settings)
        await daemon.start()
        config = uvicorn.Config(create_app(settings, daemon), host=settings.host, port=settings.port,
                                log_config=None, access_log=False, log_level=settings.log_level)
        await uvicorn.Server(config).serve()
    except StartupError as exc:
        raise MinerCLIError(str(exc)) from None
    finally:
        if daemon is not None:
            await daemon.stop()


@miner.command()
@click.option("--url", envvar="AITBC_MINER_URL", default=DEFAULT_MINER_URL, show_default=True,
              help="the miner's URL [env: AITBC_MINER_URL]")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def status(url: str, as_json: bool) -> None:
    """Show a running miner's health: Ollama, models, capacity, active jobs."""
    try:
        response = httpx.get(url.rstrip("/") + "/health", timeout=10)
        health = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise MinerUnreachable(f"no miner answering at {url}: {exc}") from None
    if as_json:
        click.echo(json.dumps(health, indent=2))
    else:
        for key in ("status", "address", "chain_id", "models", "capacity", "active_jobs", "ollama", "coordinator",
                    "chain_events", "pending_reports"):
            value = health.get(key)
            click.echo(f"{key + ':':17} {', '.join(value) if isinstance(value, list) else value}")
    if health.get("status") != "ok":
        raise SystemExit(2)


def main() -> None:
    miner(prog_name="python -m aitbc.miner")
