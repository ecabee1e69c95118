"""An N-validator testnet on one machine: homes from `cometbft testnet`, one
app and one cometbft per node on 127.0.0.1, started detached so that later
commands can manage them by the pids recorded in DIR/testnet.json.

Layout of DIR:  testnet.json · node<i>/ (a nodehome-style home: node.json,
cometbft/, data/aitbc.db, logs/) · coordinator/ · miner<k>/ (optional services)
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from aitbc.ops import nodehome, procs, tools
from aitbc.crypto import PrivateKey
from aitbc.keyring import private_dir, write_secret
from aitbc.rpc import ChainError, ChainRPC

STATE_FILE = "testnet.json"
MAX_NODES = 7


class NetError(RuntimeError):
    """A testnet that cannot be created, found or started as asked."""


# --- detached processes: known by pid across CLI invocations --------------------

def _reap(pid: int) -> None:
    # Our own child (tests drive the CLI in-process) stays a zombie until waited for.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def alive(pid: int | None, marker: str) -> bool:
    """Is `pid` running and really ours (its command line mentions `marker`)?

    The marker guards against a recycled pid: we never signal a stranger.
    """
    if not pid:
        return False
    _reap(pid)
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return marker.encode() in cmdline  # a zombie's command line is empty


def terminate(pid: int | None, marker: str, timeout: float = 10) -> None:
    """SIGTERM the process group of `pid` (spawned as a session leader), SIGKILL after `timeout`."""
    if not alive(pid, marker):
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not alive(pid, marker):
                _kill_leftovers(pid)
                return
            time.sleep(0.05)


def _kill_leftovers(pgid: int) -> None:
    # Children the leader left behind in its group, right after it exited.
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


@dataclass
class NetNode:
    index: int
    home: str
    ports: dict[str, int]
    node_id: str
    validator: bool
    pids: dict[str, int] = field(default_factory=dict)

    @property
    def rpc(self) -> str:
        return f"http://127.0.0.1:{self.ports['rpc']}"

    @property
    def p2p(self) -> str:
        return f"{self.node_id}@127.0.0.1:{self.ports['p2p']}"


def allocate_ports(count: int, base: int | None = None) -> list[nodehome.Ports]:
    """Per-node ports: base + 10*i (+0 p2p, +1 rpc, +2 abci, +3 cometbft metrics, +4 app metrics),
    or free ones."""
    if base:
        return [nodehome.Ports(rpc=base + 10 * i + 1, p2p=base + 10 * i, abci=base + 10 * i + 2,
                               metrics=base + 10 * i + 3, app_metrics=base + 10 * i + 4) for i in range(count)]
    taken: set[int] = set()
    while len(taken) < 5 * count:
        taken.add(procs.free_port())
    p = sorted(taken)
    return [nodehome.Ports(rpc=p[5 * i], p2p=p[5 * i + 1], abci=p[5 * i + 2], metrics=p[5 * i + 3],
                           app_metrics=p[5 * i + 4]) for i in range(count)]


def _node_id(cometbft_home: Path) -> str:
    out = subprocess.run([tools.cometbft(), "show-node-id", "--home", str(cometbft_home)], check=True,
                         capture_output=True, text=True)
    return out.stdout.strip()


def _generate(directory: Path, validators: int, full_nodes: int) -> list[Path]:
    """Run `cometbft testnet` into a scratch folder; return its node folders."""
    scratch = directory / ".cometbft-testnet"
    shutil.rmtree(scratch, ignore_errors=True)
    subprocess.run([tools.cometbft(), "testnet", "--v", str(validators), "--n", str(full_nodes),
                    "--o", str(scratch), "--starting-ip-address", "127.0.0.1"],
                   check=True, capture_output=True)
    return [scratch / f"node{i}" for i in range(validators + full_nodes)]


def create(directory: Path, validators: int, keys: dict[str, PrivateKey], chain_id: str = "aitbc-testnet",
           params: dict[str, int] | None = None, balance: int = nodehome.DEV_BALANCE, full_nodes: int = 0,
           base_port: int | None = None) -> Testnet:
    """Write N validator homes (+ full nodes) sharing one genesis that funds every key in `keys`."""
    directory = directory.resolve()
    if not 1 <= validators <= MAX_NODES or validators + full_nodes > MAX_NODES:
        raise NetError(f"between 1 and {MAX_NODES} nodes, please (asked for {validators}+{full_nodes})")
    if "coordinator" not in keys:
        raise NetError("the keys must include 'coordinator' (its address goes into genesis)")
    directory.mkdir(parents=True, exist_ok=True)
    generated = _generate(directory, validators, full_nodes)
    ports = allocate_ports(len(generated), base_port)
    nodes: list[NetNode] = []
    for i, source in enumerate(generated):
        home = directory / f"node{i}"
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir()
        source.rename(home / "cometbft")
        nodehome.configure(home / "cometbft", ports[i], moniker=f"node{i}", overrides="testnet")
        (home / "node.json").write_text(json.dumps({"chain_id": chain_id, "ports": asdict(ports[i])}, indent=2))
        nodes.append(NetNode(i, str(home), asdict(ports[i]), _node_id(home / "cometbft"), i < validators))
    shutil.rmtree(directory / ".cometbft-testnet")
    # One genesis for all: app_state written once, then copied byte for byte.
    first = Path(nodes[0].home) / "cometbft"
    nodehome.write_app_state(first, chain_id, {k.address: balance for k in keys.values()},
                             keys["coordinator"].address, params)
    genesis = (first / "config" / "genesis.json").read_bytes()
    for node in nodes:
        cfg = Path(node.home) / "cometbft" / "config"
        (cfg / "genesis.json").write_bytes(genesis)
        peers = ",".join(other.p2p for other in nodes if other.index != node.index)
        text = nodehome.set_toml((cfg / "config.toml").read_text(), "p2p", "persistent_peers", json.dumps(peers))
        (cfg / "config.toml").write_text(text)
    net = Testnet(directory, {"chain_id": chain_id, "nodes": [asdict(n) for n in nodes], "services": {}})
    net.save()
    return net


class Testnet:
    """A testnet folder and its recorded processes."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, directory: Path, data: dict[str, Any]):
        # absolute: it is also the marker that tells our processes from strangers
        self.directory = directory.resolve()
        self.data = data

    @classmethod
    def load(cls, directory: Path) -> Testnet:
        path = directory / STATE_FILE
        if not path.exists():
            raise NetError(f"no testnet in {directory} (no {STATE_FILE}): run `aitbc testnet up` first")
        if path.stat().st_mode & 0o077:  # written 0644 by an older aitbc: it holds API keys
            path.chmod(0o600)
            private_dir(directory)
        return cls(directory, json.loads(path.read_text()))

    def save(self) -> None:
        # It holds the coordinator's client and admin API keys: 0600 from creation, folder 0700.
        private_dir(self.directory)
        write_secret(self.directory / STATE_FILE, json.dumps(self.data, indent=2))

    @property
    def chain_id(self) -> str:
        return self.data["chain_id"]

    @property
    def nodes(self) -> list[NetNode]:
        return [NetNode(**n) for n in self.data["nodes"]]

    def node(self, index: int) -> NetNode:
        if not 0 <= index < len(self.data["nodes"]):
            raise NetError(f"no node {index}: this testnet has nodes 0..{len(self.data['nodes']) - 1}")
        return NetNode(**self.data["nodes"][index])

    def _set_pid(self, index: int, name: str, pid: int | None) -> None:
        pids = self.data["nodes"][index].setdefault("pids", {})
        if pid is None:
            pids.pop(name, None)
        else:
            pids[name] = pid
        self.save()

    def running(self, index: int) -> dict[str, bool]:
        node = self.node(index)
        return {name: alive(node.pids.get(name), node.home) for name in ("app", "cometbft")}

    def start(self, indices: list[int] | None = None, python: str = sys.executable, timeout: float = 60) -> None:
        """Start the apps, then the cometbfts, of `indices` (default all); skip what already runs."""
        indices = list(range(len(self.data["nodes"]))) if indices is None else indices
        waiting = []
        for i in indices:
            node = self.node(i)
            if not self.running(i)["app"]:
                log = Path(node.home) / "logs" / "app.out"
                proc = procs.spawn(nodehome.app_command(python, Path(node.home), nodehome.Ports(**node.ports)), log)
                self._set_pid(i, "app", proc.pid)
                waiting.append((lambda port=node.ports["abci"]: procs.port_open(port), f"node{i} ABCI app", proc, log))
        self._wait(waiting, timeout)
        waiting = []
        for i in indices:
            node = self.node(i)
            if not self.running(i)["cometbft"]:
                log = Path(node.home) / "logs" / "node.log"
                proc = procs.spawn([tools.cometbft(), "start", "--home", str(Path(node.home) / "cometbft")], log)
                self._set_pid(i, "cometbft", proc.pid)
                waiting.append((lambda url=node.rpc: httpx.get(f"{url}/status", timeout=1).status_code == 200,
                                f"node{i} cometbft RPC", proc, log))
        self._wait(waiting, timeout)

    @staticmethod
    def _wait(waiting: list, timeout: float) -> None:
        for check, what, proc, log in waiting:
            procs.wait_until(check, timeout, what, proc, log)

    def stop_node(self, index: int) -> None:
        """Stop one node: cometbft first, so it never sees its app vanish mid-block."""
        node = self.node(index)
        for name in ("cometbft", "app"):
            terminate(node.pids.get(name), node.home)
            self._set_pid(index, name, None)

    def stop(self) -> None:
        """Stop every service and node this testnet started."""
        services = self.data.get("services", {})
        for name, service in list(services.items()):
            for entry in service if isinstance(service, list) else [service]:
                terminate(entry.get("pid"), str(self.directory))
            services.pop(name)
            self.save()
        for node in self.nodes:
            self.stop_node(node.index)

    def any_running(self) -> bool:
        services = [e for s in self.data.get("services", {}).values() for e in (s if isinstance(s, list) else [s])]
        return (any(any(self.running(n.index).values()) for n in self.nodes)
                or any(alive(e.get("pid"), str(self.directory)) for e in services))

    def heights(self) -> dict[int, int | None]:
        """Latest height per node, None for a node that does not answer."""
        out: dict[int, int | None] = {}
        for node in self.nodes:
            try:
                status = httpx.get(f"{node.rpc}/status", timeout=2).json()["result"]
                out[node.index] = int(status["sync_info"]["latest_block_height"])
            except (httpx.HTTPError, KeyError, ValueError):
                out[node.index] = None
        return out

    def wait_for_height(self, height: int, timeout: float = 60, indices: list[int] | None = None) -> None:
        """Wait until every node in `indices` (default all) has reached `height`."""
        wanted = set(range(len(self.data["nodes"]))) if indices is None else set(indices)

        def reached() -> bool:
            return all((h or 0) >= height for i, h in self.heights().items() if i in wanted)

        procs.wait_until(reached, timeout, f"height {height} on nodes {sorted(wanted)}")


