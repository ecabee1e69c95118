"""A single-node chain home: cometbft config + genesis app_state + dev keys,
and running the app and `cometbft` together.

Layout of HOME:  node.json (ports, chain id) · cometbft/ (cometbft's home) ·
data/aitbc.db (app state, LevelDB) · logs/{app,node}.log
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import httpx

from aitbc.ops import procs, tools
from aitbc.crypto import PrivateKey

DEV_ACCOUNTS = ("validator", "coordinator", "alice", "bob", "miner1")
DEV_BALANCE = 1_000_000_000_000  # 1 000 000 AITBC each
CONFIG_DIR = Path(__file__).resolve().parent / "cometbft-config"  # package data


@dataclass(frozen=True)
class Ports:
    rpc: int = 26657
    p2p: int = 26656
    abci: int = 26658
    # Prometheus /metrics of cometbft and of the app; 0 = pick a free port when the home is written.
    metrics: int = 0
    app_metrics: int = 0

    def with_metrics_ports(self) -> "Ports":
        """These ports, with free ones for metrics that have none yet."""
        return replace(self, metrics=self.metrics or procs.free_port(),
                       app_metrics=self.app_metrics or procs.free_port())


def set_toml(text: str, section: str, key: str, value: str) -> str:
    """Set `key = value` inside `[section]` of cometbft's config.toml ('' = top level)."""
    start = 0
    if section:
        match = re.search(rf"^\[{re.escape(section)}\]\s*$", text, re.M)
        if not match:
            raise KeyError(f"no [{section}] in config.toml")
        start = match.end()
    following = re.search(r"^\[", text[start:], re.M)
    end = start + following.start() if following else len(text)
    body, n = re.subn(rf"^{re.escape(key)} = .*$", f"{key} = {value}", text[start:end], count=1, flags=re.M)
    if n != 1:
        raise KeyError(f"no {key} in [{section}] of config.toml")
    return text[:start] + body + text[end:]


def load_overrides(name: str) -> dict[str, dict[str, str]]:
    """Our settings for cometbft's config.toml, from cometbft-config/<name>.toml."""
    import tomllib

    raw = tomllib.loads((CONFIG_DIR / f"{name}.toml").read_text())
    return {section: {k: json.dumps(v) for k, v in values.items()} for section, values in raw.items()}


def configure(cometbft_home: Path, ports: Ports, moniker: str, overrides: str = "single-node",
              host: str = "127.0.0.1") -> None:
    path = cometbft_home / "config" / "config.toml"
    text = path.read_text()
    settings = load_overrides(overrides)
    settings.setdefault("base", {}).update(proxy_app=json.dumps(f"tcp://{host}:{ports.abci}"),
                                           moniker=json.dumps(moniker))
    settings.setdefault("rpc", {})["laddr"] = json.dumps(f"tcp://{host}:{ports.rpc}")
    settings.setdefault("p2p", {})["laddr"] = json.dumps(f"tcp://{host}:{ports.p2p}")
    # cometbft's own Prometheus metrics, on the home's port; without one, off rather than
    # on cometbft's default :26660, which two nodes on one machine would both want.
    instrumentation = settings.setdefault("instrumentation", {})
    if ports.metrics:
        instrumentation["prometheus_listen_addr"] = json.dumps(f"{host}:{ports.metrics}")
    else:
        instrumentation["prometheus"] = "false"
    for section, values in settings.items():
        for key, value in values.items():
            text = set_toml(text, "" if section == "base" else section, key, value)
    path.write_text(text)


def write_app_state(cometbft_home: Path, chain_id: str, accounts: dict[str, int], coordinator: str,
                    params: dict[str, int] | None = None) -> None:
    path = cometbft_home / "config" / "genesis.json"
    genesis = json.loads(path.read_text())
    genesis["chain_id"] = chain_id
    genesis["app_state"] = {
        "accounts": [{"address": a, "balance": str(b)} for a, b in sorted(accounts.items())],
        "coordinator": coordinator,
        "params": {k: str(v) for k, v in (params or {}).items()},
    }
    path.write_text(json.dumps(genesis, indent=2))


def init_home(home: Path, chain_id: str, ports: Ports, keys: dict[str, PrivateKey],
              params: dict[str, int] | None = None, balance: int = DEV_BALANCE) -> None:
    """Write a single-node home; `keys` must contain 'coordinator'. Every key is funded."""
    cometbft_home = home / "cometbft"
    ports = ports.with_metrics_ports()
    subprocess.run([tools.cometbft(), "init", "--home", str(cometbft_home)], check=True, capture_output=True)
    configure(cometbft_home, ports, moniker=home.name)
    write_app_state(cometbft_home, chain_id, {k.address: balance for k in keys.values()},
                    keys["coordinator"].address, params)
    (home / "node.json").write_text(json.dumps({"chain_id": chain_id, "ports": asdict(ports)}, indent=2))


