"""`aitbc testnet up`: create (or restart) a testnet, start every node detached, wait for blocks."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import click

from aitbc.ops import monitoring, nodehome, testnet as tn
from aitbc.crypto import PrivateKey
from aitbc.keyring import KeyError_
from aitbc.ops.tools import ToolMissing
from aitbc.cli.context import CLIError, Context, json_option, pass_ctx
from aitbc.cli.testnet.folder import DIR, default_dir


def _dev_keys(ctx: Context, miners: int) -> dict[str, PrivateKey]:
    """The keyring's dev keys (created when missing), as `aitbc node init` uses them, plus miner2..K."""
    names = list(nodehome.DEV_ACCOUNTS) + [f"miner{k}" for k in range(2, miners + 1)]
    keys = {}
    for name in names:
        try:
            keys[name] = ctx.keyring.get(name)
        except KeyError_:
            keys[name] = ctx.keyring.add(name)
    return keys


def _prepare(ctx: Context, directory: Path, validators: int, full_nodes: int, chain_id: str, base_port: int | None,
             params: dict[str, int], miners: int, force: bool) -> tn.Testnet:
    """A new testnet in `directory`, or the existing one there (restarted as it was)."""
    if (directory / tn.STATE_FILE).exists():
        net = tn.Testnet.load(directory)
        if net.any_running():
            raise CLIError(f"the testnet in {directory} is already running: `aitbc testnet down` first")
        if not force:
            ctx.progress(f"restarting the existing testnet in {directory} (--force for a new chain)")
            return net
    if directory.exists() and any(directory.iterdir()):
        if not force:
            raise CLIError(f"{directory} is not empty; use --force to start a new chain there")
        shutil.rmtree(directory)
    return tn.create(directory, validators, _dev_keys(ctx, miners), chain_id=chain_id, params=params,
                     full_nodes=full_nodes, base_port=base_port)


@click.command("up")
@click.option("--validators", "-n", type=click.IntRange(1, tn.MAX_NODES), default=4, show_default=True)
@click.option("--full-nodes", type=click.IntRange(0, tn.MAX_NODES - 1), default=0, show_default=True,
              help="Non-validating nodes besides the validators.")
@DIR
@click.option("--chain-id", default="aitbc-testnet", show_default=True)
@click.option("--base-port", type=int, default=None,
              help="Node i uses BASE+10i (p2p), +1 (rpc), +2 (abci), +3 (cometbft metrics), +4 (app metrics) "
                   "[default: free ports].")
@click.option("--pending-timeout", default=60, show_default=True, help="Seconds an unassigned job waits.")
@click.option("--job-timeout", default=600, show_default=True, help="Seconds an assigned job may run.")
@click.option("--with-coordinator", is_flag=True, help="Also start `python -m aitbc.coordinator start` against node 0.")
@click.option("--miners", type=click.IntRange(0, 16), default=0, show_default=True,
              help="Also start K miners (`python -m aitbc.miner start`, keys miner1..K; need Ollama).")
@click.option("--ollama-url", default=None, help="Ollama for the miners [default: the miner's default].")
@click.option("--miner-model", "miner_models", multiple=True, help="Model the miners offer (repeatable).")
@click.option("--with-monitoring", is_flag=True,
              help="Also start Prometheus (Debian's `prometheus`) scraping every node, app, coordinator and miner.")
@click.option("--prometheus-port", type=int, default=None,
              help="Prometheus' port [default: 9090, or a free one when 9090 is taken].")