# --- what the nodes say -----------------------------------------------------------

def node_status(node: NetNode) -> dict[str, Any]:
    """Height, peers and validator role of one node, as its RPC reports them."""
    out: dict[str, Any] = {"index": node.index, "rpc": node.rpc, "up": False}
    rpc = ChainRPC(node.rpc, timeout=3)
    try:
        status = rpc.status()
        peers = int(rpc.call("net_info")["n_peers"])
        validators = {v["address"] for v in rpc.call("validators", per_page="100")["validators"]}
    except ChainError as err:
        return {**out, "error": str(err)}
    finally:
        rpc.close()
    address = status["validator_info"]["address"]
    return {**out, "up": True, "height": int(status["sync_info"]["latest_block_height"]),
            "catching_up": status["sync_info"]["catching_up"], "peers": peers, "validator": address in validators,
            "validator_address": address, "voting_power": int(status["validator_info"]["voting_power"])}


def app_hashes(rpc_url: str, low: int, high: int) -> dict[int, str]:
    """Header app hash per height in [low, high] (the state after the block before)."""
    rpc, out = ChainRPC(rpc_url, timeout=10), {}
    try:
        while low <= high:
            top = min(high, low + 19)  # `blockchain` returns at most 20 headers
            for meta in rpc.call("blockchain", minHeight=str(low), maxHeight=str(top))["block_metas"]:
                out[int(meta["header"]["height"])] = meta["header"]["app_hash"]
            low = top + 1
    finally:
        rpc.close()
    return out


