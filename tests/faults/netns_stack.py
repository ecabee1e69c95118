"""The marketplace with its validators on separate "hosts": Linux network namespaces.

Each validator runs in its own namespace (address 10.213.0.1x on a bridge),
from a home written by `aitbc.ops.hosts.create` (what `aitbc testnet init
--hosts` writes) and started with `aitbc node start --home DIR` inside the
namespace, as an operator would on a real host. In front of each node's P2P
port sits a Toxiproxy (in the node's namespace, :26666 -> 127.0.0.1:26656) and
every node dials its peers' proxies (the validators' persistent_peers, the
joining node's --peers), so every link between two nodes crosses exactly one
proxy: clean until latency is added.

Ollama, the coordinator and the miner run in the root namespace and reach the
nodes' RPC through the bridge. `NetnsStack` is a `FaultStack` whose chain is
this network, so the usual checks (tests/faults/checks.py) apply unchanged.
Processes are started side by side and then waited for (the machine is small
and every serial wait adds up).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from aitbc.ops import hosts as hostnet, nodehome, procs
from aitbc.ops.harness.marketplace import CHAIN_ID, FaultStack
from aitbc.ops.netns import Host, Lab
from aitbc.ops.toxiproxy import Toxiproxy

AITBC = str(Path(sys.executable).parent / "aitbc")  # the CLI of this virtualenv
PROXY_PORT = 26666
TOXIPROXY_API_PORT = 8474


@dataclass
class NsNode:
    """One node: its namespace, home and the `aitbc node start` running it."""

    index: int
    host: Host
    home: str
    node_id: str
    proc: subprocess.Popen | None = None
    pids: dict[str, int] = field(default_factory=dict)  # FaultStack signals these; ours stop by SIGTERM

    @property
    def rpc(self) -> str:
        return f"http://{self.host.ip}:26657"

    @property
    def proxied_peer(self) -> str:
        """The address other nodes dial: this node's Toxiproxy."""
        return f"{self.node_id}@{self.host.ip}:{PROXY_PORT}"

    @property
    def log(self) -> Path:
        return Path(self.home) / "logs" / "aitbc-node-start.out"


