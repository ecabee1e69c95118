"""The coordinator's SQLite store (WAL): jobs, the txs it tracks, API keys, miners.

Jobs are written before their tx is broadcast, so that after a crash every
accepted job can be reconciled with the chain. Times are epoch seconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from aitbc import jobspec, tx as txlib
from aitbc.coordinator import wal_checkpoints

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS api_keys (
    hash TEXT PRIMARY KEY, role TEXT NOT NULL, label TEXT NOT NULL DEFAULT '', created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS miners (
    address TEXT PRIMARY KEY, endpoint TEXT NOT NULL, models TEXT NOT NULL, capacity INTEGER NOT NULL,
    active_jobs INTEGER NOT NULL DEFAULT 0, last_seen REAL, registered_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, api_key_hash TEXT NOT NULL, client TEXT NOT NULL, type TEXT NOT NULL,
    model TEXT NOT NULL, prompt TEXT NOT NULL, options TEXT NOT NULL, max_reward INTEGER NOT NULL,
    signed_tx BLOB NOT NULL, tx_hash TEXT NOT NULL, status TEXT NOT NULL, miner TEXT,
    result TEXT, result_hash TEXT, metrics TEXT, proof BLOB, proof_signature BLOB,
    receipt_id TEXT, amount_paid INTEGER, refund INTEGER, block_height INTEGER, error TEXT,
    submitted_at REAL NOT NULL, assigned_at REAL, started_at REAL, completed_at REAL,
    needs_reconcile INTEGER NOT NULL DEFAULT 0, needs_push INTEGER NOT NULL DEFAULT 0, released_at REAL,
    max_price_per_second INTEGER NOT NULL DEFAULT 0);
-- The queue in submission order, read a page at a time (jobs_with_status_after); it replaces
-- an index on (status, submitted_at) alone, which left the order of a page to a sort.
DROP INDEX IF EXISTS jobs_status;
CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (status, submitted_at, id);
-- The models of a status, one seek each (models_with_status).
CREATE INDEX IF NOT EXISTS jobs_status_model ON jobs (status, model);
-- A client's newest jobs, and everyone's (list_jobs): a page, not a pass over every job kept.
CREATE INDEX IF NOT EXISTS jobs_by_key ON jobs (api_key_hash, submitted_at);
CREATE INDEX IF NOT EXISTS jobs_by_time ON jobs (submitted_at);
CREATE TABLE IF NOT EXISTS txs (
    hash TEXT PRIMARY KEY, job_id TEXT, kind TEXT NOT NULL, raw BLOB NOT NULL, status TEXT NOT NULL,
    code INTEGER, log TEXT, height INTEGER, created_at REAL NOT NULL, seen_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS txs_status ON txs (status);
-- Our txs that free a miner's slot, by status and height (closings_since, on every assignment
-- pass): the few sent or committed above a height, not every tx ever kept. Partial: a
-- client's submit_job, most of the table, costs it nothing.
CREATE INDEX IF NOT EXISTS txs_closings ON txs (status, height) WHERE kind IN ('record_receipt', 'fail_job');
CREATE INDEX IF NOT EXISTS txs_job ON txs (job_id);
CREATE INDEX IF NOT EXISTS jobs_to_reconcile ON jobs (submitted_at) WHERE needs_reconcile = 1;
CREATE INDEX IF NOT EXISTS jobs_to_push ON jobs (submitted_at) WHERE needs_push = 1;
CREATE TABLE IF NOT EXISTS check_pushes (
    job_id TEXT NOT NULL, checker TEXT NOT NULL, pushed_at REAL NOT NULL, PRIMARY KEY (job_id, checker));
"""

# SQLite's largest integer. The chain's amounts are uint64: an amount a column keeps for
# comparisons only (a price cap) is kept at most this (stored_int); one kept as money is
# refused above it at intake (validation.check_submit_tx).
SQLITE_INT_MAX = 2**63 - 1


def stored_int(value: int) -> int:
    """`value` as a column compared with others keeps it: at most SQLITE_INT_MAX."""
    return min(value, SQLITE_INT_MAX)


# Columns added after the first release, with their type: a db made before gets them at open.
ADDED_COLUMNS = {"jobs": {"released_at": "REAL", "max_price_per_second": "INTEGER NOT NULL DEFAULT 0"}}