def status(net: Testnet) -> dict[str, Any]:
    """Every node's status plus its header app hash at the lowest height they all have."""
    nodes = [{**node_status(n), "processes": net.running(n.index)} for n in net.nodes]
    up = [n for n in nodes if n["up"]]
    common = min((n["height"] for n in up), default=0)
    for n in up:
        try:
            n["app_hash"] = app_hashes(n["rpc"], common, common).get(common, "") if common else ""
        except ChainError as err:
            n["app_hash"], n["error"] = "", str(err)
    return {"chain_id": net.chain_id, "directory": str(net.directory), "common_height": common,
            "app_hash_agrees": len({n["app_hash"] for n in up}) <= 1, "nodes": nodes,
            "services": net.data.get("services", {})}


# --- optional services: a coordinator and miners ---------------------------------------

def _service(net: Testnet, name: str, cmd: list[str], log: Path, health: str, timeout: float,
             env: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    proc = procs.spawn(cmd, log, env)
    entry = {"name": name, "pid": proc.pid, "log": str(log), **extra}
    services = net.data.setdefault("services", {})
    if name == "coordinator":
        services[name] = entry
    else:
        services.setdefault("miners", []).append(entry)
    net.save()
    try:
        procs.wait_until(lambda: httpx.get(health, timeout=1).status_code == 200, timeout, name, proc, log)
        entry["ok"] = True
    except (RuntimeError, TimeoutError) as err:
        entry["ok"], entry["error"] = False, str(err)
        terminate(proc.pid, str(net.directory))
    net.save()
    return entry


def start_coordinator(net: Testnet, python: str = sys.executable, port: int = 0, node: int = 0,
                      timeout: float = 60) -> dict[str, Any]:
    """`python -m aitbc.coordinator start` against node `node`, keyring key 'coordinator'; fresh API keys."""
    port = port or procs.free_port()
    data_dir = net.directory / "coordinator"
    client_key, admin_key = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    url = f"http://127.0.0.1:{port}"
    cmd = [python, "-m", "aitbc.coordinator", "start", "--node", net.node(node).rpc, "--port", str(port),
           "--data-dir", str(data_dir)]
    # Keys by environment, not argv (`ps` shows argv to every user); miners of a local
    # testnet listen on loopback, which a coordinator refuses unless told otherwise.
    env = {"AITBC_COORDINATOR_CLIENT_API_KEYS": client_key, "AITBC_COORDINATOR_ADMIN_API_KEYS": admin_key,
           "AITBC_COORDINATOR_ALLOW_PRIVATE_ENDPOINTS": "1"}
    return _service(net, "coordinator", cmd, data_dir / "coordinator.out", f"{url}/health", timeout, env, url=url,
                    client_api_key=client_key, admin_api_key=admin_key)


def start_miner(net: Testnet, key_name: str, coordinator_url: str, node: int, python: str = sys.executable,
                ollama_url: str | None = None, models: tuple[str, ...] = (), timeout: float = 60) -> dict[str, Any]:
    """`python -m aitbc.miner start` with keyring key `key_name`; it needs a reachable Ollama."""
    port = procs.free_port()
    data_dir = net.directory / key_name
    url = f"http://127.0.0.1:{port}"
    cmd = [python, "-m", "aitbc.miner", "start", "--key", key_name, "--node", net.node(node).rpc,
           "--coordinator-url", coordinator_url, "--port", str(port), "--data-dir", str(data_dir)]
    cmd += ["--ollama-url", ollama_url] if ollama_url else []
    for model in models:
        cmd += ["--model", model]
    return _service(net, key_name, cmd, data_dir / "miner.out", f"{url}/health", timeout, url=url)
