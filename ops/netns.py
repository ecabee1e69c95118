"""A private network of Linux network namespaces on this machine, for tests of
a chain spread over "hosts": one namespace per host with its own address, veth
pairs to a bridge, and nftables rules inside the namespaces to cut links
(partitions) or drop packets at random (loss).

Layout: the bridge lives in the root namespace with the subnet's `.1` address
(so processes here - the coordinator, the miner, the test - reach every host's
RPC); host i gets `.(10+i)`. Nothing here touches an address outside the
subnet or an interface it did not create: every name carries the lab's tag,
and `teardown` removes namespaces (with their veth ends, nft tables and
processes) and the bridge again.

Needs root, `ip` (iproute2) and `nft` (Debian's nftables).
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SUBNET = "10.213.0.0/24"  # far from the usual docker/libvirt/VPN ranges
PREFIX = "aitbc"           # every namespace and interface name starts with it
FILTER_TABLE = "aitbc_cut"  # partitions
LOSS_TABLE = "aitbc_loss"   # random packet loss
OWNERS = Path("/run/aitbc-netns")  # one file per live lab: its tag, holding the owner's pid


class NetnsUnavailable(RuntimeError):
    """This machine (or user) cannot create the lab: the message says why."""


def unavailable_reason(subnet: str = SUBNET) -> str | None:
    """Why a lab cannot be built here, or None when it can."""
    if os.geteuid() != 0:
        return "network namespaces need root (run the netns tests as root)"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return f"`{tool}` not found (apt-get install {'iproute2' if tool == 'ip' else 'nftables'})"
    probe = f"{PREFIX}-probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    routes = subprocess.run(["ip", "-4", "route", "show", "to", "match", str(ipaddress.ip_network(subnet)[1])],
                            capture_output=True, text=True).stdout
    if any("default" not in line for line in routes.splitlines() if line.strip()):
        return f"{subnet} is already routed on this machine: pick another subnet"
    return None


def _run(cmd: list[str], check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, capture_output=True, text=True, input=stdin)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


@dataclass(frozen=True)
class Host:
    """One namespace: its name and its address on the lab's subnet."""

    index: int
    ns: str
    ip: str

    def command(self, cmd: list[str]) -> list[str]:
        """`cmd` run inside this host's namespace."""
        return ["ip", "netns", "exec", self.ns, *cmd]


