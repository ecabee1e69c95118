"""The coordinator's runtime: settings, store, chain, keys, metrics and locks,
shared by the request handlers and the background scheduler."""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from dataclasses import dataclass
from typing import Any

from aitbc.crypto import PrivateKey
from aitbc.keyring import KeyError_, Keyring
from aitbc.rpc import AsyncChainRPC
from aitbc.signed_http import ReplayCache
from aitbc.coordinator import registration, targets
from aitbc.coordinator.apikeys import ApiKeys
from aitbc.coordinator.chain import Chain, TxSender
from aitbc.coordinator.errors import ChainUnavailable, NotReady
from aitbc.coordinator.job_streams import JobStreams
from aitbc.coordinator.metrics import Metrics
from aitbc.coordinator.model_offers import ModelOffers
from aitbc.coordinator.push_tasks import PushTasks
from aitbc.coordinator.ratelimit import RateLimiter
from aitbc.coordinator.settings import CoordinatorSettings
from aitbc.coordinator.group_commit import GroupCommit
from aitbc.coordinator.store import Store
from aitbc.api.miner_client import MinerClient

log = logging.getLogger("coordinator")


class StartupError(RuntimeError):
    """The coordinator cannot run as configured; the message says what to fix."""


def load_key(settings: CoordinatorSettings) -> PrivateKey:
    if settings.key_seed:
        try:
            return PrivateKey.from_hex(settings.key_seed.strip())
        except ValueError:
            raise StartupError("AITBC_COORDINATOR_KEY_SEED must be 64 hex digits (an ed25519 seed)") from None
    try:
        return Keyring().get(settings.key)
    except KeyError_ as err:
        raise StartupError(f"coordinator key not found: {err}. Create it with `aitbc keys add {settings.key}` "
                           "or set AITBC_COORDINATOR_KEY_SEED") from None


@dataclass(frozen=True)
class ChainInfo:
    chain_id: str
    coordinator: str             # this coordinator's address
    price_per_second: int
    params: dict[str, Any]
    genesis_coordinator: str = ""  # the chain's genesis coordinator (meta/coordinator)

    @property
    def is_genesis(self) -> bool:
        return self.coordinator == self.genesis_coordinator

    @property
    def job_coordinator(self) -> str:
        """What a client's submit_job must name to be ours: "" for the genesis coordinator."""
        return "" if self.is_genesis else self.coordinator

    def names_us(self, coordinator: str, direct: bool = False) -> bool:
        """Whether a job naming `coordinator` (a tx's field or a chain record's) is ours to run."""
        return not direct and (coordinator == self.coordinator or (coordinator == "" and self.is_genesis))


