"""A coordinator store whose commits fail, for tests of what a failed commit leaves behind."""

from __future__ import annotations

import contextlib
import sqlite3
from typing import Callable, ContextManager

from aitbc.coordinator.store import Store


def failing_commits(store: Store) -> Callable[[], ContextManager[None]]:
    """A stand-in for `store.transaction` whose COMMIT fails, so that all of it is rolled back."""
    real = store.transaction

    @contextlib.contextmanager
    def commit_fails():
        with real():
            yield
            raise sqlite3.OperationalError("disk I/O error")

    return commit_fails