class NetnsNet:
    """The chain across namespaces; the part of `aitbc.ops.testnet.Testnet` FaultStack uses."""

    def __init__(self, root: Path, lab: Lab):
        self.root = root
        self.lab = lab
        self.nodes: list[NsNode] = []
        self.proxies: list[Toxiproxy] = []

    def node(self, index: int) -> NsNode:
        return self.nodes[index]

    def spawn_node(self, node: NsNode) -> None:
        node.proc = procs.spawn(node.host.command([AITBC, "node", "start", "--home", node.home]), node.log,
                                {"AITBC_HOME": str(self.root / "home")})

    def wait_rpc(self, node: NsNode, timeout: float = 90) -> None:
        procs.wait_until(lambda: httpx.get(f"{node.rpc}/status", timeout=1).status_code == 200, timeout,
                         f"node{node.index} in {node.host.ns}", node.proc, node.log)

    def start_proxies(self, nodes: list[NsNode]) -> None:
        """A Toxiproxy in each node's namespace, :PROXY_PORT -> the node's P2P port."""
        started = []
        for node in nodes:
            proxy = Toxiproxy(node.host.ip, TOXIPROXY_API_PORT, Path(node.home) / "logs" / "toxiproxy.out",
                              prefix=node.host.command([]))
            self.proxies.append(proxy)
            started.append(proxy.spawn())
        for proxy, node in zip(started, nodes):
            proxy.wait_ready()
            proxy.add_proxy("p2p", f"{node.host.ip}:{PROXY_PORT}", "127.0.0.1:26656")

    def heights(self) -> dict[int, int | None]:
        """Every node's latest height (None: no answer), asked of all at once: on a busy machine
        one slow answer should not add to the next."""
        with ThreadPoolExecutor(max_workers=max(1, len(self.nodes))) as pool:
            return dict(zip((n.index for n in self.nodes), pool.map(_height, self.nodes)))

    def wait_for_height(self, height: int, timeout: float = 60, indices: list[int] | None = None) -> None:
        wanted = set(range(len(self.nodes))) if indices is None else set(indices)
        procs.wait_until(lambda: all((h or 0) >= height for i, h in self.heights().items() if i in wanted),
                         timeout, f"height {height} on nodes {sorted(wanted)}")

    def stop(self) -> None:
        """SIGTERM every `aitbc node start` at once (each stops its cometbft, then its app), then wait."""
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is None:
                try:
                    os.killpg(node.proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for node in reversed(self.nodes):
            procs.stop(node.proc, timeout=20)
        for proxy in self.proxies:
            proxy.stop()


class NetnsStack(FaultStack):
    """FaultStack with validators in network namespaces behind Toxiproxies."""

    def __init__(self, root: Path, lab: Lab, **kwargs):
        super().__init__(root, **kwargs)
        self.lab = lab

    def start(self) -> "NetnsStack":
        """The chain's nodes and Ollama come up side by side; then the coordinator and the miners."""
        try:
            self._spawn_chain()
            self._start_ollama()
            for node in self.net.nodes:
                self.net.wait_rpc(node)
            self.net.wait_for_height(2, timeout=120)
            self._start_services()
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn_chain(self) -> None:
        hosts = self.lab.create(self.validators)
        self.net = net = NetnsNet(self.root, self.lab)
        made = hostnet.create(self.root / "net", [hostnet.HostSpec(h.ip) for h in hosts], self.keys, CHAIN_ID,
                              params=self.chain_params, balance=self.balance)
        net.nodes = [NsNode(i, hosts[i], m["home"], m["node_id"]) for i, m in enumerate(made)]
        net.start_proxies(net.nodes)
        for node in net.nodes:
            _peers_through_proxies(node, net.nodes)
        for node in net.nodes:
            net.spawn_node(node)

    def spawn_joining_node(self, peers: list[NsNode]) -> NsNode:
        """A fifth host joins: `aitbc node join` writes its home (its peers: `peers`' proxies),
        `aitbc node start` runs it in its namespace. Returns once it is started; it then replays."""
        assert isinstance(self.net, NetnsNet)
        host = self.lab.add_host()
        home = self.root / f"node{host.index}"
        genesis = Path(self.net.nodes[0].home) / "cometbft" / "config" / "genesis.json"
        out = subprocess.run([AITBC, "--json", "node", "join", "--home", str(home), "--genesis", str(genesis),
                              "--peers", ",".join(p.proxied_peer for p in peers), "--host", host.ip],
                             capture_output=True, text=True, env={**os.environ, "AITBC_HOME": str(self.root / "home")},
                             check=True)
        node = NsNode(host.index, host, str(home), json.loads(out.stdout)["node_id"])
        self.net.nodes.append(node)
        self.net.spawn_node(node)
        return node

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            self.lab_leftovers = self.lab.teardown()


def _height(node: NsNode) -> int | None:
    try:
        status = httpx.get(f"{node.rpc}/status", timeout=2).json()["result"]
        return int(status["sync_info"]["latest_block_height"])
    except (httpx.HTTPError, KeyError, ValueError):
        return None


def _peers_through_proxies(node: NsNode, nodes: list[NsNode]) -> None:
    """Point `node`'s persistent_peers at the other nodes' proxies. Peer exchange off (it would
    teach the real addresses), duplicate IPs allowed (inbound connections come from the proxy,
    127.0.0.1)."""
    path = Path(node.home) / "cometbft" / "config" / "config.toml"
    text = path.read_text()
    peers = ",".join(o.proxied_peer for o in nodes if o is not node)
    text = nodehome.set_toml(text, "p2p", "persistent_peers", json.dumps(peers))
    text = nodehome.set_toml(text, "p2p", "pex", "false")
    text = nodehome.set_toml(text, "p2p", "allow_duplicate_ip", "true")
    path.write_text(text)
