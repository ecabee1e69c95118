"""Logging: one JSON line per event in the log file; on the console, JSON lines or a
human text line per event.

Log files rotate by size (MAX_BYTES, BACKUPS older files kept as NAME.1 ... NAME.5),
so a long-running service never fills its disk. They live in the service's data
directory unless `--log-dir` or AITBC_LOG_DIR points them elsewhere (e.g.
/var/log/aitbc).

The console format is AITBC_LOG_FORMAT (`text` or `json`) when set, else text on a
terminal and JSON when stderr is redirected (services started in the background,
whose output is a log to parse). Log files are always JSON.

The coordinator logs a line per submitted job. Its outputs that can block (a console that
is a pipe, a socket or a terminal: `may_block`) are formatted and written by threads of their
own, one per output (`setup_logging(writer_thread=True)`), so that a console nobody reads
holds up neither the event loop nor the other output: up to QUEUED_LINES lines wait for it,
then new ones are dropped and counted. After a line arrives, such a thread waits
BATCH_WAIT_S and then writes every line that gathered with one write and one flush (woken
for each line, two threads cost ~120 µs of CPU a line at 1 000 lines/s; batched, ~40). A
longer wait saves a little more but holds the GIL for a whole batch's formatting, which the
event loop feels. Outputs that are regular files (the log file, and the console of a
service started in the background with its output sent to a file) cannot wait on a reader
and are written by the thread that logs: a writer thread's wake-ups and the GIL changing
hands cost the coordinator more than the writing (5 % of its CPU per submitted job with both
outputs on threads, docs/benchmarks.md, Coordinator intake). The trade: a log file on a disk
that stalls now holds up the coordinator, as a stalled disk under its database always did.
`stop_logging` writes what the threads hold when the app shuts down and at exit; a SIGKILL
loses it. The other services write everything on the thread that logs: a miner's few lines
per job cost it 1-4 ms more per job through a writer thread (its wake-ups and the GIL
changing hands), which its latency budget cannot spare.
"""

from __future__ import annotations

import atexit
import copy
import json
import logging
import logging.handlers
import os
import queue
import stat
import sys
import threading
import time
from pathlib import Path

# Where a record keeps its JSON line once made (see JsonFormatter.format).
_JSON_LINE = "_aitbc_json_line"
# Standard LogRecord fields, uvicorn's ANSI-coloured copy of the message, and our cached line.
_RESERVED = (set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__)
             | {"message", "asctime", "color_message", _JSON_LINE})


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        # One record is formatted up to three times otherwise: the JSON console, and the
        # rotating file handler twice (its size check formats the record, then emit does).
        cached = record.__dict__.get(_JSON_LINE)
        if cached is not None and cached[0] == self.service:
            return cached[1]
        line = self._line(record)
        record.__dict__[_JSON_LINE] = (self.service, line)
        return line

    def _line(self, record: logging.LogRecord) -> str:
        line = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED})
        exc = _exception_text(self, record)
        if exc:
            line["exc"] = exc
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    """`14:50:01 info  coordinator: job assigned job_id=job_… miner=aitbc…` for a person."""

    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        extra = " ".join(f"{k}={v}" for k, v in record.__dict__.items() if k not in _RESERVED)
        line = (time.strftime("%H:%M:%S", time.localtime(record.created))
                + f" {record.levelname.lower():<7} {self.service}: {record.getMessage()}" + (f"  {extra}" if extra else ""))
        exc = _exception_text(self, record)
        if exc:
            line += "\n" + exc
        return line


def _exception_text(formatter: logging.Formatter, record: logging.LogRecord) -> str | None:
    """The record's traceback as text: made from exc_info here, or by `_ToWriters` before the
    record left the thread that logged it."""
    if record.exc_info:
        return formatter.formatException(record.exc_info)
    return record.exc_text or None


# Lines a writer thread keeps waiting for a slow console or disk (a record is about 0.5 KiB:
# some 25 MiB at most); past that, new lines are dropped and counted (a line says how many
# once the writer catches up), so that memory stays bounded and the event loop never waits.
QUEUED_LINES = 50_000
STOP_WAIT_S = 2.0  # how long stop_logging waits for a writer (a console nobody reads never drains)
# How long a writer lets lines gather after the first one (module doc), and at most how many it
# writes at once.
BATCH_WAIT_S = 0.01
BATCH_LINES = 2_000