class Lab:
    """Namespaces on one bridge; partitions and loss with nftables inside them."""

    def __init__(self, tag: str, subnet: str = SUBNET):
        # interface names have at most 15 characters: aitbc + 4-char tag + role + index
        if len(tag) > 4 or not tag.isalnum():
            raise ValueError("the tag is 1-4 letters or digits")
        self.tag = tag
        self.network = ipaddress.ip_network(subnet)
        self.bridge = f"{PREFIX}{tag}br"
        self.gateway = str(self.network[1])
        self.hosts: list[Host] = []

    # --- building and removing ------------------------------------------------------------
    def create(self, count: int) -> list[Host]:
        """The bridge (with the subnet's .1 in the root namespace) and `count` hosts on it."""
        reason = unavailable_reason(str(self.network))
        if reason:
            raise NetnsUnavailable(reason)
        OWNERS.mkdir(parents=True, exist_ok=True)
        (OWNERS / self.tag).write_text(str(os.getpid()))
        try:
            _run(["ip", "link", "add", self.bridge, "type", "bridge"])
            _run(["ip", "addr", "add", f"{self.gateway}/{self.network.prefixlen}", "dev", self.bridge])
            _run(["ip", "link", "set", self.bridge, "up"])
            for i in range(count):
                self.add_host()
        except BaseException:
            self.teardown()
            raise
        return self.hosts

    def add_host(self) -> Host:
        """One more namespace with a veth to the bridge, its address .(10+i), loopback up."""
        i = len(self.hosts)
        host = Host(i, f"{PREFIX}-{self.tag}-h{i}", str(self.network[10 + i]))
        outside, inside = f"{PREFIX}{self.tag}v{i}", f"{PREFIX}{self.tag}p{i}"
        self.hosts.append(host)  # listed first: teardown removes what was half made
        _run(["ip", "netns", "add", host.ns])
        _run(["ip", "link", "add", outside, "type", "veth", "peer", "name", inside])
        _run(["ip", "link", "set", inside, "netns", host.ns])
        _run(["ip", "link", "set", outside, "master", self.bridge, "up"])
        for cmd in (["ip", "link", "set", "lo", "up"],
                    ["ip", "addr", "add", f"{host.ip}/{self.network.prefixlen}", "dev", inside],
                    ["ip", "link", "set", inside, "up"]):
            _run(host.command(cmd))
        return host

    def teardown(self) -> list[str]:
        """Kill every process inside our namespaces, delete them and the bridge; never raises.

        Returns what could not be removed (empty when all went)."""
        left = []
        for host in self.hosts:
            kill_namespace_processes(host.ns)
            if _run(["ip", "netns", "del", host.ns], check=False).returncode != 0 and host.ns in namespaces():
                left.append(f"namespace {host.ns}")
            outside = f"{PREFIX}{self.tag}v{host.index}"  # gone with its peer, unless the move failed
            _run(["ip", "link", "del", outside], check=False)
        _run(["ip", "link", "del", self.bridge], check=False)
        if _run(["ip", "link", "show", self.bridge], check=False).returncode == 0:
            left.append(f"bridge {self.bridge}")
        if not left:
            (OWNERS / self.tag).unlink(missing_ok=True)
        return left

    # --- cutting links --------------------------------------------------------------------
    def _nft(self, host: Host, script: str) -> None:
        _run(host.command(["nft", "-f", "-"]), stdin=script)

    def _drop_table(self, host: Host, table: str) -> None:
        _run(host.command(["nft", "delete", "table", "inet", table]), check=False)

    def partition(self, *groups: list[Host]) -> None:
        """Cut every link between hosts of different groups, both ways (packets silently
        dropped, as a broken network does). The root namespace (.1) stays reachable."""
        for group in groups:
            others = [h.ip for g in groups if g is not group for h in g]
            if not others:
                continue
            blocked = "{ " + ", ".join(others) + " }"
            for host in group:
                self._drop_table(host, FILTER_TABLE)
                self._nft(host, f"""table inet {FILTER_TABLE} {{
  chain input {{ type filter hook input priority 0; policy accept; ip saddr {blocked} drop; }}
  chain output {{ type filter hook output priority 0; policy accept; ip daddr {blocked} drop; }}
}}
""")

    def isolate(self, host: Host) -> None:
        """Cut `host` off from every other host (not from the root namespace)."""
        self.partition([host], [h for h in self.hosts if h is not host])

    def heal(self) -> None:
        """Remove every partition rule."""
        for host in self.hosts:
            self._drop_table(host, FILTER_TABLE)

    def set_loss(self, percent: int) -> None:
        """Drop `percent` % of the packets each host receives from another host, at random
        (nftables `numgen random`, a real loss TCP must recover from); 0 removes it."""
        for host in self.hosts:
            self._drop_table(host, LOSS_TABLE)
            peers = [h.ip for h in self.hosts if h is not host]
            if percent <= 0 or not peers:
                continue
            self._nft(host, f"""table inet {LOSS_TABLE} {{
  chain input {{ type filter hook input priority 0; policy accept;
    ip saddr {{ {", ".join(peers)} }} numgen random mod 100 < {int(percent)} drop; }}
}}
""")


def namespaces() -> list[str]:
    out = _run(["ip", "netns", "list"], check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def kill_namespace_processes(ns: str, timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL, every process inside namespace `ns` (ours: we created it)."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5)):
        pids = _pids(ns)
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while pids and time.monotonic() < deadline:
            time.sleep(0.1)
            pids = _pids(ns)
        if not pids:
            return


def _pids(ns: str) -> list[int]:
    """Live processes in `ns` (a zombie has exited: its parent has yet to wait for it)."""
    out = _run(["ip", "netns", "pids", ns], check=False).stdout
    return [int(p) for p in out.split() if p.isdigit() and int(p) != os.getpid() and not _zombie(int(p))]


def _zombie(pid: int) -> bool:
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        return True  # gone
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def remove_stale(tag: str) -> None:
    """Remove what a crashed earlier run with the same tag left behind."""
    for ns in namespaces():
        if ns.startswith(f"{PREFIX}-{tag}-"):
            kill_namespace_processes(ns)
            _run(["ip", "netns", "del", ns], check=False)
    _run(["ip", "link", "del", f"{PREFIX}{tag}br"], check=False)


def remove_orphans() -> list[str]:
    """Remove the labs of runs that died without their teardown (SIGKILL, a crash): the owner
    file of such a lab names a process that is gone. Returns the tags removed."""
    removed = []
    for owner in OWNERS.glob("*") if OWNERS.is_dir() else []:
        text = owner.read_text().strip()
        if text.isdigit() and _alive(int(text)):
            continue
        remove_stale(owner.name)
        owner.unlink(missing_ok=True)
        removed.append(owner.name)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)
