"""Finding the direct jobs the chain assigns to this miner and the checks it seats on it.

Three sources, so that no assignment is missed and none waits long:
- the node's websocket (aitbc.chain_events): tx events and block events (FinalizeBlock,
  where assignments are retried at block start) naming this miner as a job's miner
  or a check's checker;
- a re-sync by query at start and after every reconnect (pages of `/jobs/open` and
  `/checks/open`): whatever was assigned while the connection was down;
- a slow periodic re-sync, in case an event was dropped on the way.
An event only says where to look: the job is read from the chain's state and handed
over only if it is still this miner's. The handlers (DirectJobs) run each job once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterable, Callable
from typing import Any

from aitbc.chain_events import ChainEvent, ChainEvents, Connected, SubscriptionRefused
from aitbc.rpc import ChainError, QueryFailed

log = logging.getLogger("miner.watch")
PAGE = 1000  # /jobs/open and /checks/open answer at most this many a call


def subscriptions(address: str) -> dict[str, str]:
    """The queries on this miner's address: 4 of the 5 a CometBFT connection may hold."""
    return {
        "jobs": f"tm.event='Tx' AND job.miner='{address}'",
        "block_jobs": f"tm.event='NewBlockEvents' AND job.miner='{address}'",
        "checks": f"tm.event='Tx' AND check.checker='{address}'",
        "block_checks": f"tm.event='NewBlockEvents' AND check.checker='{address}'",
    }


def mentioned_jobs(event: ChainEvent, address: str) -> set[str]:
    """Ids of the jobs whose job event names `address` as miner or whose check event names it as checker."""
    ids = {a.get("id", "") for a in event.events_of("job") if a.get("miner") == address}
    ids |= {a.get("job_id", "") for a in event.events_of("check") if address in a.get("checker", "").split(",")}
    return ids - {""}


class ChainWatch:
    """Calls `on_job(job)` for direct jobs assigned to `address` and `on_check(job)` for checks seated
    on it (job records as `/job/<id>` answers them); the callbacks must return at once."""

    def __init__(self, chain: Any, address: str, on_job: Callable[[dict[str, Any]], Any],
                 on_check: Callable[[dict[str, Any]], Any], events: AsyncIterable[Connected | ChainEvent] | None = None,
                 node_url: str = "", resync_s: float = 30.0):
        self.chain, self.address = chain, address
        self.on_job, self.on_check = on_job, on_check
        self.events = events if events is not None else ChainEvents(node_url, subscriptions(address))
        self.resync_s = resync_s
        self.resyncs = 0
        self.last_event_at: float | None = None
        self._reads: set[asyncio.Task] = set()

    @property
    def state(self) -> str:
        """"subscribed" while the websocket is up, else "connecting" (the re-syncs go on)."""
        return "subscribed" if getattr(self.events, "up", False) else "connecting"

    async def run(self) -> None:
        """Until cancelled: events, re-syncs after every (re)connect, and a periodic re-sync."""
        periodic = asyncio.create_task(self._periodic(), name="chain-resync")
        stream = aiter(self.events)
        try:
            async for item in stream:
                if isinstance(item, Connected):
                    await self.resync("reconnected" if item.reconnected else "connected")
                else:
                    self.last_event_at = time.monotonic()
                    for job_id in mentioned_jobs(item, self.address):
                        self._read_later(job_id)
        except SubscriptionRefused as exc:
            # A node configured against it (e.g. rpc.max_subscriptions_per_client below 4): the slow
            # re-syncs still find every assignment, only later.
            log.error("chain events refused; finding direct jobs by periodic re-sync only",
                      extra={"error": str(exc), "resync_s": self.resync_s})
            await periodic
        finally:
            periodic.cancel()
            for task in [periodic, *self._reads]:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:  # closes the websocket now, not when the generator is collected
                with contextlib.suppress(Exception):
                    await aclose()

    def _read_later(self, job_id: str) -> None:
        task = asyncio.create_task(self._read(job_id), name=f"read-{job_id}")
        self._reads.add(task)
        task.add_done_callback(self._reads.discard)

    async def _read(self, job_id: str) -> None:
        try:
            job = await self.chain.query(f"/job/{job_id}")
        except QueryFailed:
            return
        except ChainError as exc:  # the next re-sync finds it
            log.warning("cannot read a job named in an event", extra={"job_id": job_id, "error": str(exc)})
            return
        self._offer(job)

    def _offer(self, job: dict[str, Any]) -> None:
        if job.get("status") == "assigned" and job.get("miner") == self.address:
            self.on_job(job)
        elif job.get("status") == "verifying" and job.get("checker") == self.address:
            self.on_check(job)

    async def resync(self, why: str) -> int:
        """Read every open job and check and offer this miner's; how many were its own."""
        found = 0
        try:
            for path in ("/jobs/open", "/checks/open"):
                async for job in self._pages(path):
                    if self.address in (job.get("miner"), job.get("checker")):
                        found += 1
                        self._offer(job)
        except ChainError as exc:
            log.warning("re-sync failed", extra={"why": why, "error": str(exc)})
            return found
        self.resyncs += 1
        log.info("re-synced with the chain", extra={"why": why, "own_open": found})
        return found

    async def _pages(self, path: str):
        after = ""
        while True:
            page = await self.chain.query(f"{path}?limit={PAGE}" + (f"&after={after}" if after else ""))
            for job in page:
                yield job
            if len(page) < PAGE:
                return
            after = page[-1]["id"]

    async def _periodic(self) -> None:
        while True:
            await asyncio.sleep(self.resync_s)
            await self.resync("periodic")
