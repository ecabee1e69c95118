"""Forwarding a job's text to the coordinator while Ollama generates it.

Best effort by design: the signed proof and the whole result still go through the
outbox (POST /complete), so a lost chunk only costs the client's live view (the
coordinator then sends the verified text as a `replace`). Generation never waits on
a chunk: `add` only appends to a buffer that a background task sends as
POST /v1/jobs/{id}/chunks, one request at a time and at most one every `flush_s`,
sooner when the batch is large.

The text still waiting when the generation ends goes as a last chunk, and the
completion is posted meanwhile instead of after that chunk's answer: the
completion carries the whole result, and when it comes first the coordinator
refuses that chunk and streams the end of the text from the completion
(coordinator/job_streams.py `settle`). Waiting for the last chunk cost every job
a round trip before its completion.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aitbc.api.coordinator_models import ChunkCreate
from aitbc.miner.coordinator_link import CoordinatorLink, Outcome

log = logging.getLogger("miner.stream")

FLUSH_S = 0.05          # at most ~20 chunk requests a second per job
BATCH_CHARS = 4096      # send at once when this much text waits
MAX_SEND_CHARS = 8000   # one request's most: well under the coordinator's 64 KiB body limit, escaped
MAX_FAILURES = 3        # consecutive failed sends before the job stops streaming

# Forwarders closed with their last chunk still on its way: asyncio keeps only weak references
# to tasks, and nothing else holds theirs once the job is done.
_FINISHING: set[asyncio.Task] = set()


def finishing() -> list[asyncio.Task]:
    """The last chunks still being sent on this event loop (a miner that stops cancels them)."""
    loop = asyncio.get_running_loop()
    return [task for task in _FINISHING if not task.done() and task.get_loop() is loop]


def _finished(task: asyncio.Task) -> None:
    _FINISHING.discard(task)
    if not task.cancelled() and task.exception() is not None:  # nobody awaits it: say so here
        log.error("sending the last chunk failed", extra={"task": task.get_name()},  # chunks-<job id>
                  exc_info=task.exception())


class ChunkForwarder:
    """Sends one job's text, in order and with consecutive seq numbers from 0."""

    def __init__(self, link: CoordinatorLink, job_id: str, flush_s: float = FLUSH_S):
        self.link, self.job_id, self.flush_s = link, job_id, flush_s
        self.seq = 0                     # the next chunk's number
        self._pending: list[str] = []
        self._size = 0
        self._failures = 0
        self._stopped = False            # refused, or failed too often: stream no more
        self._closing = False
        self._wake = asyncio.Event()     # text waits (or closing)
        self._full = asyncio.Event()     # a large batch waits
        self._task = asyncio.create_task(self._run(), name=f"chunks-{job_id}")

    def add(self, text: str) -> None:
        """Queue generated text; never blocks."""
        if self._stopped or not text:
            return
        self._pending.append(text)
        self._size += len(text)
        self._wake.set()
        if self._size >= BATCH_CHARS:
            self._full.set()

    def close(self) -> None:
        """The generation is over: send what is left at once, as the last chunk, without waiting
        for it (module doc). A last chunk that fails is not sent again: the completion has it."""
        self._closing = True
        self._wake.set()
        self._full.set()
        if not self._task.done():
            _FINISHING.add(self._task)
            self._task.add_done_callback(_finished)

    async def closed(self) -> None:
        """Until the last chunk has been answered (or given up)."""
        await asyncio.shield(self._task)

    async def abort(self) -> None:
        """Stop at once (the job failed, or the miner is stopping)."""
        self._stopped = True
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        last_sent = float("-inf")
        while not self._stopped:
            await self._wake.wait()
            delay = last_sent + self.flush_s - time.monotonic()
            if delay > 0 and not self._full.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), delay)
            self._wake.clear()
            self._full.clear()
            text = "".join(self._pending)
            if len(text) > MAX_SEND_CHARS:  # a backlog after failed sends: the rest goes next
                text, rest = text[:MAX_SEND_CHARS], text[MAX_SEND_CHARS:]
                self._pending, self._size = [rest], len(rest)
                self._wake.set()
                self._full.set()
            else:
                self._pending, self._size = [], 0
            if text:
                await self._send(text)
                last_sent = time.monotonic()
            if self._closing and (self._failures or not self._pending):
                return

    async def _send(self, text: str) -> None:
        answer = await self.link.post(f"/v1/jobs/{self.job_id}/chunks", ChunkCreate(seq=self.seq, text=text))
        if answer.outcome is Outcome.ACK:
            self.seq += 1
            self._failures = 0
            return
        self._failures += 1
        if answer.outcome is Outcome.REFUSED or self._failures >= MAX_FAILURES:
            self._stopped = True
            # A last chunk refused (409) once closed: the completion came first, with the text.
            quiet = self._closing and answer.status == 409
            log.log(logging.DEBUG if quiet else logging.WARNING, "text streaming stopped",
                    extra={"job_id": self.job_id, "seq": self.seq, "http_status": answer.status,
                           "detail": answer.detail})
            return
        # Not delivered: the same seq goes again with whatever came meanwhile.
        self._pending.insert(0, text)
        self._size += len(text)
        self._wake.set()
