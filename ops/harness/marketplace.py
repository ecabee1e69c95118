"""The whole marketplace on one machine, with handles to break it.

`FaultStack` starts an N-validator testnet (aitbc.ops.testnet: one app and one
cometbft per node on 127.0.0.1), a real Ollama serving the generated tiny
model, the coordinator (against node 0) and K miner daemons, and offers the
faults the suite injects: kill -9 a validator or only its app, pause a
validator (SIGSTOP/SIGCONT), kill -9 and restart the coordinator or a miner,
stop and start Ollama. `stop()` ends everything it started, also after a
failed start.

Used by tests/faults and by scripts/loadtest.py.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import signal
import sys
from pathlib import Path
from typing import Any

import httpx

from aitbc.crypto import PrivateKey
from aitbc.ops import procs, testnet as tn
from aitbc.ops.harness.load import query_any as load_query_any
from aitbc.ops.harness.ollama import serve_model, tiny_model_file
from aitbc.ops.harness.services import CoordinatorProcess, MinerProcess
from aitbc.rpc import ChainRPC

CHAIN_ID = "aitbc-faults"


def key(name: str, namespace: str = "aitbc-faults") -> PrivateKey:
    """Deterministic keys per name (and namespace), so that runs are comparable."""
    return PrivateKey(hashlib.sha256(f"{namespace}:{name}".encode()).digest())


def stack_keys(miners: int, transfer_accounts: int, job_clients: int,
               namespace: str = "aitbc-faults") -> dict[str, PrivateKey]:
    """coordinator, bob (special jobs), miner1..K, t0..tM-1 (transfers), client1..J (background jobs)."""
    names = ["coordinator", "bob", *[f"miner{k}" for k in range(1, miners + 1)],
             *[f"t{i}" for i in range(transfer_accounts)], *[f"client{j}" for j in range(1, job_clients + 1)]]
    return {name: key(name, namespace) for name in names}


class FaultStack:
    """Testnet + Ollama + coordinator + miners, started in `root`."""

    def __init__(self, root: Path, validators: int = 4, miners: int = 2, transfer_accounts: int = 4,
                 chain_params: dict[str, int] | None = None, coordinator_settings: dict[str, Any] | None = None,
                 namespace: str = "aitbc-faults", miner_capacity: int = 1, job_clients: int = 1):
        self.root = root.resolve()
        self.validators = validators
        self.miner_count = miners
        self.miner_capacity = miner_capacity
        self.keys = stack_keys(miners, transfer_accounts, job_clients, namespace)
        self.transfer_names = [f"t{i}" for i in range(transfer_accounts)]
        self.job_client_names = [f"client{j}" for j in range(1, job_clients + 1)]
        self.chain_params = {"pending_timeout_s": 30, "job_timeout_s": 60, **(chain_params or {})}
        self.coordinator_settings = {"queue_timeout_s": 20, "miner_offline_after_s": 4, "tick_s": 0.25,
                                     "tx_lost_after_s": 8, "rpc_timeout_s": 5, "rate_limit_per_minute": 6000,
                                     "rate_limit_burst": 200, "ip_rate_limit_per_minute": 60000,
                                     "ip_rate_limit_burst": 2000, **(coordinator_settings or {})}
        self.client_api_key = secrets.token_urlsafe(16)
        self.net: tn.Testnet | None = None
        self.ollama = None
        self.coordinator: CoordinatorProcess | None = None
        self.miners: dict[str, MinerProcess] = {}
        self.balance = 1_000_000_000_000  # uaitbc per genesis account

    # --- start / stop ------------------------------------------------------------------
    def start(self) -> "FaultStack":
        try:
            self._start_chain()
            self._start_ollama()
            self._start_services()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_services(self) -> None:
        """The coordinator, then the miners (spread over the nodes), until all are online."""
        self._start_coordinator()
        for k in range(1, self.miner_count + 1):
            self._start_miner(f"miner{k}", node=k % self.validators)
        self.wait_miners_online()

    def _start_chain(self) -> None:
        self.net = tn.create(self.root / "net", self.validators, self.keys, chain_id=CHAIN_ID,
                             params=self.chain_params, balance=self.balance)
        self.net.start(python=sys.executable, timeout=60)
        self.net.wait_for_height(2, timeout=90)

    def _start_ollama(self) -> None:
        scratch = self.root / "ollama"
        self.ollama = serve_model(scratch / "models", scratch / "ollama.log", tiny_model_file(scratch))

    def _start_coordinator(self) -> None:
        data = self.root / "coordinator"
        self.coordinator = CoordinatorProcess(
            self.root, self.node_url(0), key=self.keys["coordinator"], client_api_keys=(self.client_api_key,),
            admin_api_keys=(), data_dir=data, log_path=data / "coordinator.out", home=self.root / "home",
            ready_timeout=60, **self.coordinator_settings)
        self.coordinator.start()
        self.coordinator_url = self.coordinator.url

    def _start_miner(self, name: str, node: int) -> None:
        data = self.root / name
        miner = MinerProcess(self.root, name, self.node_url(node), self.coordinator_url, self.ollama.url,
                             capacity=self.miner_capacity, key=self.keys[name], data_dir=data,
                             log_path=data / "miner.out")
        self.miners[name] = miner
        miner.start(timeout=90)

    def stop(self) -> None:
        """Everything this stack started, in reverse order; never raises for what is already gone."""
        for miner in self.miners.values():
            miner.stop()
        if self.coordinator is not None:
            self.coordinator.stop()
        if self.net is not None:
            for node in self.net.nodes:  # a paused node cannot act on SIGTERM
                for pid in node.pids.values():
                    _signal_group(pid, signal.SIGCONT)
            self.net.stop()
        if self.ollama is not None:
            self.ollama.stop()

    def leftovers(self) -> list[str]:
        """Command lines of live processes that belong to this stack (its folder in their arguments)."""
        found = procs.processes_mentioning(str(self.root))
        if self.ollama is not None and self.ollama.pid is not None:
            found.append(f"ollama serve (pid {self.ollama.pid})")
        return found

    # --- what it looks like -----------------------------------------------------------------
    def node_url(self, index: int) -> str:
        assert self.net is not None
        return self.net.node(index).rpc

    @property
    def node_urls(self) -> list[str]:
        return [self.node_url(i) for i in range(self.validators)]

    def rpc(self, index: int = 0, timeout: float = 10) -> ChainRPC:
        return ChainRPC(self.node_url(index), timeout=timeout)

    def heights(self) -> dict[int, int | None]:
        assert self.net is not None
        return self.net.heights()

    def top(self, indices: list[int] | None = None) -> int:
        return max((h or 0) for i, h in self.heights().items() if indices is None or i in indices)

    def wait_miners_online(self, timeout: float = 60, names: list[str] | None = None) -> None:
        wanted = {self.keys[n].address for n in (names or list(self.miners))}

        def online() -> bool:
            miners = httpx.get(f"{self.coordinator_url}/v1/miners", timeout=3).json()
            return wanted <= {m["address"] for m in miners if m.get("online")}

        procs.wait_until(online, timeout, f"miners {sorted(names or self.miners)} online at the coordinator")

    # --- faults: validators ------------------------------------------------------------------
    def _pids(self, index: int) -> dict[str, int]:
        assert self.net is not None
        return dict(self.net.node(index).pids)

    def kill9_node(self, index: int) -> None:
        """kill -9 the cometbft and the app of validator `index` (a power cut)."""
        pids = self._pids(index)
        for name in ("cometbft", "app"):
            _signal_group(pids.get(name), signal.SIGKILL)
        self._wait_gone(index, ("cometbft", "app"))

    def kill9_app(self, index: int) -> None:
        """kill -9 only the ABCI app of validator `index`; its cometbft is left to notice."""
        _signal_group(self._pids(index).get("app"), signal.SIGKILL)
        self._wait_gone(index, ("app",))

    def _wait_gone(self, index: int, names: tuple[str, ...], timeout: float = 15) -> None:
        assert self.net is not None
        procs.wait_until(lambda: not any(self.net.running(index)[n] for n in names), timeout,
                         f"node{index} {'/'.join(names)} gone")

    def cometbft_exits_by_itself(self, index: int, timeout: float = 20) -> bool:
        """Whether node `index`'s cometbft stops on its own (it should, once its app is gone)."""
        assert self.net is not None
        try:
            procs.wait_until(lambda: not self.net.running(index)["cometbft"], timeout, "cometbft exit")
            return True
        except TimeoutError:
            return False

    def start_node(self, index: int, timeout: float = 60) -> None:
        """Start whatever of node `index` is not running (app first, then cometbft)."""
        assert self.net is not None
        self.net.start([index], python=sys.executable, timeout=timeout)

    def stop_node(self, index: int) -> None:
        assert self.net is not None
        self.net.stop_node(index)

    def pause_node(self, index: int) -> None:
        """SIGSTOP the cometbft and the app of `index`: to its peers it is cut off."""
        for pid in self._pids(index).values():
            _signal_group(pid, signal.SIGSTOP)

    def resume_node(self, index: int) -> None:
        for pid in self._pids(index).values():
            _signal_group(pid, signal.SIGCONT)

    def node_log(self, index: int) -> Path:
        assert self.net is not None
        return Path(self.net.node(index).home) / "logs" / "node.log"

    # --- faults: services ----------------------------------------------------------------------
    def restart_coordinator(self, timeout: float = 60) -> None:
        assert self.coordinator is not None
        self.coordinator.start(timeout)

    def stop_ollama(self) -> None:
        self.ollama.stop()

    def start_ollama(self) -> None:
        """Ollama again on the same port and models folder (the miners know only that URL)."""
        self.ollama.start()


def _signal_group(pid: int | None, sig: int) -> None:
    if not pid:
        return
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def wait_synced(stack: FaultStack, timeout: float = 90, ahead: int = 2) -> int:
    """Wait until every node has reached (the highest height now + `ahead`); return that height."""
    assert stack.net is not None
    target = stack.top() + ahead
    stack.net.wait_for_height(target, timeout=timeout)
    return target


def app_hashes_agree(stack: FaultStack, low: int, high: int) -> dict[int, str]:
    """Header app hashes of every node over [low, high]; raise AssertionError on any difference."""
    per_node = {i: tn.app_hashes(url, low, high) for i, url in enumerate(stack.node_urls)}
    reference = per_node[0]
    assert len(reference) == high - low + 1, f"node0 has {len(reference)} headers in [{low}, {high}]"
    for i, hashes in per_node.items():
        differ = [h for h in reference if hashes.get(h) != reference[h]]
        assert not differ, f"node{i} disagrees with node0 at heights {differ[:5]}: " \
                           f"{hashes.get(differ[0])} != {reference[differ[0]]}"
    return reference


def query_any(stack: FaultStack, path: str) -> Any:
    """abci_query on the first of the stack's nodes that answers."""
    return load_query_any(stack.node_urls, path)