@click.option("--force", is_flag=True, help="Delete DIR first (its chain data is lost).")
@click.option("--timeout", default=90.0, show_default=True, help="Seconds to wait for the first blocks.")
@json_option
@pass_ctx
def up(ctx: Context, validators: int, full_nodes: int, directory: Path | None, chain_id: str, base_port: int | None,
       pending_timeout: int, job_timeout: int, with_coordinator: bool, miners: int, ollama_url: str | None,
       miner_models: tuple[str, ...], with_monitoring: bool, prometheus_port: int | None, force: bool,
       timeout: float) -> None:
    """Create (or restart) the testnet in DIR, start every node detached, wait for blocks."""
    if validators + full_nodes > tn.MAX_NODES:
        raise click.BadParameter(f"at most {tn.MAX_NODES} nodes in all", param_hint="--full-nodes")
    directory = (directory or default_dir()).resolve()
    params = {"pending_timeout_s": pending_timeout, "job_timeout_s": job_timeout}
    try:
        net = _prepare(ctx, directory, validators, full_nodes, chain_id, base_port, params, miners, force)
    except (ToolMissing, tn.NetError) as err:
        raise CLIError(str(err)) from None
    except subprocess.CalledProcessError as err:
        raise CLIError(f"{' '.join(map(str, err.cmd))} failed: {(err.stderr or b'').decode().strip()}") from None
    ctx.progress(f"starting {len(net.nodes)} nodes in {directory}")
    _start_chain(net, timeout)
    services = _start_services(ctx, net, with_coordinator, miners, ollama_url, miner_models)
    if with_monitoring:
        services.append(_start_monitoring(ctx, net, prometheus_port))
    _report(ctx, net, directory, services)


def _start_chain(net: tn.Testnet, timeout: float) -> None:
    """Start every node and wait for a new block; on any failure, stop what started. Raises CLIError."""
    try:
        net.start(timeout=timeout)
        # a restarted chain answers with its stored height at once: wait for a new block
        stored = max((h or 0) for h in net.heights().values())
        net.wait_for_height(max(2, stored + 1), timeout)
    except (RuntimeError, TimeoutError) as err:
        net.stop()  # nothing left behind when the start fails
        raise CLIError(f"testnet did not start: {err}") from None
    except BaseException:  # Ctrl-C included
        net.stop()
        raise


def _report(ctx: Context, net: tn.Testnet, directory: Path, services: list[dict]) -> None:
    nodes = [{"index": n.index, "rpc": n.rpc, "validator": n.validator, "home": n.home} for n in net.nodes]
    out = {"chain_id": net.chain_id, "directory": str(directory), "nodes": nodes, "services": services}
    lines = [f"testnet {net.chain_id} up in {directory}, making blocks"]
    lines += [f"  node{n['index']}  {n['rpc']}  {'validator' if n['validator'] else 'full node'}" for n in nodes]
    for entry in services:
        error = entry.get("error", "").splitlines() or [""]
        # first line says what happened, the log's last line usually why
        state = entry.get("url", "") if entry["ok"] else f"FAILED: {error[0]} {error[-1]} (log {entry['log']})"
        if entry["ok"] and entry.get("client_api_key"):
            state += f"  client API key {entry['client_api_key']}"
        lines.append(f"  {entry['name']:<11} {state}")
    lines.append(f'use it: eval "$(aitbc testnet env{_dir_flag(directory)})"')
    ctx.emit(out, "\n".join(lines))


def _start_monitoring(ctx: Context, net: tn.Testnet, port: int | None) -> dict:
    """Prometheus over everything started so far; like the services, a failure is reported, not fatal."""
    ctx.progress("starting prometheus")
    try:
        return monitoring.start_for_testnet(net, port)
    except monitoring.MonitoringError as err:
        return {"name": monitoring.NAME, "ok": False, "error": str(err), "log": "-"}


def _dir_flag(directory: Path) -> str:
    return "" if directory == default_dir().resolve() else f" --dir {shlex.quote(str(directory))}"


def _start_services(ctx: Context, net: tn.Testnet, with_coordinator: bool, miners: int, ollama_url: str | None,
                    models: tuple[str, ...]) -> list[dict]:
    """Best effort: a service that fails to start is reported, the chain stays up."""
    started = []
    if not (with_coordinator or miners):
        return started
    ctx.progress("starting the coordinator")
    coordinator = tn.start_coordinator(net)
    started.append(coordinator)
    for k in range(1, miners + 1):
        if not coordinator["ok"]:
            break
        ctx.progress(f"starting miner{k}")
        started.append(tn.start_miner(net, f"miner{k}", coordinator["url"], node=(k - 1) % len(net.nodes),
                                      ollama_url=ollama_url, models=models))
    return started
