"""The marketplace with its validators on separate "hosts": Linux network namespaces.

Each validator runs in its own namespace (address 10.213.0.1x on a bridge),
from a home written by `aitbc.ops.hosts.create` (what `aitbc testnet init
--hosts` writes) and started with `aitbc node start --home DIR` inside the
namespace, as an operator would on a real host. In front of each node's P2P
port sits a Toxiproxy (in the node's namespace, :26666 -> 127.0.0.1:26656) and
the validators' persistent_peers name the proxies, so every link between two
validators crosses exactly one proxy: clean until latency is added.

Ollama, the coordinator and the miner run in the root namespace and reach the
nodes' RPC through the bridge. `NetnsStack` is a `FaultStack` whose chain is
this network, so the usual checks (tests/faults/checks.py) apply unchanged.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
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
    def peer(self) -> str:
        return f"{self.node_id}@{self.host.ip}:26656"


class NetnsNet:
    """The chain across namespaces; the part of `aitbc.ops.testnet.Testnet` FaultStack uses."""

    def __init__(self, root: Path, lab: Lab):
        self.root = root
        self.lab = lab
        self.nodes: list[NsNode] = []
        self.proxies: list[Toxiproxy] = []

    def node(self, index: int) -> NsNode:
        return self.nodes[index]

    def start_node(self, node: NsNode, timeout: float = 90) -> None:
        log = Path(node.home) / "logs" / "aitbc-node-start.out"
        node.proc = procs.spawn(node.host.command([AITBC, "node", "start", "--home", node.home]), log,
                                {"AITBC_HOME": str(self.root / "home")})
        procs.wait_until(lambda: httpx.get(f"{node.rpc}/status", timeout=1).status_code == 200, timeout,
                         f"node{node.index} in {node.host.ns}", node.proc, log)

    def stop_node(self, node: NsNode) -> None:
        # SIGTERM to `aitbc node start`: it stops its cometbft, then its app
        procs.stop(node.proc, timeout=20)

    def heights(self) -> dict[int, int | None]:
        out: dict[int, int | None] = {}
        for node in self.nodes:
            try:
                status = httpx.get(f"{node.rpc}/status", timeout=2).json()["result"]
                out[node.index] = int(status["sync_info"]["latest_block_height"])
            except (httpx.HTTPError, KeyError, ValueError):
                out[node.index] = None
        return out

    def wait_for_height(self, height: int, timeout: float = 60, indices: list[int] | None = None) -> None:
        wanted = set(range(len(self.nodes))) if indices is None else set(indices)
        procs.wait_until(lambda: all((h or 0) >= height for i, h in self.heights().items() if i in wanted),
                         timeout, f"height {height} on nodes {sorted(wanted)}")

    def stop(self) -> None:
        for node in reversed(self.nodes):
            self.stop_node(node)
        for proxy in self.proxies:
            proxy.stop()


class NetnsStack(FaultStack):
    """FaultStack with validators in network namespaces behind Toxiproxies."""

    def __init__(self, root: Path, lab: Lab, **kwargs):
        super().__init__(root, **kwargs)
        self.lab = lab

    def _start_chain(self) -> None:
        hosts = self.lab.create(self.validators)
        self.net = net = NetnsNet(self.root, self.lab)
        made = hostnet.create(self.root / "net", [hostnet.HostSpec(h.ip) for h in hosts], self.keys, CHAIN_ID,
                              params=self.chain_params, balance=self.balance)
        net.nodes = [NsNode(i, hosts[i], m["home"], m["node_id"]) for i, m in enumerate(made)]
        for node in net.nodes:
            proxy = Toxiproxy(node.host.ip, TOXIPROXY_API_PORT, Path(node.home) / "logs" / "toxiproxy.out",
                              prefix=node.host.command([]))
            net.proxies.append(proxy.start())
            proxy.add_proxy("p2p", f"{node.host.ip}:{PROXY_PORT}", "127.0.0.1:26656")
        for node in net.nodes:
            _peers_through_proxies(node, net.nodes)
        for node in net.nodes:
            net.start_node(node)
        net.wait_for_height(2, timeout=120)

    def join_node(self, peers: list[NsNode], timeout: float = 120) -> tuple[NsNode, float]:
        """A fifth host joins: `aitbc node join` writes its home, `aitbc node start` runs it in its
        namespace; returns the node and the seconds until it had caught up with the validators."""
        assert isinstance(self.net, NetnsNet)
        host = self.lab.add_host()
        home = self.root / f"node{host.index}"
        genesis = Path(self.net.nodes[0].home) / "cometbft" / "config" / "genesis.json"
        out = subprocess.run([AITBC, "--json", "node", "join", "--home", str(home), "--genesis", str(genesis),
                              "--peers", ",".join(p.peer for p in peers), "--host", host.ip],
                             capture_output=True, text=True, env={**os.environ, "AITBC_HOME": str(self.root / "home")},
                             check=True)
        node = NsNode(host.index, host, str(home), json.loads(out.stdout)["node_id"])
        started = time.monotonic()
        self.net.nodes.append(node)
        self.net.start_node(node)
        target = max(h or 0 for i, h in self.net.heights().items() if i < self.validators)
        self.net.wait_for_height(target, timeout=timeout, indices=[node.index])
        return node, time.monotonic() - started

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            self.lab_leftovers = self.lab.teardown()


def _peers_through_proxies(node: NsNode, nodes: list[NsNode]) -> None:
    """Point `node`'s persistent_peers at the other nodes' proxies. Peer exchange off (it would
    teach the real addresses), duplicate IPs allowed (inbound connections come from the proxy,
    127.0.0.1)."""
    path = Path(node.home) / "cometbft" / "config" / "config.toml"
    text = path.read_text()
    peers = ",".join(f"{o.node_id}@{o.host.ip}:{PROXY_PORT}" for o in nodes if o is not node)
    text = nodehome.set_toml(text, "p2p", "persistent_peers", json.dumps(peers))
    text = nodehome.set_toml(text, "p2p", "pex", "false")
    text = nodehome.set_toml(text, "p2p", "allow_duplicate_ip", "true")
    path.write_text(text)
