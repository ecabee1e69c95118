"""The writes of requests handled side by side, committed in one SQLite transaction.

A job submission writes its job and its submit tx, and that must be committed before
the tx is broadcast (a crash between the two leaves the tx `stored`, for the tracker to
send). A commit is the dearest part of those writes (WAL frames, the shared-memory
index, the syscalls this VM makes dear: docs/benchmarks.md, Coordinator intake), and at
intake rates several submissions reach their write in the same turn of the event loop.
Each waits here instead; the first one's turn ends, then all of them are written in one
transaction, each in its own savepoint, so that one write's failure (a duplicate job id)
undoes that write alone and is raised to its own caller.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable, TypeVar

from prometheus_client import Histogram

from aitbc.coordinator.store import Store

T = TypeVar("T")


class GroupCommit:
    """`await run(write)`: `write()` (synchronous store calls) committed with whatever other
    writes waited in the same turn of the event loop."""

    def __init__(self, store: Store, waited: Histogram | None = None):
        self.store = store
        self.waited = waited  # seconds from run() until the write is committed, per write
        self._waiting: list[tuple[Callable[[], Any], asyncio.Future[Any]]] = []
        self.commits = 0
        self.writes = 0

    async def run(self, write: Callable[[], T]) -> T:
        """write()'s result once it is committed; raises what write() raised (nothing of it is
        kept then), or the commit's error."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if not self._waiting:
            loop.call_soon(self._commit)  # after the handlers already due to run in this turn
        self._waiting.append((write, future))
        started = time.perf_counter()
        result = await future
        if self.waited is not None:
            self.waited.observe(time.perf_counter() - started)
        return result

    def _commit(self) -> None:
        batch, self._waiting = self._waiting, []
        outcomes: list[tuple[bool, Any]] = []
        try:
            with self.store.transaction():
                for write, future in batch:
                    if future.cancelled():
                        outcomes.append((False, None))
                        continue
                    try:
                        with self.store.savepoint():
                            outcomes.append((True, write()))
                    except Exception as exc:  # noqa: BLE001 - its caller's to handle
                        outcomes.append((False, exc))
        except Exception as exc:  # noqa: BLE001 - the commit failed: nothing was written
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        self.commits += 1
        self.writes += len(batch)
        for (_, future), (ok, value) in zip(batch, outcomes):
            if future.done():
                continue  # its caller gave up (cancelled): its write stands, as a retry would find
            if ok:
                future.set_result(value)
            elif isinstance(value, BaseException):
                future.set_exception(value)
