"""The pushes in flight: assignments to miners and re-runs to checkers, one task per key.

A push can take seconds (a first try and 3 retries with backoff), longer than a scheduler
tick: each runs as its own task, and a key already in flight is not started
again until its task ends.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable


class PushTasks:
    """The keys of the pushes running now (a job id, or `check:<job>:<checker>`)."""

    def __init__(self) -> None:
        # The task objects are kept too: the event loop holds only weak references to them.
        self._running: dict[str, asyncio.Task[None]] = {}

    def __contains__(self, key: str) -> bool:
        return key in self._running

    def start(self, key: str, push: Callable[[], Awaitable[None]]) -> bool:
        """Run `push()` as a task unless `key` is in flight; False when it was.
        `push` must log its own failures: nobody awaits the task."""
        if key in self._running:
            return False
        self._running[key] = asyncio.get_running_loop().create_task(self._run(key, push))
        return True

    async def _run(self, key: str, push: Callable[[], Awaitable[None]]) -> None:
        try:
            await push()
        finally:
            self._running.pop(key, None)