class Coordinator:
    """Everything a request or a scheduler tick needs, built once per app."""

    def __init__(self, settings: CoordinatorSettings, rpc: Any | None = None, key: PrivateKey | None = None):
        self.settings = settings
        self.key = key or load_key(settings)
        self.store = Store(settings.db_path)
        self.metrics = Metrics()
        # Writes that must be committed before a broadcast.
        self.writes = GroupCommit(self.store, self.metrics.store_commit_wait)
        self.keys = ApiKeys(self.store, settings.api_key_pepper)
        for role in ("client", "admin"):
            try:
                role_keys = settings.api_keys(role)
            except OSError as exc:
                raise StartupError(f"cannot read the {role} API key file: {exc}") from None
            for key_text in role_keys:
                self.keys.add(key_text, role, "from settings")
        self.limiter = RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)
        self.ip_limiter = RateLimiter(settings.ip_rate_limit_per_minute, settings.ip_rate_limit_burst)
        self.replay = ReplayCache()  # nonces of signed miner requests seen in the last minute
        self.chain = Chain(rpc or AsyncChainRPC(settings.node, timeout=settings.rpc_timeout_s),
                           broadcast_batch=settings.broadcast_batch, broadcast_seconds=self.metrics.node_broadcast)
        self.miners = MinerClient(self.key, timeout=settings.push_timeout_s,
                                  resolve=lambda endpoint: targets.resolve(endpoint,
                                                                           settings.allow_private_endpoints),
                                  target_of=self.push_target)
        self.info: ChainInfo | None = None
        self.unready: str | None = None  # why connect() cannot finish (not registered on chain), for /ready
        self.sender: TxSender | None = None
        self.started_at = time.time()
        self.pushes = PushTasks()
        self.model_offers = ModelOffers(self.chain)
        self.streams = JobStreams()  # live text of running jobs, in memory only
        self.store.on_job_changed = self.streams.job_changed
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self.followed_height: int | None = None  # the last block the tracker read (tracker.py)
        self.head_this_tick: int | None = None   # the node's head as this tick's tracker pass read it, if it did
        self.checks_read_at: int | None = None   # the head of the last spot-check pass (spot_checks.py)
        self.jobs_waiting = asyncio.Event()      # set by intake: the scheduler assigns without waiting a tick
        self.new_block = asyncio.Event()         # set by block_watch.py: the scheduler ticks without waiting
        # Miners the chain refused an assignment to for a price above the job's cap (their new
        # price is not in the committed list yet), with the monotonic time: scheduler.py
        self.priced_out: dict[str, float] = {}
        # Miners the chain refused an assignment to as full while our count said a slot was
        # free, with the monotonic time: scheduler.py (_closed_since)
        self.found_full: dict[str, float] = {}

    def lock(self, job_id: str) -> asyncio.Lock:
        """One lock per job: handlers and the scheduler never interleave on a job."""
        lock = self._locks.get(job_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[job_id] = lock
        return lock

    async def connect(self) -> ChainInfo:
        """Learn the chain id and check that our key is a coordinator: the genesis one or a
        registered one (registering it when the settings ask for it; registration.py)."""
        params = await self.chain.params()
        if params["coordinator"] != self.key.address:
            try:
                await registration.ensure_registered(self.chain, self.key, self.settings, params)
            except (registration.NotRegistered, registration.RegistrationFailed) as exc:
                self.unready = str(exc)
                raise StartupError(str(exc)) from None
        self.unready = None
        info = ChainInfo(params["chain_id"], self.key.address, int(params["price_per_second"]), params,
                         genesis_coordinator=params["coordinator"])
        self.sender = TxSender(self.chain, self.key, info.chain_id, self.store, self.metrics)
        self.info = info
        log.info("connected to chain", extra={"event": "chain_connected", "chain_id": info.chain_id,
                                              "node": self.settings.node, "coordinator": self.key.address,
                                              "genesis": info.is_genesis})
        return info

    async def push_target(self, job_id: str) -> str:
        """The miner an assignment of `job_id` is for: the chain's checker while the job is
        under spot check, else the miner the coordinator assigned it to (its assign_job tx
        may still be in the mempool, so the local record is the one to read)."""
        chain_job = await self.chain.job(job_id)
        if chain_job is not None and chain_job.get("status") == "verifying" and chain_job.get("checker"):
            return chain_job["checker"]
        job = self.store.get_job(job_id)
        if job is None or not job.miner:
            raise LookupError(f"job {job_id} has no assigned miner to push to")
        return job.miner

    def require_chain(self) -> tuple[ChainInfo, TxSender]:
        if self.info is None or self.sender is None:
            if self.unready:
                raise NotReady(self.unready)
            raise ChainUnavailable(f"not connected to the chain node at {self.settings.node} yet")
        return self.info, self.sender

    def miner_online(self, last_seen: float | None, now: float | None = None, grace_from_start: bool = False) -> bool:
        """Heartbeat within miner_offline_after_s; after a restart miners get that long to come back."""
        now = now if now is not None else time.time()
        seen = last_seen or 0.0
        if grace_from_start:
            seen = max(seen, self.started_at)
        return now - seen <= self.settings.miner_offline_after_s

    async def aclose(self) -> None:
        await self.miners.aclose()
        await self.chain.aclose()
        self.store.close()