class Batching(logging.StreamHandler):
    """A stream handler that a writer thread hands lines in batches (`emit_many`): written with
    one flush for the batch, not one per line. Written to by the thread that logs, it emits
    each line as it comes."""

    _deferring = False  # within emit_many: emit's flush waits for the batch's end

    def flush(self) -> None:
        if not self._deferring:
            super().flush()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            super().emit(record)
        except RecursionError:  # which StreamHandler lets through: that line only, not the caller
            self.handleError(record)

    def emit_many(self, records: list[logging.LogRecord]) -> None:
        """Emit `records` in order, flushing once; a line that cannot be made is lost alone."""
        self._deferring = True
        try:
            for record in records:
                try:
                    self.handle(record)
                except Exception:  # noqa: BLE001 - a filter's error: that line only
                    self.handleError(record)
        finally:
            self._deferring = False
        if records:
            self.flush()


class Console(Batching):
    """stderr. It is line-buffered (each line its own write to the terminal or pipe), so a
    batch's lines are joined and written at once."""

    def emit_many(self, records: list[logging.LogRecord]) -> None:
        lines = []
        for record in records:
            if not self.filter(record):
                continue
            try:
                lines.append(self.format(record) + self.terminator)
            except Exception:  # noqa: BLE001 - a RecursionError too: that line only
                self.handleError(record)
        if not lines:
            return
        with self.lock:
            try:
                self.stream.write("".join(lines))
                self.flush()
            except Exception:  # noqa: BLE001 - a console gone (a closed pipe): as StreamHandler.emit does
                self.handleError(records[-1])


class _Writer:
    """One handler's thread: it emits the records of its own bounded queue, so that a console
    nobody reads cannot stop the file, nor a slow disk the console."""

    def __init__(self, handler: Batching):
        self.handler = handler
        self.records: queue.Queue[logging.LogRecord | None] = queue.Queue(QUEUED_LINES)
        self.dropped = 0
        self._reported = 0
        self._abandoned = False  # stop() gave up on it: it ends once its queue is empty
        self.thread = threading.Thread(target=self._write, name="log-writer", daemon=True)
        self.thread.start()

    def put(self, record: logging.LogRecord) -> None:
        try:
            self.records.put_nowait(record)
        except queue.Full:
            self.dropped += 1

    def _write(self) -> None:
        stopping = False
        while not stopping:
            first = self.records.get()
            if first is None:
                return
            time.sleep(BATCH_WAIT_S)  # let the lines of the next moments join this one's write
            batch = [first]
            while len(batch) < BATCH_LINES:
                try:
                    record = self.records.get_nowait()
                except queue.Empty:
                    break
                if record is None:
                    stopping = True
                    break
                batch.append(record)
            if self.dropped != self._reported:
                dropped, self._reported = self.dropped - self._reported, self.dropped
                batch.append(logging.LogRecord("aitbc.logs", logging.WARNING, __file__, 0,
                                               "%d log lines dropped: this output did not keep up", (dropped,), None))
            self._emit(batch)
            if self._abandoned and self.records.empty():
                return

    def _emit(self, records: list[logging.LogRecord]) -> None:
        self.handler.emit_many([record for record in records if record.levelno >= self.handler.level])

    def stop(self, timeout: float) -> bool:
        """Write what is queued and end the thread; False if it did not within `timeout`."""
        try:
            self.records.put(None, timeout=timeout)
        except queue.Full:
            self._abandoned = True
            return False
        self.thread.join(timeout)
        return not self.thread.is_alive()


class _ToWriters(logging.Handler):
    """Hands each record to every writer thread. What depends on the moment of the call is
    fixed here (the message with its arguments, the traceback's text); the line is made there.
    The values of `extra=` are read there too: a caller must not change them after the call."""

    def __init__(self, writers: list[_Writer]):
        super().__init__()
        self.writers = writers

    def handle(self, record: logging.LogRecord) -> bool:  # no lock: each writer's queue is one
        record = copy.copy(record)  # other handlers (pytest's) may still read the original
        record.msg, record.args = record.getMessage(), None
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None  # a traceback holds frames, which must not outlive the call
        for i, writer in enumerate(self.writers):
            # A copy each: a formatter keeps the record's JSON line on the record (JsonFormatter).
            writer.put(record if i == 0 else copy.copy(record))
        return True

    def emit(self, record: logging.LogRecord) -> None:
        self.handle(record)


# The writer threads and the handler that feeds them (on the root logger), while they run.
_writers: _ToWriters | None = None


def stop_logging(timeout: float = STOP_WAIT_S) -> None:
    """Write every queued record and stop the writer threads; from then on records are written
    by the thread that logs them, as without them. Called when the coordinator's app shuts
    down (uvicorn ends a process stopped by SIGTERM by raising the signal again, so atexit
    does not run then), at exit, and before `setup_logging` again. A writer that cannot finish
    within `timeout` (a console nobody reads) keeps its lines, and its handler is dropped.
    A record another thread logs while this runs may be lost (only at shutdown)."""
    global _writers
    if _writers is None:
        return
    to_writers, _writers = _writers, None
    root = logging.getLogger()
    attached = to_writers in root.handlers
    root.removeHandler(to_writers)
    for writer in to_writers.writers:
        if writer.stop(timeout) and attached:
            root.addHandler(writer.handler)


