"""The store's WAL is checkpointed by a thread of its own, not in the writer's commits, and stays bounded."""

import sqlite3
import time

from aitbc.coordinator import job_state, wal_checkpoints
from aitbc.coordinator.store import Store


def write_jobs(store: Store, first: int, count: int) -> None:
    for n in range(first, first + count):
        with store.transaction():
            job_state.insert_pending(store, id=f"job_{n}", api_key_hash="h", client="c", type="inference",
                                     model="m", prompt="p" * 200, options="{}", max_reward=7, signed_tx=b"x" * 170,
                                     tx_hash=f"t{n}")
            store.add_tx(f"t{n}", f"job_{n}", "submit_job", b"x" * 170, "stored")


def wal_pages(path) -> int:
    return (path.with_name(path.name + "-wal").stat().st_size) // 4096


def test_the_thread_checkpoints_and_the_writer_does_not(tmp_path):
    path = tmp_path / "c.db"
    store = Store(path)
    store.checkpoint_in_background(interval_s=0.01)
    checkpointer = store._checkpointer
    try:
        assert store._exec("PRAGMA wal_autocheckpoint").fetchone()[0] == wal_checkpoints.BACKSTOP_PAGES
        # 20 x 100 commits of about a dozen pages each: ~24 000 pages in all. The log is reused
        # from its start once a checkpoint has copied all of it, so between bursts it does not
        # grow; without the thread it would grow to the writer's own threshold (BACKSTOP_PAGES).
        for burst in range(20):
            write_jobs(store, burst * 100, 100)
            deadline, seen = time.monotonic() + 10, checkpointer.checkpoints
            while checkpointer.checkpoints < seen + 2:
                assert time.monotonic() < deadline, "no checkpoint"
                time.sleep(0.005)
        assert wal_pages(path) < wal_checkpoints.BACKSTOP_PAGES // 2
        busy, frames, done = sqlite3.connect(path).execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert busy == 0 and done == frames
    finally:
        store.close()
    assert not checkpointer._thread.is_alive()
    again = Store(path)
    try:
        assert again.get_job("job_1999").prompt == "p" * 200  # everything committed is there
    finally:
        again.close()


def test_a_store_without_the_thread_keeps_sqlites_own_checkpoints(tmp_path):
    store = Store(tmp_path / "c.db")
    try:
        assert store._checkpointer is None
        assert store._exec("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
    finally:
        store.close()