# Tx statuses: stored (not yet broadcast) -> sent (in the mempool) -> committed | failed
# (in a block with a non-zero code) | rejected (CheckTx said no) | lost (vanished).
TX_IN_FLIGHT = ("stored", "sent")


@dataclass
class StoredJob:
    """One row of `jobs`: a job as the coordinator keeps it (the API shows it as JobPublic).
    Written only through coordinator/job_state.py."""

    id: str
    api_key_hash: str
    client: str
    type: str
    model: str
    prompt: str
    options: str          # JSON of JobOptions
    max_reward: int
    signed_tx: bytes
    tx_hash: str
    status: str
    submitted_at: float
    miner: str | None = None
    result: str | None = None
    result_hash: str | None = None
    metrics: str | None = None   # JSON of Metrics
    proof: bytes | None = None
    proof_signature: bytes | None = None
    receipt_id: str | None = None
    amount_paid: int | None = None
    refund: int | None = None
    block_height: int | None = None
    error: str | None = None
    assigned_at: float | None = None
    started_at: float | None = None
    completed_at: float | None = None
    needs_reconcile: int = 0
    needs_push: int = 0
    # When the result went to the client: the miner's proof checked and its record_receipt
    # accepted by CheckTx; the receipt is pending until the tx is in a block.
    released_at: float | None = None
    # The client's cap on a miner's price per second, from its signed submit tx (0: none; one
    # above SQLITE_INT_MAX is kept as that, which no real price reaches): kept beside the tx so
    # that the queue can be read without the jobs no miner may take now.
    max_price_per_second: int = 0

    @property
    def is_final(self) -> bool:
        return self.status in jobspec.FINAL

    @property
    def options_dict(self) -> dict[str, Any]:
        return json.loads(self.options)

    @property
    def metrics_dict(self) -> dict[str, Any] | None:
        return json.loads(self.metrics) if self.metrics else None


@dataclass
class TxRecord:
    hash: str
    job_id: str | None
    kind: str
    raw: bytes
    status: str
    created_at: float
    seen_at: float
    code: int | None = None
    log: str | None = None
    height: int | None = None


@dataclass
class MinerRecord:
    address: str
    endpoint: str
    models: list[str]
    capacity: int
    active_jobs: int
    last_seen: float | None
    registered_at: float


_JOB_FIELDS = [f.name for f in fields(StoredJob)]
_TX_FIELDS = [f.name for f in fields(TxRecord)]