class RotatingLogFile(Batching, logging.handlers.RotatingFileHandler):
    """RotatingFileHandler that counts what it wrote instead of asking the file: the stdlib's
    size check stats the path twice and seeks the file for every record (the coordinator logs
    a line per submitted job). Our lines are ASCII (json.dumps escapes the rest), so characters
    are bytes. A file that is not a regular one (/dev/stdout) never rolls over, as in the
    stdlib; one truncated by another program (logrotate's copytruncate) rolls over early once."""

    def __init__(self, filename: Path, max_bytes: int, backups: int):
        super().__init__(filename, maxBytes=max_bytes, backupCount=backups)
        self._regular = not os.path.exists(self.baseFilename) or os.path.isfile(self.baseFilename)
        self._size: int | None = None

    def shouldRollover(self, record: logging.LogRecord) -> bool:
        if not self._regular or self.maxBytes <= 0:
            return False
        if self.stream is None:
            self.stream = self._open()
        if self._size is None:
            self._size = self.stream.seek(0, 2)  # appended to: it starts at the file's size
        length = len(self.format(record)) + 1
        if self._size + length >= self.maxBytes:
            self._size = length  # the record goes to the fresh file doRollover opens
            return True
        self._size += length
        return False


LOG_FORMATS = ("text", "json")
LOG_DIR_ENV = "AITBC_LOG_DIR"
MAX_BYTES = 10 * 1024 * 1024  # per file
BACKUPS = 5                   # rolled files kept: at most (BACKUPS + 1) * MAX_BYTES on disk per service


def resolve_log_file(default: Path, log_dir: Path | None = None) -> Path:
    """Where a service's log goes: `log_dir` (a --log-dir flag), else $AITBC_LOG_DIR, else `default`.

    The file keeps its name (coordinator.log, miner.log, app.log, explorer.log).
    """
    folder = log_dir or (Path(os.environ[LOG_DIR_ENV]) if os.environ.get(LOG_DIR_ENV) else None)
    return folder / default.name if folder else default


def console_format(requested: str | None = None) -> str:
    """`requested`, else $AITBC_LOG_FORMAT, else text on a terminal and JSON otherwise."""
    choice = (requested or os.environ.get("AITBC_LOG_FORMAT") or "").lower()
    if choice in LOG_FORMATS:
        return choice
    return "text" if sys.stderr.isatty() else "json"


def setup_logging(service: str, log_file: Path | None, level: int = logging.INFO,
                  console: str | None = None, max_bytes: int = MAX_BYTES, backups: int = BACKUPS,
                  writer_thread: bool = False) -> None:
    """Send the root logger's records to stderr (`console_format(console)`) and as JSON lines to
    `log_file`, rotated when it reaches `max_bytes` (`backups` older files kept); with
    `writer_thread`, each of them that `may_block` is written by a thread of its own
    (stop_logging() writes what is queued), the others by the thread that logs."""
    global _writers
    stop_logging()
    console_handler = Console(sys.stderr)
    text = console_format(console) == "text"
    console_handler.setFormatter(TextFormatter(service) if text else JsonFormatter(service))
    handlers: list[Batching] = [console_handler]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = RotatingLogFile(log_file, max_bytes, backups)
        file_handler.setFormatter(JsonFormatter(service))
        handlers.append(file_handler)
    # Our lines carry none of what a record otherwise collects on every call: the caller's file
    # and line (a walk up the stack), the thread and the process (the logging HOWTO's
    # "Optimization" settings); the coordinator logs a line per submitted job.
    logging._srcfile = None  # noqa: SLF001 - the documented switch for caller information
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(level)
    threaded = [handler for handler in handlers if writer_thread and may_block(handler)]
    for handler in handlers:
        if handler not in threaded:
            root.addHandler(handler)
    if threaded:
        _writers = _ToWriters([_Writer(handler) for handler in threaded])
        root.addHandler(_writers)


def may_block(handler: logging.StreamHandler) -> bool:
    """Whether a write to the handler's stream can wait on another program: a pipe, a socket
    or a terminal whose reader stops reading can; a regular file cannot (a slow disk aside,
    which the coordinator's SQLite writes on its event loop meet as well)."""
    try:
        return not stat.S_ISREG(os.fstat(handler.stream.fileno()).st_mode)
    except (AttributeError, OSError, ValueError):  # no file descriptor (a stand-in stream): as a pipe
        return True


atexit.register(stop_logging)
