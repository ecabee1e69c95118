"""The miner as one object: start-up checks, registration, job runner, presence loop,
and the chain watch that finds the direct jobs the chain assigns to it.

No web framework here; miner/app.py exposes it over HTTP. Collaborators
(chain, Ollama, the coordinator transport, the chain's events) can be passed in,
which is how the unit tests replace the network. Without a coordinator
(settings.uses_coordinator false) there is no presence loop and no pushed work:
only direct jobs.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time

import httpx

from aitbc import jobspec, tx as txlib
from aitbc.crypto import PrivateKey
from aitbc.endpoints import authority
from aitbc.rpc import AsyncChainRPC, ChainError, QueryFailed
from aitbc.signed_http import ReplayCache, push_target
from aitbc.api.coordinator_models import MinerRegister
from aitbc.miner.coordinator_link import CoordinatorLink
from aitbc.miner.metrics import MinerMetrics
from aitbc.api.miner_models import MinerHealth
from aitbc.miner.ollama_client import OllamaClient, OllamaError
from aitbc.miner.outbox import Outbox
from aitbc.miner.presence import Presence
from aitbc.miner.chain_watch import ChainWatch
from aitbc.miner.direct_jobs import DirectJobs
from aitbc.miner.own_txs import OwnTxs
from aitbc.miner.registration import Chain, ChainInfo, Offer, StartupError, chain_info, encryption_key_of, \
    ensure_registered, load_key, offered_models, standing
from aitbc.api.miner_models import JobAssignment
from aitbc.miner.runner import ChainUnreachable, Generator, JobRunner, NotAssignedOnChain, NotYetOnChain
from aitbc.miner.settings import MinerSettings

log = logging.getLogger("miner")

# The coordinator pushes right after broadcasting assign_job, so the assignment may
# still be in the mempool: poll the chain this long (about two 1 s blocks plus a
# slow round) before refusing. The coordinator's push timeout (10 s) covers it.
CONFIRM_WAIT_S = 5.0
CONFIRM_POLL_S = 0.25


class NotCoordinator(Exception):
    """A correctly signed request from a key that is not the chain's coordinator."""


def _check_matches_chain(assignment: JobAssignment, job: dict) -> None:
    """The pushed job must be the one the client paid for: what the miner signs (prompt hash,
    model, options) is checked on chain, so running anything else would only cost it the job.
    Raises NotAssignedOnChain."""
    data, options = assignment.job_data, assignment.job_data.options
    pushed = {"job_type": data.type, "prompt_hash": jobspec.prompt_hash(data.prompt).hex(), "model": data.model,
              "temperature_milli": jobspec.temperature_milli(options.temperature), "seed": options.seed,
              "num_predict": options.num_predict}
    differ = ", ".join(name for name, value in pushed.items() if name in job and job[name] != value)
    if differ:
        raise NotAssignedOnChain(f"job {assignment.job_id} as pushed differs from the job on chain ({differ}); "
                                 "only the job the client paid for is run")


