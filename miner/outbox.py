"""Finished results waiting for the coordinator's acknowledgement.

A completion is paid only once the coordinator records it on chain, so a
finished result must survive a coordinator restart: each report is retried
with exponential backoff for `retry_s`, then parked until the coordinator is
heard from again (a heartbeat succeeds, or it re-sends the assignment). The
reports are also kept in a small JSON file, so a miner restart loses nothing.

A report the coordinator took (or refused) is still kept in memory for a while: the
chain may turn down the assignment the report answered (two jobs in one block for a
full miner) and the coordinator may give the same job to this miner again later. A
repeated assignment then gets the same report again (`resend`), not silence.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from aitbc.miner.coordinator_link import CoordinatorLink, Outcome

log = logging.getLogger("miner.outbox")
MAX_AGE_S = 3600  # the chain expires an assigned job long before this (job_timeout_s)
KEEP_SENT = 256   # reports answered already, kept for a repeated assignment (bounded memory)


@dataclass
class Report:
    job_id: str
    kind: str                # "complete" or "failed"
    path: str                # /v1/jobs/{id}/complete or /status
    body: dict[str, Any]
    created: float           # unix time


class Outbox:
    def __init__(self, link: CoordinatorLink, file: Path | None, retry_s: float = 300.0,
                 first_delay_s: float = 0.5, max_delay_s: float = 30.0,
                 on_change: Callable[[int], None] | None = None):
        self.link, self.file, self.retry_s = link, file, retry_s
        self.first_delay_s, self.max_delay_s = first_delay_s, max_delay_s
        self.on_change = on_change or (lambda n: None)
        self._reports: dict[str, Report] = {}
        self._sent: OrderedDict[str, Report] = OrderedDict()  # answered: ACK or refused
        self._tasks: dict[str, asyncio.Task] = {}
        self._wake: dict[str, asyncio.Event] = {}

    def __contains__(self, job_id: str) -> bool:
        return job_id in self._reports

    def __len__(self) -> int:
        return len(self._reports)

    def load(self) -> list[str]:
        """Read reports left by a previous run and start delivering them; their job ids."""
        if self.file is None or not self.file.exists():
            return []
        try:
            raw = json.loads(self.file.read_text())
        except (OSError, ValueError) as exc:
            log.error("outbox file unreadable, ignored", extra={"file": str(self.file), "error": str(exc)})
            return []
        now = time.time()
        for item in raw:
            report = Report(**item)
            if now - report.created < MAX_AGE_S:
                self._reports[report.job_id] = report
        self._save()
        for job_id in self._reports:
            self.kick(job_id)
        return list(self._reports)

    def add(self, report: Report) -> None:
        self._reports[report.job_id] = report
        self._save()
        self.kick(report.job_id)

    def kick(self, job_id: str | None = None, wake: bool = True) -> None:
        """Deliver now: restart a parked report and (with `wake`) cut a retry's wait short.

        `job_id` None means every report.
        """
        for jid in [job_id] if job_id else list(self._reports):
            if jid not in self._reports:
                continue
            task = self._tasks.get(jid)
            if task is None or task.done():
                self._wake[jid] = asyncio.Event()
                self._tasks[jid] = asyncio.create_task(self._deliver(jid), name=f"report-{jid}")
            elif wake:
                self._wake[jid].set()

    def resend(self, job_id: str) -> bool:
        """Deliver `job_id`'s report (again): the pending one now, or the one the coordinator
        answered already, as a new report. False when this outbox has none (or it is old)."""
        if job_id in self._reports:
            self.kick(job_id)
            return True
        sent = self._sent.pop(job_id, None)
        if sent is None or time.time() - sent.created >= MAX_AGE_S:
            return False
        self.add(sent)
        return True

    async def _deliver(self, job_id: str) -> None:
        # Not the clients' retry policy (aitbc/api/retry.py, 3 retries): a result is money, so it is
        # retried for a time (`retry_s`), a kick cuts any wait short, and what is left is parked.
        report = self._reports[job_id]
        deadline = time.monotonic() + self.retry_s
        delay, attempt = self.first_delay_s, 0
        while True:
            attempt += 1
            answer = await self.link.post(report.path, report.body)
            fields = {"job_id": job_id, "report": report.kind, "attempt": attempt, "http_status": answer.status}
            if answer.outcome is Outcome.ACK:
                log.info("report delivered", extra=fields)
                self._drop(job_id, answered=True)
                return
            if answer.outcome is Outcome.REFUSED:
                log.error("report refused by coordinator; dropped", extra={**fields, "detail": answer.detail})
                self._drop(job_id, answered=True)
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.error("report not delivered; parked until the coordinator is back",
                          extra={**fields, "detail": answer.detail})
                return
            wait = min(delay, remaining)
            log.warning("report failed; retrying", extra={**fields, "retry_in_s": round(wait, 2),
                                                          "detail": answer.detail})
            wake = self._wake[job_id]
            wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(wake.wait(), wait)
            delay = min(delay * 2, self.max_delay_s)

    def _drop(self, job_id: str, answered: bool = False) -> None:
        report = self._reports.pop(job_id, None)
        if answered and report is not None:
            self._sent[job_id] = report
            self._sent.move_to_end(job_id)
            while len(self._sent) > KEEP_SENT:
                self._sent.popitem(last=False)
        self._tasks.pop(job_id, None)
        self._wake.pop(job_id, None)
        self._save()

    def _save(self) -> None:
        self.on_change(len(self._reports))
        if self.file is None:
            return
        # Results and prompts' answers are the client's: owner-only from creation (0600 in 0700).
        self.file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.file.parent, 0o700)
        tmp = self.file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # a .tmp left by an older version keeps its mode otherwise
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps([asdict(r) for r in self._reports.values()], indent=1))
        tmp.replace(self.file)

    async def close(self, grace_s: float = 2.0) -> None:
        """Give deliveries in flight `grace_s`, then stop; undelivered reports stay in the file."""
        tasks = [t for t in self._tasks.values() if not t.done()]
        if tasks and grace_s > 0:
            await asyncio.wait(tasks, timeout=grace_s)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
