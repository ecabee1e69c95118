"""WAL checkpoints on a thread of their own, off the event loop.

SQLite checkpoints a WAL database inside the commit that finds the log past its threshold
(1 000 pages by default): it copies the log's pages into the database file and, with
`synchronous=NORMAL`, waits for fsync, on the thread that committed. For the coordinator
that thread is the event loop, where every request in flight then waits too. In process,
3 000 submissions committed one by one: 37 commits took 1-5 ms, 127 ms in all, more than
half of all the time spent committing; with fsync off, none took over 0.5 ms. With this
thread (every 50 ms): 4 over 1 ms, 13-16 ms in all (docs/benchmarks.md, Coordinator intake).

Here a thread with its own connection checkpoints every `interval_s` in PASSIVE mode,
which neither waits for the writer nor holds it up (SQLite lets one checkpointer run beside
one writer in WAL mode; the sqlite3 module lets go of the GIL while SQLite works). The log
is reused from its start when a write begins after a checkpoint copied all of it. A writer
that never pauses between commits never meets that moment, so the writer's own automatic
checkpoint stays, at `BACKSTOP_PAGES`: the log stays bounded (a -wal file of up to ~32 MB)
and the writer then finds most pages copied already. What is committed is as durable as
before; only who pays for the checkpoint changes.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger("coordinator.store")

INTERVAL_S = 0.05  # ~10 group commits' pages a checkpoint at intake rates; one with nothing to copy: ~2.5 µs
BACKSTOP_PAGES = 8_000  # ~32 MB of log with 4 KiB pages before the writer checkpoints itself


class Checkpointer:
    """A thread checkpointing the WAL of the database at `path` until `stop()`."""

    def __init__(self, path: Path, interval_s: float = INTERVAL_S):
        self.path, self.interval_s = path, interval_s
        self.checkpoints = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoints", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop after the checkpoint under way, if any."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        db = sqlite3.connect(str(self.path), isolation_level=None, timeout=10)
        failing: str | None = None  # logged once, not 20 times a second
        try:
            db.execute("PRAGMA synchronous=NORMAL")  # the writer's: fsync the database after a checkpoint
            while not self._stop.wait(self.interval_s):
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # the writer's backstop checkpoints meanwhile
                    if str(exc) != failing:
                        log.warning("WAL checkpoint failed; the writer checkpoints past the backstop",
                                    extra={"event": "wal_checkpoint_failed", "error": str(exc)})
                    failing = str(exc)
                    continue
                if failing is not None:
                    log.info("WAL checkpoints work again", extra={"event": "wal_checkpoint_ok"})
                    failing = None
                self.checkpoints += 1
        finally:
            db.close()
