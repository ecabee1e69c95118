"""Toxiproxy (a TCP proxy that injects latency and other faults) for network tests.

This kernel has no `netem` qdisc, so delay between nodes is added in user space:
a `toxiproxy-server` listens in front of a node's P2P port and its peers dial
the proxy. Built by scripts/setup.sh with `go install` into the per-user tools
cache, keyed by version like cometbft. The HTTP API is small enough for httpx.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import httpx

from aitbc.ops import procs
from aitbc.ops.tools import ToolMissing, tools_dir

TOXIPROXY_VERSION = "v2.12.0"


def binary() -> str:
    """Path of `toxiproxy-server`: $AITBC_TOXIPROXY, set-up's cache, then PATH. Raises ToolMissing."""
    cached = tools_dir() / f"toxiproxy-{TOXIPROXY_VERSION}" / "toxiproxy-server"
    for candidate in (os.environ.get("AITBC_TOXIPROXY"), str(cached)):
        if candidate and Path(candidate).is_file():
            return candidate
    found = shutil.which("toxiproxy-server")
    if found:
        return found
    raise ToolMissing(f"toxiproxy-server not found: run `make setup` (looked at $AITBC_TOXIPROXY, {cached}, PATH)")


class Toxiproxy:
    """One `toxiproxy-server` whose API listens on host:port; `prefix` runs it elsewhere
    (e.g. `ip netns exec NS`)."""

    def __init__(self, host: str, port: int, log_path: Path, prefix: list[str] | None = None):
        self.api = f"http://{host}:{port}"
        self.cmd = [*(prefix or []), binary(), "-host", host, "-port", str(port)]
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        # changing toxics waits for every link of the proxy to take the change, and a link whose
        # peer stalls (a cut network, TCP backing off) holds that up: allow for it
        self.http = httpx.Client(base_url=self.api, timeout=30)

    def start(self, timeout: float = 20) -> "Toxiproxy":
        return self.spawn().wait_ready(timeout)

    def spawn(self) -> "Toxiproxy":
        """Start the server without waiting (several can come up side by side; then `wait_ready`)."""
        self.proc = procs.spawn(self.cmd, self.log_path)
        return self

    def wait_ready(self, timeout: float = 20) -> "Toxiproxy":
        procs.wait_until(lambda: self.http.get("/version").status_code == 200, timeout, "toxiproxy-server",
                         self.proc, self.log_path)
        return self

    def stop(self) -> None:
        self.http.close()
        procs.stop(self.proc)

    def add_proxy(self, name: str, listen: str, upstream: str) -> None:
        """A proxy from `listen` (host:port) to `upstream` (host:port), enabled."""
        reply = self.http.post("/proxies", json={"name": name, "listen": listen, "upstream": upstream,
                                                 "enabled": True})
        reply.raise_for_status()

    def add_latency(self, proxy: str, latency_ms: int, jitter_ms: int = 0) -> None:
        """Delay every byte by `latency_ms` in both directions (a round trip gains twice that)."""
        for stream in ("upstream", "downstream"):
            reply = self.http.post(f"/proxies/{proxy}/toxics", json={
                "name": f"latency_{stream}", "type": "latency", "stream": stream, "toxicity": 1.0,
                "attributes": {"latency": latency_ms, "jitter": jitter_ms}})
            reply.raise_for_status()

    def clear(self, proxy: str) -> None:
        """Remove every toxic of `proxy`."""
        for toxic in self.http.get(f"/proxies/{proxy}/toxics").json():
            self.http.delete(f"/proxies/{proxy}/toxics/{toxic['name']}").raise_for_status()
