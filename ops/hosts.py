"""A network across hosts: one ready node home per host, and the home of a node
that joins a running chain.

A home here has the layout of `aitbc.ops.nodehome` (node.json, cometbft/,
data/, logs/), so `aitbc node start --home DIR` runs it on its host. The
difference from a local home: cometbft's RPC and P2P listen on every interface
(or the address given), `p2p.external_address` is the host's real address, and
`persistent_peers` names the other hosts. The ABCI socket stays on 127.0.0.1:
only the node's own cometbft talks to the app.

Port scheme of a host entry: `HOST` uses 26656 (P2P), 26657 (RPC), 26658
(ABCI), 26659 (cometbft's Prometheus metrics), 26660 (the app's metrics); `HOST:P`
uses P, P+1, ... P+4 in that order, as `aitbc testnet up --base-port` does, so several
nodes can share a host. Metrics listen on the `--listen` address, for a Prometheus on
another host to scrape.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from aitbc.crypto import PrivateKey
from aitbc.ops import nodehome, testnet, tools

DEFAULT_P2P = 26656
PORTS_PER_NODE = 5  # P2P, RPC, ABCI, cometbft metrics, app metrics
OVERRIDES = "hosts"  # ops/cometbft-config/hosts.toml
HOSTS_FILE = "hosts.json"
_HOSTNAME = re.compile(r"^(?=.{1,253}\Z)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\Z")
_PEER = re.compile(r"^[0-9a-f]{40}@[^@:\s]+:\d{1,5}\Z")


class HostsError(ValueError):
    """A host list, peer list or genesis that cannot be used; the message says which entry."""


@dataclass(frozen=True)
class HostSpec:
    """Where one node runs: a DNS name or IPv4 address and its P2P port (RPC = +1, ABCI = +2,
    metrics = +3 and +4)."""

    host: str
    p2p: int = DEFAULT_P2P

    @property
    def ports(self) -> nodehome.Ports:
        return nodehome.Ports(rpc=self.p2p + 1, p2p=self.p2p, abci=self.p2p + 2, metrics=self.p2p + 3,
                              app_metrics=self.p2p + 4)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.p2p}"


def parse_hosts(text: str) -> list[HostSpec]:
    """`HOST[:P2P_PORT],...` into HostSpecs. Raises HostsError for a bad or repeated entry."""
    specs = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        host, _, port = entry.partition(":")
        if not _HOSTNAME.match(host):
            raise HostsError(f"{entry!r}: not a host name or IPv4 address (IPv6 is not supported)")
        try:
            p2p = int(port) if port else DEFAULT_P2P
        except ValueError:
            raise HostsError(f"{entry!r}: the port must be a number") from None
        if not 1 <= p2p <= 65535 - PORTS_PER_NODE + 1:
            raise HostsError(f"{entry!r}: the P2P port must be 1..{65535 - PORTS_PER_NODE + 1} (RPC, ABCI and "
                             "the two metrics ports take the next four)")
        specs.append(HostSpec(host, p2p))
    if not specs:
        raise HostsError("no hosts given")
    seen = set()
    for spec in specs:
        mine = {(spec.host, spec.p2p + i) for i in range(PORTS_PER_NODE)}
        if mine & seen:
            raise HostsError(f"{spec.address}: its ports overlap another entry on {spec.host} (give each node "
                             f"its own P2P port, {PORTS_PER_NODE} apart)")
        seen |= mine
    return specs


def parse_peers(text: str) -> list[str]:
    """`ID@HOST:PORT,...` (ID = 40 hex digits, `cometbft show-node-id`). Raises HostsError."""
    peers = [p.strip() for p in text.split(",") if p.strip()]
    bad = [p for p in peers if not _PEER.match(p)]
    if bad or not peers:
        raise HostsError(f"peers must be NODE_ID@HOST:PORT with a 40-hex-digit node id; got {bad or text!r}")
    return peers


def configure_for_hosts(cometbft_home: Path, spec: HostSpec, moniker: str, peers: list[str], listen: str,
                        allow_duplicate_ip: bool = False, advertise: bool = True) -> None:
    """Ports, listen addresses, external address (unless not `advertise`) and peers of one node
    of a multi-host network."""
    nodehome.configure(cometbft_home, spec.ports, moniker=moniker, overrides=OVERRIDES)
    path = cometbft_home / "config" / "config.toml"
    text = path.read_text()
    for section, key, value in (
            ("rpc", "laddr", f"tcp://{listen}:{spec.ports.rpc}"),
            ("p2p", "laddr", f"tcp://{listen}:{spec.p2p}"),
            ("p2p", "external_address", spec.address if advertise else ""),
            ("p2p", "persistent_peers", ",".join(peers)),
            ("instrumentation", "prometheus_listen_addr", f"{listen}:{spec.ports.metrics}")):
        text = nodehome.set_toml(text, section, key, json.dumps(value))
    text = nodehome.set_toml(text, "p2p", "allow_duplicate_ip", "true" if allow_duplicate_ip else "false")
    path.write_text(text)


def _write_node_json(home: Path, chain_id: str, spec: HostSpec, listen: str, **extra) -> None:
    (home / "node.json").write_text(json.dumps({"chain_id": chain_id, "ports": asdict(spec.ports),
                                                "host": spec.host, "metrics_listen": listen, **extra}, indent=2))


def create(directory: Path, hosts: list[HostSpec], keys: dict[str, PrivateKey], chain_id: str,
           params: dict[str, int] | None = None, balance: int = nodehome.DEV_BALANCE,
           extra_accounts: dict[str, int] | None = None, listen: str = "0.0.0.0") -> list[dict]:
    """One validator home per host in DIRECTORY/node<i>, sharing one genesis that funds every key
    in `keys` (which must include 'coordinator') and `extra_accounts` (address -> amount).

    Returns, per node: index, host, ports, node id and the peer string others dial. Also written
    to DIRECTORY/hosts.json for the operator.
    """
    if "coordinator" not in keys:
        raise HostsError("the keys must include 'coordinator' (its address goes into genesis)")
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    generated = testnet._generate(directory, len(hosts), 0)
    ids = [testnet._node_id(source) for source in generated]
    nodes = [{"index": i, "home": str(directory / f"node{i}"), "host": spec.host, "ports": asdict(spec.ports),
              "node_id": ids[i], "peer": f"{ids[i]}@{spec.address}"} for i, spec in enumerate(hosts)]
    shared_ip = len({s.host for s in hosts}) < len(hosts)
    for i, (spec, source) in enumerate(zip(hosts, generated)):
        home = Path(nodes[i]["home"])
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir()
        source.rename(home / "cometbft")
        peers = [n["peer"] for n in nodes if n["index"] != i]
        configure_for_hosts(home / "cometbft", spec, f"node{i}", peers, listen, allow_duplicate_ip=shared_ip)
        _write_node_json(home, chain_id, spec, listen)
    shutil.rmtree(directory / ".cometbft-testnet")
    first = Path(nodes[0]["home"]) / "cometbft"
    accounts = {k.address: balance for k in keys.values()} | (extra_accounts or {})
    nodehome.write_app_state(first, chain_id, accounts, keys["coordinator"].address, params)
    genesis = (first / "config" / "genesis.json").read_bytes()
    for node in nodes:
        (Path(node["home"]) / "cometbft" / "config" / "genesis.json").write_bytes(genesis)
    (directory / HOSTS_FILE).write_text(json.dumps({"chain_id": chain_id, "nodes": nodes}, indent=2))
    return nodes


def join_home(home: Path, genesis: Path, peers: list[str], spec: HostSpec, listen: str = "0.0.0.0",
              moniker: str | None = None, advertise: bool = True) -> str:
    """A full-node home for a running chain: a fresh node key, the chain's genesis (copied byte
    for byte, its hash must match the chain's), `peers` as persistent peers. Returns the node id.

    The node has a validator key too (cometbft always writes one) but no voting power: the
    validator set is fixed in genesis. Without `advertise` the node tells its peers no address
    (it dials out; nobody dials it).
    """
    try:
        chain_id = json.loads(genesis.read_text())["chain_id"]
    except (OSError, ValueError, KeyError) as err:
        raise HostsError(f"{genesis}: not a CometBFT genesis file ({err})") from None
    cometbft_home = home / "cometbft"
    subprocess.run([tools.cometbft(), "init", "--home", str(cometbft_home)], check=True, capture_output=True)
    shutil.copyfile(genesis, cometbft_home / "config" / "genesis.json")
    configure_for_hosts(cometbft_home, spec, moniker or home.name, peers, listen, advertise=advertise)
    _write_node_json(home, chain_id, spec, listen, joined=True)
    return testnet._node_id(cometbft_home)
