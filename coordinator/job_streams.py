"""Live text of running jobs: what the assigned miner streams, kept in memory for the
job's client to follow (GET /v1/jobs/{id}/stream).

Each job's stream is an append-only log of events: `token` pieces as the miner sends
them, `replace` when what came so far is void (another miner took the job over, or the
verified result differs from the streamed text), and `result` once the coordinator has
checked the miner's signed proof. Readers keep a cursor into the log, so a reader that
connects late catches up, and any number of readers can follow one job. The log lives
in memory only: a coordinator restart loses it, and readers then fall back to the
stored result (see StreamReader.settle). Streams are dropped a short while after their
result, or after a long silence (a job that never finished).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from aitbc.api.coordinator_models import MAX_CHUNK_CHARS

MAX_STREAM_CHARS = 1_000_000   # per job: far above MAX_NUM_PREDICT tokens of text
KEEP_AFTER_RESULT_S = 120.0    # late readers still get the log; afterwards they read the store
KEEP_IDLE_S = 3600.0           # a stream nothing was added to for this long belongs to a dead job


class ChunkRefused(Exception):
    """A chunk that does not continue the stream (wrong seq, too long, stream already settled)."""


@dataclass(frozen=True)
class Event:
    kind: str                  # token | replace | result
    data: dict[str, Any]


@dataclass
class JobStream:
    job_id: str
    miner: str = ""
    next_seq: int = 0
    chars: int = 0
    text: list[str] = field(default_factory=list)   # since the last replace
    log: list[Event] = field(default_factory=list)
    settled: bool = False                            # the result event is in
    touched: float = field(default_factory=time.monotonic)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def _add(self, event: Event) -> None:
        self.log.append(event)
        self.touched = time.monotonic()
        self.wake()

    def wake(self) -> None:
        """Wake every reader waiting now; later waiters get a fresh event."""
        self._changed.set()
        self._changed = asyncio.Event()

    def current_text(self) -> str:
        return "".join(self.text)

    def _token(self, text: str) -> None:
        """`text` goes on the stream as the next piece (seq `next_seq`)."""
        self.text.append(text)
        self.chars += len(text)
        self._add(Event("token", {"seq": self.next_seq, "text": text}))
        self.next_seq += 1


@dataclass
class _Waiters:
    woken: asyncio.Event = field(default_factory=asyncio.Event)
    count: int = 0


class JobStreams:
    """Every live job stream of this coordinator, by job id; and who waits for news of a job."""

    def __init__(self) -> None:
        self._streams: dict[str, JobStream] = {}
        # Readers waiting for news of a job that has no stream to wait on (no text so far), or
        # for its record to change (a long poll): woken when its stream opens or its record
        # changes. Kept only while someone waits, so jobs nobody watches leave nothing behind.
        self._waiting: dict[str, _Waiters] = {}

    def get(self, job_id: str) -> JobStream | None:
        return self._streams.get(job_id)

    def _open(self, job_id: str) -> JobStream:
        stream = self._streams.get(job_id)
        if stream is None:
            self.prune()
            stream = self._streams[job_id] = JobStream(job_id)
            self._wake_waiting(job_id)
        return stream

    def _wake_waiting(self, job_id: str) -> None:
        """Wake the readers waiting for news of `job_id` (`wait_opened`, `wait_changed`)."""
        waiters = self._waiting.pop(job_id, None)
        if waiters is not None:
            waiters.woken.set()

    async def wait_opened(self, job_id: str, timeout: float) -> None:
        """Until the stream of `job_id` opens (its first text, or its result), the job's record
        changes (`job_changed`), or `timeout` seconds."""
        if job_id not in self._streams:
            await self.wait_changed(job_id, timeout)

    async def wait_changed(self, job_id: str, timeout: float) -> None:
        """Until the job's record changes (`job_changed`), its stream opens, or `timeout` seconds."""
        waiters = self._waiting.get(job_id)
        if waiters is None:
            waiters = self._waiting[job_id] = _Waiters()
        waiters.count += 1
        try:
            await asyncio.wait_for(waiters.woken.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            waiters.count -= 1
            if not waiters.count and self._waiting.get(job_id) is waiters:
                del self._waiting[job_id]

    def job_changed(self, job_id: str) -> None:
        """The job's stored record changed (or it was deleted): its readers look again at once,
        rather than at their next poll (a stream ends when the job's receipt is in a block)."""
        stream = self._streams.get(job_id)
        if stream is not None:
            stream.wake()
        self._wake_waiting(job_id)

    def append(self, job_id: str, miner: str, seq: int, text: str) -> int:
        """Add the miner's chunk `seq`; returns the next seq expected. A repeated seq (a retry
        whose answer was lost) is acknowledged without adding it again.
        Raises ChunkRefused."""
        stream = self._open(job_id)
        if stream.miner != miner:
            if stream.miner:
                # The job went to another miner: its text starts over.
                stream._add(Event("replace", {"text": ""}))
            stream.miner, stream.next_seq, stream.text, stream.chars, stream.settled = miner, 0, [], 0, False
        if stream.settled:
            raise ChunkRefused(f"job {job_id} already has its verified result")
        if seq < stream.next_seq:
            return stream.next_seq
        if seq != stream.next_seq:
            raise ChunkRefused(f"chunk {seq} of job {job_id} is out of order; expected {stream.next_seq}")
        if len(text) > MAX_CHUNK_CHARS or stream.chars + len(text) > MAX_STREAM_CHARS:
            raise ChunkRefused(f"job {job_id} streamed more than {MAX_STREAM_CHARS} characters")
        if text:
            stream._token(text)
        else:  # an empty piece still takes its seq
            stream.next_seq += 1
        return stream.next_seq

    def settle(self, job_id: str, result: str, result_hash: str, tokens_generated: int,
               prompt_tokens: int, miner: str = "") -> None:
        """The miner's proof is checked and its receipt accepted by CheckTx: readers end with
        exactly `result`, then the `result` event. What the chunks did not bring yet (a miner
        posts its completion without waiting for its last chunk) follows as one more token when
        the streamed text begins `result`; else a `replace` brings them to it. `miner`: whose
        result it is, so that a late chunk of its own is refused, not taken as new text."""
        stream = self._open(job_id)
        stream.miner = miner or stream.miner
        streamed = stream.current_text()  # what every reader holds, whoever streamed it
        if streamed and not result.startswith(streamed):
            stream._add(Event("replace", {"text": result}))
            stream.text, stream.chars = [result], len(result)
        elif len(result) > len(streamed):
            stream._token(result[len(streamed):])
        stream.settled = True
        stream._add(Event("result", {"result_hash": result_hash, "tokens_generated": tokens_generated,
                                     "prompt_tokens": prompt_tokens}))

    def prune(self, now: float | None = None) -> None:
        """Drop streams settled a while ago, and streams of jobs gone silent."""
        now = time.monotonic() if now is None else now
        for job_id, stream in list(self._streams.items()):
            age = now - stream.touched
            if age > KEEP_IDLE_S or (stream.settled and age > KEEP_AFTER_RESULT_S):
                del self._streams[job_id]

    def __len__(self) -> int:
        return len(self._streams)


class StreamReader:
    """One client's cursor into a job's stream. `pending()` returns what it has not seen,
    catching up in as few events as possible (consecutive tokens merge into one)."""

    def __init__(self, streams: JobStreams, job_id: str):
        self.streams, self.job_id = streams, job_id
        self._stream: JobStream | None = None
        self._pos = 0
        self.text = ""            # what this reader has shown so far, since its last replace
        self.result_sent = False

    def pending(self) -> list[Event]:
        stream = self.streams.get(self.job_id)
        out: list[Event] = []
        if stream is not self._stream:  # first look, or the stream was dropped and opened anew
            self._stream, self._pos = stream, 0
            if stream is not None and self.text:
                out.append(Event("replace", {"text": ""}))  # a new log starts from nothing
        if stream is None:
            return out
        new, self._pos = stream.log[self._pos:], len(stream.log)
        for event in new:
            if event.kind == "token" and out and out[-1].kind == "token":
                merged = out[-1].data["text"] + event.data["text"]
                out[-1] = Event("token", {"seq": event.data["seq"], "text": merged})
            else:
                out.append(event)
        for event in out:
            self._apply(event)
        return out

    def _apply(self, event: Event) -> None:
        if event.kind == "token":
            self.text += event.data["text"]
        elif event.kind == "replace":
            self.text = event.data["text"]
        elif event.kind == "result":
            self.result_sent = True

    async def wait(self, timeout: float) -> None:
        """Until the stream or the job's stored record changes, or `timeout` seconds."""
        stream = self.streams.get(self.job_id)
        if stream is None:  # no text yet: woken by the first (a miner starts within ms of its assignment)
            await self.streams.wait_opened(self.job_id, timeout)
            return
        if self._pos < len(stream.log):
            await asyncio.sleep(0)
            return
        try:
            await asyncio.wait_for(stream._changed.wait(), timeout)
        except TimeoutError:
            pass

    def settle(self, result: str | None, result_hash: str | None, tokens_generated: int,
               prompt_tokens: int) -> list[Event]:
        """The events that bring this reader to the job's stored, verified result when the live
        stream did not (the coordinator restarted, or the stream was dropped)."""
        if self.result_sent or result is None or result_hash is None:
            return []
        out: list[Event] = []
        if not self.text:
            if result:
                out.append(Event("token", {"seq": 0, "text": result}))
        elif self.text != result:
            out.append(Event("replace", {"text": result}))
        out.append(Event("result", {"result_hash": result_hash, "tokens_generated": tokens_generated,
                                    "prompt_tokens": prompt_tokens}))
        for event in out:
            self._apply(event)
        return out
