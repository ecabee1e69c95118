"""Being known to the coordinator: register, then heartbeat every few seconds.

The coordinator may be down or restart at any time; this loop keeps trying,
re-registers when the coordinator no longer knows us, and tells the outbox
to deliver parked results as soon as the coordinator answers again
(`on_contact(back)`: `back` is true after a run of failures).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

from aitbc.api.coordinator_models import MinerHeartbeat, MinerRegister
from aitbc.miner.coordinator_link import Answer, CoordinatorLink, Outcome
from aitbc.miner.metrics import MinerMetrics

log = logging.getLogger("miner.presence")
LOG_EVERY = 12  # while down, log every Nth failed heartbeat (one a minute at 5 s)


class Presence:
    def __init__(self, link: CoordinatorLink, registration: MinerRegister, interval_s: float,
                 active_jobs: Callable[[], int], metrics: MinerMetrics, on_contact: Callable[[bool], None],
                 is_coordinator: Callable[[str], Awaitable[bool]] | None = None):
        """`is_coordinator(address)`: whether the chain lists it (genesis or registered); the
        address the coordinator at the link's URL gives is taken only then."""
        self.link, self.registration, self.interval_s = link, registration, interval_s
        self.is_coordinator = is_coordinator
        self.active_jobs, self.metrics, self.on_contact = active_jobs, metrics, on_contact
        self.registered = False
        self.state = "not registered yet"
        self._failures = 0

    async def run(self) -> None:
        while True:
            await self.beat()
            await asyncio.sleep(self.interval_s)

    async def beat(self) -> None:
        if not self.registered:
            await self._learn_coordinator()
            answer = await self.link.post("/v1/miners/register", self.registration)
            if answer.outcome is Outcome.ACK:
                self.registered = True
                log.info("registered with coordinator", extra={"coordinator": self.link.url,
                                                               "endpoint": self.registration.endpoint})
                self._contact()
            else:
                self._failed("coordinator registration failed", answer)
            return
        heartbeat = MinerHeartbeat(active_jobs=self.active_jobs(), models=self.registration.models)
        answer = await self.link.post("/v1/miners/heartbeat", heartbeat)
        if answer.outcome is Outcome.ACK:
            self._contact()
        elif answer.outcome is Outcome.REFUSED:
            # e.g. 404 after a coordinator lost its registry: register again next beat.
            self.registered = False
            self._failed("heartbeat refused; registering again", answer)
        else:
            self._failed("heartbeat failed", answer)

    async def _learn_coordinator(self) -> None:
        """Sign for the coordinator the URL leads to (any number may serve the chain), once the
        chain confirms it is one; until then requests stay signed for the genesis coordinator."""
        address = await self.link.coordinator_address()
        if not address or address == self.link.target:
            return
        if self.is_coordinator is not None and not await self.is_coordinator(address):
            log.warning("the coordinator's address is not a coordinator on chain; not signing for it",
                        extra={"coordinator": self.link.url, "address": address})
            return
        log.info("coordinator address", extra={"coordinator": self.link.url, "address": address})
        self.link.target = address

    def _contact(self) -> None:
        back = self._failures > 0
        if back:
            log.info("coordinator reachable again", extra={"failed_beats": self._failures})
        self._failures = 0
        self.state = "registered"
        self.on_contact(back)

    def _failed(self, message: str, answer: Answer) -> None:
        self._failures += 1
        self.metrics.heartbeat_failures.inc()
        self.state = f"{message}: {answer.detail}" if answer.status is None else \
            f"{message}: HTTP {answer.status} {answer.detail}"
        if self._failures == 1 or self._failures % LOG_EVERY == 0 or answer.outcome is Outcome.REFUSED:
            log.warning(message, extra={"coordinator": self.link.url, "http_status": answer.status,
                                        "detail": answer.detail, "consecutive_failures": self._failures})