def private_dir(path: Path) -> Path:
    """`path` as a directory only its owner can enter (0700), made if missing."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def private_files(*paths: Path) -> None:
    """chmod 0600 those of `paths` that exist (a db made by an older version was 0644)."""
    for path in paths:
        try:
            os.chmod(path, 0o600)
        except FileNotFoundError:
            pass


class Store:
    """Thread-safe enough for one event loop plus the odd worker thread.

    The db holds prompts, results and API-key hashes: the data dir is 0700 and
    the db, -wal and -shm files 0600 from their creation (umask), which SQLite
    keeps for the -wal/-shm files it makes later (it copies the db's mode).
    """

    def __init__(self, path: Path):
        private_dir(path.parent)
        self.path = path
        self._checkpointer: wal_checkpoints.Checkpointer | None = None
        old_umask = os.umask(0o077)
        try:
            self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=10)
            self._db.row_factory = sqlite3.Row
            self._lock = threading.RLock()
            # tx status changes written with the next write or before the next read of txs (mark_sent)
            self._deferred: dict[str, dict[str, Any]] = {}
            # Told the id of a job whose record changed or which was deleted, after the write (on
            # the writer's thread: the event loop); the coordinator wakes the job's readers
            # (event streams, long polls).
            self.on_job_changed: Callable[[str], None] | None = None
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a process crash
            self._add_missing_columns()
            self._db.executescript(SCHEMA)
        finally:
            os.umask(old_umask)
        private_files(path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"))

    def _add_missing_columns(self) -> None:
        """Columns a store made by an older version lacks, each with what it would hold, in one
        transaction (a crash leaves the store as it was, and the next start does it again)."""
        self._db.execute("BEGIN")
        try:
            for table, columns in ADDED_COLUMNS.items():
                have = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
                if not have:
                    continue  # a new db: SCHEMA makes the table whole
                for name, kind in columns.items():
                    if name not in have:
                        self._db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
                        if (table, name) == ("jobs", "max_price_per_second"):
                            self._fill_price_caps()
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _fill_price_caps(self) -> None:
        """The cap of each job kept by a version before the column, from its signed tx (the
        intake verified it), so that the queue's reads see every job's cap. A tx that does not
        decode leaves 0 (no cap here; the chain still refuses a miner above the signed one)."""
        caps = []
        for job_id, raw in self._db.execute("SELECT id, signed_tx FROM jobs WHERE length(signed_tx) > 0"):
            try:
                cap = txlib.body_of(raw).submit_job.max_price_per_second
            except Exception:  # noqa: BLE001 - a row this version cannot read keeps its default
                continue
            if cap:
                caps.append((stored_int(cap), job_id))
        self._db.executemany("UPDATE jobs SET max_price_per_second = ? WHERE id = ?", caps)

    def checkpoint_in_background(self, interval_s: float = wal_checkpoints.INTERVAL_S) -> None:
        """Checkpoint the WAL on a thread from now until `close()`, not in the commits of whoever
        writes (a service's event loop): wal_checkpoints.py."""
        if self._checkpointer is not None:
            return
        with self._lock:
            self._db.execute(f"PRAGMA wal_autocheckpoint={wal_checkpoints.BACKSTOP_PAGES}")
        self._checkpointer = wal_checkpoints.Checkpointer(self.path, interval_s)
        self._checkpointer.start()

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        with self._lock:
            self._write_deferred()
            self._db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything written inside is committed at once, or not at all (an exception rolls
        it back). Nests: an inner block joins the outer one."""
        with self._lock:
            if self._db.in_transaction:
                yield
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._write_deferred()
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """Inside a transaction: what is written inside is undone on its own when it raises,
        and the transaction goes on."""
        with self._lock:
            self._db.execute("SAVEPOINT write")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK TO write")
                self._db.execute("RELEASE write")
                raise
            self._db.execute("RELEASE write")

    def ping(self) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1").fetchone()[0] == 1

    def _exec(self, sql: str, args: Iterable[Any] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, tuple(args))

    # --- meta --------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self._exec("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def delete_meta(self, key: str) -> None:
        self._exec("DELETE FROM meta WHERE key = ?", (key,))

    def set_meta_if_absent(self, key: str, value: str) -> str:
        self._exec("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (key, value))
        return self.get_meta(key) or value

    # --- api keys -----------------------------------------------------------------
    def add_api_key(self, key_hash: str, role: str, label: str = "") -> bool:
        """False when the hash is already stored."""
        cur = self._exec("INSERT OR IGNORE INTO api_keys (hash, role, label, created_at) VALUES (?, ?, ?, ?)",
                         (key_hash, role, label, time.time()))
        return cur.rowcount == 1

    def api_keys(self) -> list[tuple[str, str]]:
        return [(r["hash"], r["role"]) for r in self._exec("SELECT hash, role FROM api_keys")]

    # --- jobs ------------------------------------------------------------------------
    def insert_job(self, job: StoredJob) -> None:
        """Raises sqlite3.IntegrityError when the id exists."""
        values = [getattr(job, name) for name in _JOB_FIELDS]
        self._exec(f"INSERT INTO jobs ({', '.join(_JOB_FIELDS)}) VALUES ({', '.join('?' * len(values))})", values)

    def get_job(self, job_id: str) -> StoredJob | None:
        row = self._exec("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return StoredJob(**dict(row)) if row else None

    def update_job(self, job_id: str, **changes: Any) -> None:
        unknown = set(changes) - set(_JOB_FIELDS)
        if unknown:
            raise ValueError(f"unknown job fields {sorted(unknown)}")
        assignments = ", ".join(f"{name} = ?" for name in changes)
        self._exec(f"UPDATE jobs SET {assignments} WHERE id = ?", [*changes.values(), job_id])
        if self.on_job_changed is not None:
            self.on_job_changed(job_id)

    def delete_job(self, job_id: str) -> None:
        self._exec("DELETE FROM jobs WHERE id = ?", (job_id,))
        if self.on_job_changed is not None:
            self.on_job_changed(job_id)

    def list_jobs(self, api_key_hash: str | None = None, status: str | None = None,
                  limit: int = 50) -> list[StoredJob]:
        where, args = [], []
        if api_key_hash is not None:
            where.append("api_key_hash = ?")
            args.append(api_key_hash)
        if status is not None:
            where.append("status = ?")
            args.append(status)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._exec(f"SELECT * FROM jobs {clause} ORDER BY submitted_at DESC LIMIT ?", [*args, limit])
        return [StoredJob(**dict(r)) for r in rows]

    def jobs_with_status(self, *statuses: str) -> list[StoredJob]:
        marks = ", ".join("?" * len(statuses))
        return self._jobs_page(f"status IN ({marks})", list(statuses), None, -1)

    def jobs_submitted_before(self, status: str, before: float, after: tuple[float, str] | None,
                              limit: int) -> list[StoredJob]:
        """Up to `limit` jobs of `status` submitted before the epoch time `before`, oldest first
        (submitted_at, id), from just after the job whose (submitted_at, id) is `after` (None:
        the first): a page, read by the `jobs_queue` index. Every overdue job of a backlog at
        once took most of a busy coordinator's CPU (30 000 of them, read every tick)."""
        return self._jobs_page("status = ? AND submitted_at < ?", [status, before], after, limit)

    def _jobs_page(self, where: str, args: list[Any], after: tuple[float, str] | None,
                   limit: int) -> list[StoredJob]:
        """Up to `limit` (-1: every) jobs matching `where` in submission order (submitted_at, id),
        from just after the job whose (submitted_at, id) is `after` (None: the first)."""
        if after is not None:
            where += " AND (submitted_at, id) > (?, ?)"
            args = [*args, *after]
        rows = self._exec(f"SELECT * FROM jobs WHERE {where} ORDER BY submitted_at, id LIMIT ?", [*args, limit])
        return [StoredJob(**dict(r)) for r in rows]

    def jobs_with_status_after(self, status: str, after: tuple[float, str] | None, limit: int,
                               floors: Mapping[str, int]) -> list[StoredJob]:
        """Up to `limit` jobs of `status` in submission order (submitted_at, id), from just after
        the job whose (submitted_at, id) is `after` (None: the first), of the models in `floors`,
        each with no price cap or one of at least its model's floor (the lowest price a miner
        who could take it asks). A page of the queue without the jobs nobody may take: the whole
        queue of a busy coordinator takes seconds to read (50 000 jobs: 1.4 s), and a client can
        queue jobs capped below every miner's price at will. The rows left out are still stepped
        over in the index (50 000 of them: ~25 ms), not built into jobs."""
        if not floors:
            return []
        models = " OR ".join("(model = ? AND (max_price_per_second = 0 OR max_price_per_second >= ?))"
                             for _ in floors)
        args = [status, *(v for model, floor in floors.items() for v in (model, stored_int(floor)))]
        return self._jobs_page(f"status = ? AND ({models})", args, after, limit)

    def models_with_status(self, status: str) -> set[str]:
        """The models of the jobs of `status`: one index seek per model, not a pass over the jobs."""
        models: set[str] = set()
        row = self._exec("SELECT model FROM jobs WHERE status = ? ORDER BY model LIMIT 1", (status,)).fetchone()
        while row is not None:
            models.add(row[0])
            row = self._exec("SELECT model FROM jobs WHERE status = ? AND model > ? ORDER BY model LIMIT 1",
                             (status, row[0])).fetchone()
        return models

    def jobs_with_txs_in_flight(self, except_sent: tuple[str, ...] = ()) -> set[str]:
        """Ids of jobs with a tx not yet settled: any stored (not yet broadcast) one, and sent
        ones of kinds other than `except_sent`."""
        self._write_deferred()
        marks = ", ".join("?" * len(except_sent)) or "''"
        rows = self._exec(f"SELECT DISTINCT job_id FROM txs WHERE job_id IS NOT NULL AND (status = 'stored' OR "
                          f"(status = 'sent' AND kind NOT IN ({marks})))", except_sent)
        return {r[0] for r in rows}

    def jobs_needing(self, column: str, after: tuple[float, str] | None = None,
                     limit: int = -1) -> list[StoredJob]:
        """Jobs flagged `column`, oldest first; a page of `limit` (-1: all) from just after the job
        whose (submitted_at, id) is `after` (`_jobs_page`)."""
        if column not in ("needs_reconcile", "needs_push"):
            raise ValueError(column)
        return self._jobs_page(f"{column} = 1", [], after, limit)

    def count_status(self, status: str) -> int:
        return self._exec("SELECT COUNT(*) FROM jobs WHERE status = ?", (status,)).fetchone()[0]

    def active_jobs_by_miner(self, released_hold: bool = False) -> dict[str, int]:
        """Per miner, the jobs we assigned it that hold one of its slots: assigned or running,
        and, unless `released_hold`, no receipt of ours has passed CheckTx for them since this
        assignment (one that has is released; a release from before a re-queue does not count)."""
        released = "" if released_hold else "AND (released_at IS NULL OR released_at < assigned_at) "
        rows = self._exec("SELECT miner, COUNT(*) AS n FROM jobs WHERE status IN ('assigned', 'running') "
                          f"{released}AND miner IS NOT NULL GROUP BY miner")
        return {r["miner"]: r["n"] for r in rows}

    def closings_since(self, height: int, sent_after: float = 0.0) -> dict[str, int]:
        """Per miner, our jobs the chain counted as open at `height` (their assign_job committed
        at or below it) that a tx of ours has closed since: a record_receipt or fail_job sent
        (stored) after `sent_after` and not settled yet, or committed above `height`. Exact only
        once the txs committed up to `height` are settled here (a closing still "sent" may be in
        a block at or below it, or may have left the mempool unseen)."""
        self._write_deferred()
        rows = self._exec(
            "SELECT j.miner AS miner, COUNT(DISTINCT j.id) AS n FROM txs c JOIN jobs j ON j.id = c.job_id "
            "WHERE c.kind IN ('record_receipt', 'fail_job') "
            "AND ((c.status = 'sent' AND c.created_at > ?) OR (c.status = 'committed' AND c.height > ?)) "
            "AND j.miner IS NOT NULL AND EXISTS (SELECT 1 FROM txs a WHERE a.job_id = j.id "
            "AND a.kind = 'assign_job' AND a.status = 'committed' AND a.height <= ?) GROUP BY j.miner",
            (sent_after, height, height))
        return {r["miner"]: r["n"] for r in rows}

    # --- txs ----------------------------------------------------------------------------
    def mark_sent(self, tx_hash: str, seen_at: float) -> None:
        """A stored tx that CheckTx accepted: status "sent". Written with the next write (one
        commit per job submission instead of two under load) or before the next read of txs,
        so readers never see the difference. A crash before that leaves the tx "stored": the
        tracker broadcasts it once more and the node answers that it knows it."""
        with self._lock:
            self._deferred[tx_hash] = {"status": "sent", "seen_at": seen_at}

    def _write_deferred(self) -> None:
        """The deferred tx changes, inside the caller's transaction or in one of their own."""
        with self._lock:
            if not self._deferred:
                return
            changes, self._deferred = self._deferred, {}
            rows = [(c["status"], c["seen_at"], h) for h, c in changes.items()]
            sql = "UPDATE txs SET status = ?, seen_at = ? WHERE hash = ? AND status = 'stored'"
            if self._db.in_transaction:
                self._db.executemany(sql, rows)
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(sql, rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def add_tx(self, tx_hash: str, job_id: str | None, kind: str, raw: bytes, status: str) -> None:
        self._write_deferred()
        now = time.time()
        self._exec("INSERT OR REPLACE INTO txs (hash, job_id, kind, raw, status, created_at, seen_at) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?)", (tx_hash, job_id, kind, raw, status, now, now))

    def update_tx(self, tx_hash: str, **changes: Any) -> None:
        self._write_deferred()
        assignments = ", ".join(f"{name} = ?" for name in changes)
        self._exec(f"UPDATE txs SET {assignments} WHERE hash = ?", [*changes.values(), tx_hash])

    def get_tx(self, tx_hash: str) -> TxRecord | None:
        self._write_deferred()
        row = self._exec("SELECT * FROM txs WHERE hash = ?", (tx_hash,)).fetchone()
        return TxRecord(**dict(row)) if row else None

    def txs_in_flight(self) -> list[TxRecord]:
        self._write_deferred()
        rows = self._exec("SELECT * FROM txs WHERE status IN ('stored', 'sent') ORDER BY created_at")
        return [TxRecord(**dict(r)) for r in rows]

    def txs_with_status(self, status: str) -> list[TxRecord]:
        self._write_deferred()
        rows = self._exec("SELECT * FROM txs WHERE status = ? ORDER BY created_at", (status,))
        return [TxRecord(**dict(r)) for r in rows]

    def has_sent_txs(self) -> bool:
        self._write_deferred()
        return self._exec("SELECT 1 FROM txs WHERE status = 'sent' LIMIT 1").fetchone() is not None

    def sent_tx_ages(self) -> list[tuple[str, float, str]]:
        """(hash, seen_at, kind) of every tx sent and not yet settled, oldest first: what the
        tracker looks for in new blocks, without reading each tx whole."""
        self._write_deferred()
        return [(r[0], r[1], r[2]) for r in self._exec(
            "SELECT hash, seen_at, kind FROM txs WHERE status = 'sent' ORDER BY created_at")]

    def settle_sent_txs(self, settled: list[tuple[str, str, int, str, int]]) -> None:
        """(hash, status, code, log, height) for many sent txs, in one transaction."""
        with self.transaction():
            self._db.executemany("UPDATE txs SET status = ?, code = ?, log = ?, height = ? "
                                 "WHERE hash = ? AND status = 'sent'",
                                 [(status, code, log, height, h) for h, status, code, log, height in settled])

    def job_txs_in_flight(self, job_id: str, kinds: tuple[str, ...] | None = None) -> list[TxRecord]:
        self._write_deferred()
        rows = [TxRecord(**dict(r)) for r in self._exec(
            "SELECT * FROM txs WHERE job_id = ? AND status IN ('stored', 'sent')", (job_id,))]
        return [r for r in rows if kinds is None or r.kind in kinds]

    # --- miners ----------------------------------------------------------------------------
    def check_pushed(self, job_id: str, checker: str) -> bool:
        """Whether the re-run of `job_id` was already handed to `checker`."""
        return self._exec("SELECT 1 FROM check_pushes WHERE job_id = ? AND checker = ?",
                          (job_id, checker)).fetchone() is not None

    def mark_check_pushed(self, job_id: str, checker: str) -> None:
        self._exec("INSERT OR IGNORE INTO check_pushes VALUES (?, ?, ?)", (job_id, checker, time.time()))

    def upsert_miner(self, address: str, endpoint: str, models: list[str], capacity: int,
                     active_jobs: int, last_seen: float | None) -> None:
        self._exec(
            "INSERT INTO miners (address, endpoint, models, capacity, active_jobs, last_seen, registered_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(address) DO UPDATE SET endpoint = excluded.endpoint, "
            "models = excluded.models, capacity = excluded.capacity, active_jobs = excluded.active_jobs, "
            "last_seen = excluded.last_seen",
            (address, endpoint, json.dumps(models), capacity, active_jobs, last_seen, time.time()))

    def touch_miner(self, address: str, last_seen: float | None, active_jobs: int | None = None) -> None:
        if active_jobs is None:
            self._exec("UPDATE miners SET last_seen = ? WHERE address = ?", (last_seen, address))
        else:
            self._exec("UPDATE miners SET last_seen = ?, active_jobs = ? WHERE address = ?",
                       (last_seen, active_jobs, address))

    def get_miner(self, address: str) -> MinerRecord | None:
        row = self._exec("SELECT * FROM miners WHERE address = ?", (address,)).fetchone()
        return self._miner(row) if row else None

    def list_miners(self) -> list[MinerRecord]:
        return [self._miner(r) for r in self._exec("SELECT * FROM miners ORDER BY address")]

    @staticmethod
    def _miner(row: sqlite3.Row) -> MinerRecord:
        data = dict(row)
        data["models"] = json.loads(data["models"])
        return MinerRecord(**data)
