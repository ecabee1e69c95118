"""A Prometheus server for a testnet: its scrape config, generated from
testnet.json, and the `prometheus` process (Debian's package), started
detached beside the nodes and stopped with them.

Layout:  DIR/prometheus/prometheus.yml · data/ (its TSDB) · prometheus.out

Jobs scraped: `cometbft` (each node's own metrics), `app` (each node's ABCI
app), `coordinator` and `miner` (their /metrics), each target labelled with
the node or service it is.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from aitbc.ops import procs

if TYPE_CHECKING:
    from aitbc.ops.testnet import Testnet

DEFAULT_PORT = 9090            # where the flowchart puts Prometheus
SCRAPE_INTERVAL = "2s"         # blocks come every second or so; a default 1 m would show nothing in a demo
FOLDER = "prometheus"
NAME = "prometheus"


class MonitoringError(RuntimeError):
    """Prometheus missing or not starting."""


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if not found:
        raise MonitoringError("`prometheus` is not installed: run scripts/setup.sh as root "
                              "(it installs Debian's prometheus package), or apt-get install prometheus")
    return found


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"


def scrape_targets(data: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Static targets per job, from a testnet's recorded state (testnet.json)."""
    jobs: dict[str, list[dict[str, Any]]] = {"cometbft": [], "app": [], "coordinator": [], "miner": []}
    for node in data["nodes"]:
        ports = node["ports"]
        for job, port in (("cometbft", ports.get("metrics")), ("app", ports.get("app_metrics"))):
            if port:
                jobs[job].append({"targets": [f"127.0.0.1:{port}"], "labels": {"node": f"node{node['index']}"}})
    services = data.get("services", {})
    coordinator = services.get("coordinator")
    if coordinator and coordinator.get("ok"):
        jobs["coordinator"].append({"targets": [_host_port(coordinator["url"])], "labels": {"service": "coordinator"}})
    for miner in services.get("miners", []):
        if miner.get("ok"):
            jobs["miner"].append({"targets": [_host_port(miner["url"])], "labels": {"service": miner["name"]}})
    return {job: targets for job, targets in jobs.items() if targets}


def render_config(targets: dict[str, list[dict[str, Any]]], interval: str = SCRAPE_INTERVAL) -> str:
    """prometheus.yml for these targets. JSON is YAML, so no YAML writer is needed."""
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [{"job_name": job, "metrics_path": "/metrics", "static_configs": static}
                           for job, static in targets.items()],
    }
    return json.dumps(config, indent=2) + "\n"


def write_config(directory: Path, data: dict[str, Any]) -> Path:
    """Write DIR/prometheus/prometheus.yml for the testnet in `directory`; returns its path."""
    folder = directory / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "prometheus.yml"
    path.write_text(render_config(scrape_targets(data)))
    return path


def choose_port(preferred: int = DEFAULT_PORT) -> int:
    """`preferred` when nothing listens there, else a free port."""
    return procs.free_port() if procs.port_open(preferred) else preferred


def start(directory: Path, data: dict[str, Any], port: int | None = None, timeout: float = 30) -> dict[str, Any]:
    """Start Prometheus on `port` (default: 9090, or a free one when that is taken) scraping the
    testnet in `directory`. Returns its service entry (name, pid, url, config, log, ok[, error]);
    the caller records it in testnet.json, whose `stop` then ends it (its command line names
    `directory`)."""
    binary = prometheus_binary()
    config = write_config(directory, data)
    port = port or choose_port()
    folder = directory / FOLDER
    log = folder / "prometheus.out"
    cmd = [binary, f"--config.file={config}", f"--storage.tsdb.path={folder / 'data'}",
           f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=7d"]
    proc = procs.spawn(cmd, log)
    url = f"http://127.0.0.1:{port}"
    entry: dict[str, Any] = {"name": NAME, "pid": proc.pid, "url": url, "config": str(config), "log": str(log)}
    try:
        procs.wait_until(lambda: httpx.get(f"{url}/-/ready", timeout=1).status_code == 200, timeout,
                         "prometheus", proc, log)
        entry["ok"] = True
    except (RuntimeError, TimeoutError) as err:
        procs.stop(proc)
        entry["ok"], entry["error"] = False, str(err)
    return entry


def targets_health(url: str) -> dict[str, str]:
    """'job/instance' -> 'up' | 'down' | 'unknown', from Prometheus' /api/v1/targets."""
    answer = httpx.get(f"{url}/api/v1/targets", timeout=5).json()
    return {f"{t['labels']['job']}/{t['labels']['instance']}": t["health"]
            for t in answer["data"]["activeTargets"]}


def query(url: str, promql: str) -> list[dict[str, Any]]:
    """The result vector of an instant query."""
    answer = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=5).json()
    if answer.get("status") != "success":
        raise MonitoringError(f"query {promql!r} failed: {answer.get('error')}")
    return answer["data"]["result"]


def start_for_testnet(net: "Testnet", port: int | None = None, timeout: float = 30) -> dict[str, Any]:
    """Start Prometheus for a running testnet (after its services, so they are scraped too)
    and record it among the testnet's services, which `Testnet.stop` ends."""
    entry = start(net.directory, net.data, port, timeout)
    if entry["ok"]:
        net.data.setdefault("services", {})[NAME] = entry
        net.save()
    return entry