class MinerDaemon:
    def __init__(self, settings: MinerSettings, *, key: PrivateKey | None = None, chain: Chain | None = None,
                 ollama: Generator | None = None, coordinator_transport: httpx.AsyncBaseTransport | None = None,
                 chain_events=None, watch_chain: bool | None = None):
        """`chain_events`: an async iterable of aitbc.chain_events items to watch instead of the node's
        websocket; `watch_chain` None watches when the chain is the real node or events are given."""
        self.settings = settings
        self.key = key or load_key(settings.key)
        self.watch_chain = (chain is None or chain_events is not None) if watch_chain is None else watch_chain
        self.chain_events = chain_events
        self.chain = chain or AsyncChainRPC(settings.node)
        self.ollama = ollama or OllamaClient(settings.ollama_url, timeout=settings.ollama_timeout_s)
        self.metrics = MinerMetrics()
        self.link = CoordinatorLink(settings.coordinator_url, self.key, transport=coordinator_transport)
        self.outbox = Outbox(self.link, settings.outbox_file, settings.report_retry_s,
                             on_change=self.metrics.pending_reports.set)
        self.info: ChainInfo | None = None
        self.runner: JobRunner | None = None
        self.presence: Presence | None = None
        self.direct: DirectJobs | None = None
        self.watch: ChainWatch | None = None
        self.chain_action = ""
        self.replay = ReplayCache()  # nonces of the coordinator's signed pushes seen in the last minute
        self.push_target = ""         # what a push to this miner must be signed for (address@host:port)
        self.started = False
        self._stopped = False
        self._presence_task: asyncio.Task | None = None
        self._watch_task: asyncio.Task | None = None

    @property
    def address(self) -> str:
        return self.key.address

    async def start(self) -> None:
        """Check Ollama and the chain, register, start serving. Raises StartupError."""
        s = self.settings
        models = await offered_models(self.ollama, s.ollama_url, s.models)
        self.info = info = await chain_info(self.chain, s.node)
        self.link.target = info.coordinator
        try:
            self.push_target = push_target(self.address, authority(s.public_endpoint))
        except ValueError as exc:
            raise StartupError(f"endpoint {s.public_endpoint!r} cannot be used: {exc}") from None
        offer = Offer(models=models, capacity=s.capacity, endpoint=s.public_endpoint,
                      price_per_second=s.price_per_second or info.price_per_second,
                      stake=s.stake if s.stake is not None else info.min_miner_stake, ms_per_token=s.ms_per_token,
                      encryption_key=encryption_key_of(self.key))
        self.chain_action = await ensure_registered(self.chain, self.key, info, offer)
        self.runner = JobRunner(self.key, info.chain_id, models, s.capacity, self.ollama, self.link, self.outbox,
                                self.metrics, s.ollama_timeout_s, s.num_thread, s.fault_tamper_share,
                                s.fault_inflate_time_x, job_timeout_s=info.job_timeout_s)
        resumed: list[str] = []
        if s.uses_coordinator:
            resumed = self.outbox.load()
            registration = MinerRegister(endpoint=offer.endpoint, models=models, capacity=s.capacity)
            self.presence = Presence(self.link, registration, s.heartbeat_interval_s,
                                     lambda: self.runner.active_jobs, self.metrics,
                                     lambda back: self.outbox.kick(wake=back), self._is_coordinator)
            self._presence_task = asyncio.create_task(self.presence.run(), name="presence")
        txs = OwnTxs(self.key, self.chain, info.chain_id, info.min_fee, info.fee_per_byte)
        self.direct = DirectJobs(self.key, self.chain, info.chain_id, self.runner, txs, self.metrics,
                                 s.report_retry_s)
        if self.watch_chain:
            # Registered with an encryption key, this miner may be assigned direct jobs in any mode:
            # it must watch for them, or they expire on it.
            self.watch = ChainWatch(self.chain, self.address, self.direct.take, self.direct.check,
                                    events=self.chain_events, node_url=s.node, resync_s=s.resync_interval_s)
            self._watch_task = asyncio.create_task(self.watch.run(), name="chain-watch")
        self.started = True
        log.info("miner started", extra={"address": self.address, "chain_id": info.chain_id, "models": models,
                                         "capacity": s.capacity, "price_per_second": offer.price_per_second,
                                         "endpoint": offer.endpoint,
                                         "coordinator": s.coordinator_url if s.uses_coordinator else None,
                                         "direct_jobs": self.watch_chain,
                                         "ollama": s.ollama_url, "chain": self.chain_action,
                                         "resumed_reports": len(resumed)})

    def authorize(self, signer: str) -> None:
        """Raises NotCoordinator unless `signer` is this miner's coordinator (the one at
        --coordinator-url: the genesis coordinator or a registered one, Presence learns which)."""
        assert self.info is not None, "daemon not started"
        if not self.settings.uses_coordinator:
            raise NotCoordinator("this miner runs without a coordinator (--no-coordinator): it takes only the "
                                 "direct jobs the chain assigns to it")
        if signer != self.link.target:
            raise NotCoordinator(f"assignments are accepted only from this miner's coordinator "
                                 f"{self.link.target}; this one is signed by {signer}")

    async def _is_coordinator(self, address: str) -> bool:
        """Whether the chain lists `address` as a coordinator (genesis or registered)."""
        try:
            await self.chain.query(f"/coordinator/{address}")
        except ChainError:
            return False
        return True

    async def confirm_assignment(self, assignment: JobAssignment, wait_s: float = CONFIRM_WAIT_S) -> str:
        """"miner" or "checker": this miner's role in the job per the chain. Waits up to
        `wait_s` for a just-broadcast assign_job/assign_check to be committed.

        Raises NotAssignedOnChain (409) when the chain shows the job closed or another
        miner's, NotYetOnChain (503, retryable) when it does not show this miner's
        assignment within `wait_s`, ChainUnreachable (503).
        """
        job_id = assignment.job_id
        deadline = time.monotonic() + wait_s
        seen = "not on chain"
        while True:
            try:
                job = await self.chain.query(f"/job/{job_id}")
            except QueryFailed:
                job = None
            except ChainError as exc:
                raise ChainUnreachable(f"cannot read job {job_id} from the chain to check the assignment: "
                                       f"{exc}") from None
            if job is not None:
                _check_matches_chain(assignment, job)
                status = job.get("status")
                if status == "assigned" and job.get("miner") == self.address:
                    return "miner"
                if status == "verifying" and job.get("checker") == self.address:
                    return "checker"
                seen = f"{status}, miner {job.get('miner') or '-'}, checker {job.get('checker') or '-'}"
                if status in jobspec.FINAL or (status == "assigned" and job.get("miner") != self.address):
                    # The chain never hands a closed job or another miner's job over.
                    raise NotAssignedOnChain(f"job {job_id} is not assigned to this miner ({self.address}) on "
                                             f"chain (chain: {seen}); only jobs the chain assigned to it are run")
            if (job is None or job.get("status") == "pending") and await self._assigned_in_mempool(job_id):
                return "miner"
            if time.monotonic() >= deadline:
                raise NotYetOnChain(f"job {job_id} is not assigned to this miner ({self.address}) on chain yet "
                                    f"(chain: {seen}) after {wait_s:g} s; retry once the assignment is in a block")
            await asyncio.sleep(CONFIRM_POLL_S)

    async def _assigned_in_mempool(self, job_id: str) -> bool:
        """Whether an assign_job of `job_id` to this miner, signed by the genesis coordinator,
        waits in the node's mempool. The mempool holds only txs that passed CheckTx (signature,
        job pending, miner eligible), so this saves waiting up to a block for the commit."""
        call = getattr(self.chain, "call", None)
        if call is None or self.info is None:
            return False
        try:
            result = await call("unconfirmed_txs", limit="100")
        except ChainError:
            return False
        for raw in (result or {}).get("txs") or []:
            try:
                tx = txlib.decode(base64.b64decode(raw))
            except Exception:  # noqa: BLE001 - someone else's tx we cannot read is not ours
                continue
            if tx.kind == "assign_job" and tx.sender == self.link.target and tx.chain_id == self.info.chain_id \
                    and tx.msg.job_id == job_id and tx.msg.miner == self.address:
                return True
        return False

    async def health(self) -> MinerHealth:
        try:
            await asyncio.wait_for(self.ollama.version(), timeout=3)  # type: ignore[attr-defined]
            ollama = "ok"
        except (OllamaError, asyncio.TimeoutError) as exc:
            ollama = str(exc) or "timed out"
        standing = await self._standing()
        runner = self.runner
        return MinerHealth(
            status="ok" if ollama == "ok" and standing in ("ok", None) else "degraded", address=self.address,
            models=runner.models if runner else [], capacity=self.settings.capacity,
            active_jobs=runner.active_jobs if runner else 0, ollama=ollama,
            chain_id=self.info.chain_id if self.info else None,
            coordinator=self.presence.state if self.presence else
            (None if self.settings.uses_coordinator else "none (direct jobs only)"),
            pending_reports=len(self.outbox),
            chain_events=self.watch.state if self.watch else None, standing=standing,
        )

    async def _standing(self) -> str | None:
        """The chain's view of this miner (registration.standing); None before start or when the
        node does not answer."""
        if self.info is None:
            return None
        try:
            record = await asyncio.wait_for(self.chain.query(f"/miner/{self.address}"), timeout=3)
        except QueryFailed:
            record = None
        except (ChainError, asyncio.TimeoutError):
            return None
        return standing(record, self.info, time.time_ns())

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        for task in (self._watch_task, self._presence_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.runner is not None:
            await self.runner.close()
        await self.outbox.close()
        await self.link.aclose()
        for client in (self.ollama, self.chain):
            close = getattr(client, "aclose", None)
            if close is not None:
                await close()
        if self.started:
            log.info("miner stopped", extra={"pending_reports": len(self.outbox)})


__all__ = ["MinerDaemon", "NotCoordinator", "StartupError"]
