"""A market where jobs need no coordinator, and where several coordinators serve
beside it (issue 12, docs/direct-jobs.md), on one machine with every part real.

`DirectMarket` is a FaultStack (N validators, cometbft + the app each, a real
Ollama serving aitbc-tiny) whose miners run with `--no-coordinator`: they watch
their node's websocket for the direct jobs the chain assigns them and report to
the chain themselves. `start_coordinators()` adds the genesis coordinator ("a")
and a second one ("b") that registers itself on chain with its own key and bond,
each with its own miner daemon and its own client API key.

Clients:
- `submit_direct` seals and broadcasts a direct `submit_job` as the CLI does
  (library), with the option to seal a candidate's job key to the wrong key;
- `cli` runs the real `aitbc` CLI as a subprocess, with the clients' keys in its keyring;
- `submit_to` posts a coordinator job (signed for that coordinator) to its HTTP API.

Faults: kill -9 a coordinator or a miner (and start a miner again as it was).
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Sequence

import httpx

from aitbc import jobspec, sealing, tx as txlib
from aitbc.abci_app import assignment, miners as chain_miners
from aitbc.api.coordinator_client import CoordinatorClient, sign_job
from aitbc.api.coordinator_models import JobOptions
from aitbc.keyring import Keyring
from aitbc.ops import procs
from aitbc.ops.harness import load
from aitbc.ops.harness.chain import MODEL
from aitbc.ops.harness.polling import wait_for
from aitbc.ops.harness.marketplace import CHAIN_ID, FaultStack, key, query_any
from aitbc.ops.harness.services import ROOT, CoordinatorProcess, MinerProcess
from aitbc.rpc import QueryFailed

NAMESPACE = "aitbc-direct"
MAX_REWARD = 2_000_000       # 2 AITBC: above what even a 4096-token tiny job costs
FINAL = tuple(str(s) for s in jobspec.FINAL)
# Coordinator name -> (its key's name, its miner's name). "a" is the genesis coordinator.
COORDINATORS = {"a": ("coordinator", "miner-a"), "b": ("coordinator-b", "miner-b")}


@dataclass(frozen=True)
class Sent:
    """A direct job as its client sent it."""

    job_id: str
    client: str
    tx_hash: str
    prompt: str
    candidates: tuple[str, ...]   # key names, in the tx's order


class DirectMarket(FaultStack):
    """Testnet + Ollama + `miners` miner daemons without a coordinator; coordinators on demand.

    Clients are `client1..clientJ`; `coordinator-b`, `miner-a` and `miner-b` are funded at
    genesis too, so that B can bond itself and the coordinators' miners can stake."""

    def __init__(self, root: Path, validators: int = 4, miners: int = 2, clients: int = 4,
                 chain_params: dict[str, int] | None = None, coordinator_settings: dict[str, Any] | None = None,
                 miner_capacity: int = 2, resync_s: float = 5):
        super().__init__(root, validators=validators, miners=miners, transfer_accounts=0, chain_params=chain_params,
                         coordinator_settings=coordinator_settings, namespace=NAMESPACE,
                         miner_capacity=miner_capacity, job_clients=clients)
        for name in ("coordinator-b", "miner-a", "miner-b"):
            self.keys[name] = key(name, NAMESPACE)
        self.resync_s = resync_s
        self.coordinators: dict[str, CoordinatorProcess] = {}
        self.api_keys = {name: secrets.token_urlsafe(16) for name in COORDINATORS}
        self.cli_home = self.root / "cli-home"

    # --- start / stop ------------------------------------------------------------------
    def _start_services(self) -> None:
        """Only the direct miners (spread over the nodes), until each is subscribed to its node."""
        keyring = Keyring(self.cli_home / "keys")
        for name in self.job_client_names:
            keyring.add(name, self.keys[name], overwrite=True)
        for k in range(1, self.miner_count + 1):
            self._start_direct_miner(f"miner{k}", node=k % self.validators)

    def _start_direct_miner(self, name: str, node: int) -> None:
        data = self.root / name
        miner = MinerProcess(self.root, name, self.node_url(node), "", self.ollama.url, capacity=self.miner_capacity,
                             key=self.keys[name], data_dir=data, log_path=data / "miner.out",
                             extra_args=("--no-coordinator", "--resync-interval", str(self.resync_s)))
        self.miners[name] = miner
        self.start_miner(name)

    def start_miner(self, name: str, timeout: float = 90) -> None:
        """Start miner `name` (again: same command, port and data folder) until it watches the chain."""
        miner = self.miners[name]
        miner.start(timeout=timeout)
        procs.wait_until(lambda: self.watching(name), 60, f"{name} subscribed to its node's events",
                         miner.proc, miner.log_path)

    def watching(self, name: str) -> bool:
        """Whether miner `name` is subscribed to its node's websocket (its /health says so)."""
        try:
            health = httpx.get(f"{self.miners[name].url}/health", timeout=2).json()
        except httpx.HTTPError:
            return False
        return health.get("chain_events") == "subscribed"

    def start_coordinators(self) -> None:
        """The genesis coordinator A (on node 0) and B (node 1), which registers itself on chain at
        start with its own key and the chain's minimum bond; then each one's miner, until online."""
        for index, (name, (key_name, _)) in enumerate(COORDINATORS.items()):
            data = self.root / f"coordinator-{name}"
            coordinator = CoordinatorProcess(
                self.root, self.node_url(self._coordinator_node(name)), key=self.keys[key_name],
                client_api_keys=(self.api_keys[name],), admin_api_keys=(), data_dir=data,
                log_path=data / "coordinator.out", home=data / "home", ready_timeout=60,
                **self.coordinator_settings)
            if key_name != "coordinator":  # its URL is known once it has a port: that is what it registers
                coordinator.env["AITBC_COORDINATOR_REGISTER_URL"] = coordinator.url
            self.coordinators[name] = coordinator
            coordinator.start()
        for index, (name, (_, miner_name)) in enumerate(COORDINATORS.items()):
            data = self.root / miner_name
            self.miners[miner_name] = MinerProcess(
                self.root, miner_name, self.node_url((index + 2) % self.validators), self.coordinators[name].url,
                self.ollama.url, capacity=self.miner_capacity, key=self.keys[miner_name], data_dir=data,
                log_path=data / "miner.out", extra_args=("--resync-interval", str(self.resync_s)))
            self.start_miner(miner_name)
        for name in COORDINATORS:
            self.wait_online(name)

    def wait_online(self, coordinator: str, timeout: float = 60) -> None:
        """Until `coordinator` lists its miner online."""
        wanted = self.keys[COORDINATORS[coordinator][1]].address

        def online() -> bool:
            listed = httpx.get(f"{self.coordinators[coordinator].url}/v1/miners", timeout=3).json()
            return any(m["address"] == wanted and m.get("online") for m in listed)

        procs.wait_until(online, timeout, f"{COORDINATORS[coordinator][1]} online at coordinator {coordinator}")

    def stop(self) -> None:
        for miner in self.miners.values():  # first: a miner stopping gives its jobs back through its node
            miner.stop()
        for coordinator in self.coordinators.values():
            coordinator.stop()
        super().stop()

    # --- faults --------------------------------------------------------------------------
    def kill9_coordinator(self, name: str) -> None:
        self.coordinators[name].kill9()

    def kill9_miner(self, name: str) -> None:
        self.miners[name].kill9()

    # --- reading the chain ---------------------------------------------------------------------
    def query(self, path: str) -> Any:
        return query_any(self, path)

    def job(self, job_id: str) -> dict[str, Any] | None:
        """The committed job, or None while it is in no block yet."""
        try:
            return self.query(f"/job/{job_id}")
        except QueryFailed:
            return None

    def wait_final(self, job_id: str, timeout: float = 120) -> dict[str, Any]:
        """The job once it has a final status (completed, failed, expired, cancelled)."""
        seen: list[dict[str, Any] | None] = [None]

        def final() -> dict[str, Any] | None:
            seen[0] = self.job(job_id)
            return seen[0] if seen[0] is not None and seen[0]["status"] in FINAL else None

        try:
            return wait_for(final, timeout, f"job {job_id} final", interval=0.25)
        except TimeoutError:
            raise TimeoutError(f"job {job_id} not final after {timeout:g} s; last seen: {seen[0]}") from None

    def balance_of(self, name: str) -> int:
        try:
            return int(self.query(f"/account/{self.keys[name].address}")["balance"])
        except QueryFailed:
            return 0

    def tx_bytes(self, tx_hash: str, node: int = 0) -> bytes:
        """A committed tx's bytes as a validator's RPC serves them (`/tx?hash=0x...`)."""
        answer = httpx.get(f"{self.node_url(node)}/tx", params={"hash": f"0x{tx_hash}"}, timeout=10).json()
        return base64.b64decode(answer["result"]["tx"])

    def name_of(self, address: str) -> str:
        return next(name for name, k in self.keys.items() if k.address == address)

    # --- clients: direct jobs -----------------------------------------------------------------
    def next_job_id(self, client: str, node: int = 0) -> tuple[int, str]:
        """(nonce, job id) of `client`'s next tx as `node` counts it (its mempool included)."""
        rpc = self.rpc(node)
        try:
            nonce = int(rpc.query(f"/nonce/{self.keys[client].address}")["nonce"])
        finally:
            rpc.close()
        return nonce, txlib.job_id_for(self.keys[client].address, nonce, CHAIN_ID)

    def drawn_first(self, job_id: str, candidates: Sequence[str]) -> str:
        """The candidate (key name) the chain's draw gives job `job_id` before any decline, as the
        miners stand now (the chain's own stake-weighted draw, every candidate assumed eligible)."""
        pool = [SimpleNamespace(name=name, stake=int(self.query(f"/miner/{self.keys[name].address}")["stake"]))
                for name in candidates]
        seed = hashlib.sha256(assignment.ASSIGN_DOMAIN + job_id.encode() + (0).to_bytes(2, "big")).digest()
        return chain_miners.stake_weighted(pool, seed).name

    def submit_direct(self, client: str, prompt: str, candidates: Sequence[str], *,
                      sealed_to: dict[str, bytes] | None = None, num_predict: int = 16, temperature: float = 0.0,
                      seed: int = 42, max_reward: int = MAX_REWARD, node: int = 0, nonce: int | None = None) -> Sent:
        """A direct job of `client` for `candidates` (key names), sealed as `aitbc tx submit-job` seals it:
        the prompt under the client's job key, the job key to each candidate's registered encryption
        key, or to the key `sealed_to[name]` gives. Broadcast (sync) to `node`; raises on refusal."""
        sealed_to = sealed_to or {}
        if nonce is None:
            nonce, job_id = self.next_job_id(client, node)
        else:
            job_id = txlib.job_id_for(self.keys[client].address, nonce, CHAIN_ID)
        job_key = sealing.job_key(self.keys[client], job_id)
        sealed = []
        for name in candidates:
            address = self.keys[name].address
            encryption_key = sealed_to.get(name) or bytes.fromhex(self.query(f"/miner/{address}")["encryption_key"])
            sealed.append({"miner": address, "sealed_key": sealing.seal_job_key(job_key, encryption_key)})
        raw = txlib.build(self.keys[client], CHAIN_ID, nonce, "submit_job", job_type="inference", model=MODEL,
                          prompt_hash=jobspec.prompt_hash(prompt), prompt_bytes=len(prompt.encode()),
                          max_reward=max_reward, max_price_per_second=0,
                          options=jobspec.chain_options(temperature, seed, num_predict),
                          direct={"sealed_prompt": sealing.seal_text(job_key, prompt), "miners": sealed})
        rpc = self.rpc(node)
        try:
            result = rpc.broadcast(raw, "sync")
        finally:
            rpc.close()
        if not result.ok:
            raise RuntimeError(f"direct submit_job of {client} refused: {result.code_name} {result.log}")
        return Sent(job_id, client, result.hash, prompt, tuple(candidates))

    def open_result(self, client: str, job: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """(result, receipt) of a direct job with a receipt: its record_receipt tx from the chain, the
        sealed result opened with the client's job key. Raises ValueError when the result's sha256
        is not the receipt's result hash."""
        receipt = self.query(f"/receipt/{job['id']}")
        signed = txlib.decode(self.tx_bytes(job["receipt_tx"]))
        text = sealing.open_text(sealing.job_key(self.keys[client], job["id"]), signed.msg.sealed_result)
        digest = hashlib.sha256(text.encode()).hexdigest()
        if digest != receipt["result_hash"]:
            raise ValueError(f"job {job['id']}: result sha256 {digest} != receipt {receipt['result_hash']}")
        return text, receipt

    def cli(self, *args: str, node: int = 0, timeout: float = 240) -> subprocess.CompletedProcess:
        """`aitbc --node <node> ARGS` as a subprocess, its keyring holding the job clients' keys."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AITBC_")}
        env.update(AITBC_HOME=str(self.cli_home), PYTHONPATH=str(ROOT))
        return subprocess.run([sys.executable, "-m", "aitbc.cli.main", "--node", self.node_url(node), *args],
                              capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)

    # --- clients: coordinator jobs ---------------------------------------------------------------
    def submit_to(self, coordinator: str, client: str, prompt: str, num_predict: int = 16, temperature: float = 0.0,
                  seed: int = 42, max_reward: int = MAX_REWARD) -> str:
        """A job of `client` through `coordinator`'s HTTP API, its submit_job naming that coordinator
        (GET /v1/chain's job_coordinator, as `aitbc submit` does); returns the job id."""
        url = self.coordinators[coordinator].url
        with CoordinatorClient(url, self.api_keys[coordinator], timeout=10, backoff_s=0.2) as api:
            chain = api.chain()
            # The coordinator's own node: its mempool already holds this client's last job (a
            # broadcast_tx_sync answer), which another node may not have heard of yet.
            nonce = int(load.query_any([self.node_url(self._coordinator_node(coordinator))],
                                       f"/nonce/{self.keys[client].address}")["nonce"])
            body = sign_job(self.keys[client], chain.chain_id, nonce, prompt, MODEL, max_reward,
                            JobOptions(temperature=temperature, seed=seed, num_predict=num_predict),
                            coordinator=chain.job_coordinator)
            return api.submit_job(body).job_id

    def _coordinator_node(self, coordinator: str) -> int:
        """The validator `coordinator` talks to (start_coordinators: the n-th on the n-th node)."""
        return list(COORDINATORS).index(coordinator) % self.validators

    def coordinator_address(self, coordinator: str) -> str:
        """The address a job of `coordinator` holds on chain (its submit_job's "" is the genesis one's)."""
        return self.keys[COORDINATORS[coordinator][0]].address

