"""Forwarding a job's text to the coordinator while Ollama generates it.

Best effort by design: the signed proof and the whole result still go through the
outbox (POST /complete), so a lost chunk only costs the client's live view (the
coordinator then sends the verified text as a `replace`). Generation never waits on
a chunk: `add` only appends to a buffer that a background task sends as
POST /v1/jobs/{id}/chunks, one request at a time and at most one every `flush_s`,
sooner when the batch is large.

The text still waiting when the generation ends is not sent as a chunk: the
completion carries the whole result, and the coordinator streams what no chunk
brought once it has checked the proof. Sending it first cost every job a round
trip before its completion.
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
CLOSE_WAIT_S = 1.0      # a chunk in flight's bound on delaying the completion report


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

    async def close(self) -> None:
        """Stop streaming; the text not sent yet goes with the completion (module doc). A chunk
        in flight is waited for, at most CLOSE_WAIT_S, so that the coordinator has it before
        the completion (it refuses chunks after the result)."""
        self._closing = True
        self._wake.set()
        self._full.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), CLOSE_WAIT_S)
        except TimeoutError:
            log.warning("chunk in flight not answered in time", extra={"job_id": self.job_id, "seq": self.seq})
            await self.abort()

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
            if self._closing:
                return
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

    async def _send(self, text: str) -> None:
        answer = await self.link.post(f"/v1/jobs/{self.job_id}/chunks", ChunkCreate(seq=self.seq, text=text))
        if answer.outcome is Outcome.ACK:
            self.seq += 1
            self._failures = 0
            return
        self._failures += 1
        if answer.outcome is Outcome.REFUSED or self._failures >= MAX_FAILURES:
            self._stopped = True
            log.warning("text streaming stopped", extra={"job_id": self.job_id, "seq": self.seq,
                                                         "http_status": answer.status, "detail": answer.detail})
            return
        # Not delivered: the same seq goes again with whatever came meanwhile.
        self._pending.insert(0, text)
        self._size += len(text)
        self._wake.set()