def read_ports(home: Path) -> Ports:
    return Ports(**json.loads((home / "node.json").read_text())["ports"])


def rpc_url(home: Path) -> str:
    return f"http://127.0.0.1:{read_ports(home).rpc}"


def app_command(python: str, home: Path, ports: Ports) -> list[str]:
    """`python -m aitbc.abci_app` for a home, serving its metrics when the home has a port for them
    (on loopback, or on node.json's `metrics_listen` for a home made for a network across hosts)."""
    command = [python, "-m", "aitbc.abci_app", "--home", str(home), "--address", f"tcp://127.0.0.1:{ports.abci}"]
    if not ports.app_metrics:
        return command
    try:
        listen = json.loads((home / "node.json").read_text()).get("metrics_listen", "127.0.0.1")
    except (OSError, ValueError):
        listen = "127.0.0.1"
    return command + ["--metrics-address", f"{listen}:{ports.app_metrics}"]


PID_FILE = "node.pid"


def running_pid(home: Path) -> int | None:
    """The pid of the `aitbc node start` that runs `home`, if it still runs.

    A pid file left by a crash may name a recycled pid: it only counts while the
    home's RPC port answers too.
    """
    try:
        pid = int((home / PID_FILE).read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid if procs.port_open(read_ports(home).rpc) else None


def busy_ports(home: Path) -> dict[str, int]:
    """The home's ports that something already listens on (name -> port)."""
    return {name: port for name, port in asdict(read_ports(home)).items() if port and procs.port_open(port)}


class Node:
    """The app process and the cometbft process of one home, started and stopped together."""

    def __init__(self, home: Path, python: str = sys.executable, app_command: list[str] | None = None):
        self.home = home
        self.ports = read_ports(home)
        self.python = python
        # Another ABCI app on the same port (benchmarks compare with kvstore).
        self.app_command = app_command
        self.app: subprocess.Popen | None = None
        self.cometbft: subprocess.Popen | None = None

    @property
    def rpc(self) -> str:
        return f"http://127.0.0.1:{self.ports.rpc}"

    def start_app(self) -> None:
        log = self.home / "logs" / "app.out"
        command = self.app_command or app_command(self.python, self.home, self.ports)
        self.app = procs.spawn(command, log)
        procs.wait_until(lambda: procs.port_open(self.ports.abci), 30, "ABCI app", self.app, log)

    def start_cometbft(self) -> None:
        log = self.home / "logs" / "node.log"
        self.cometbft = procs.spawn([tools.cometbft(), "start", "--home", str(self.home / "cometbft")], log)
        procs.wait_until(lambda: httpx.get(f"{self.rpc}/status", timeout=1).status_code == 200, 60,
                         "cometbft RPC", self.cometbft, log)

    def start(self) -> "Node":
        self.start_app()
        self.start_cometbft()
        return self

    def height(self) -> int:
        status = httpx.get(f"{self.rpc}/status", timeout=5).json()["result"]
        return int(status["sync_info"]["latest_block_height"])

    def wait_for_height(self, height: int, timeout: float = 30) -> None:
        procs.wait_until(lambda: self.height() >= height, timeout, f"block {height}", self.cometbft,
                         self.home / "logs" / "node.log")

    def stop(self) -> None:
        # The node first, so it never sees its app vanish mid-block.
        procs.stop(self.cometbft)
        procs.stop(self.app)

    def __enter__(self) -> "Node":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def run_forever(self) -> str | None:
        """Block until Ctrl-C, SIGTERM or one of the two processes exits; then stop both.

        Returns None after Ctrl-C or SIGTERM, else which process exited by itself."""

        def interrupt(_sig, _frame):
            raise KeyboardInterrupt

        # A shell without job control starts background commands with SIGINT ignored.
        signal.signal(signal.SIGINT, interrupt)
        signal.signal(signal.SIGTERM, interrupt)
        reason = None
        try:
            while self.app.poll() is None and self.cometbft.poll() is None:
                time.sleep(0.5)
            reason = (f"the ABCI app exited with code {self.app.returncode}" if self.app.poll() is not None
                      else f"cometbft exited with code {self.cometbft.returncode}")
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()
        return reason
