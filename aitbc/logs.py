"""Logging: one JSON line per event in the log file; on the console, JSON lines or a
human text line per event.

Log files rotate by size (MAX_BYTES, BACKUPS older files kept as NAME.1 ... NAME.5),
so a long-running service never fills its disk. They live in the service's data
directory unless `--log-dir` or AITBC_LOG_DIR points them elsewhere (e.g.
/var/log/aitbc).

The console format is AITBC_LOG_FORMAT (`text` or `json`) when set, else text on a
terminal and JSON when stderr is redirected (services started in the background,
whose output is a log to parse). Log files are always JSON.

The coordinator's records are formatted and written by a thread of their own
(`setup_logging(writer_thread=True)`): it logs a line per submitted job, and making
that line and writing it twice (console and file) on the event loop cost about 8 % of
its CPU per job (docs/benchmarks.md); a console whose reader stalls (a full pipe) no
longer stops it either. Lines still queued when the process exits are written first
(atexit); a SIGKILL loses them. The other services write on the thread that logs: a
miner's few lines per job cost it 1-4 ms more per job through a writer thread (its
wake-ups and the GIL changing hands), which its latency budget cannot spare.
"""

from __future__ import annotations

import atexit
import copy
import json
import logging
import logging.handlers
import os
import queue
import sys
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
    """The record's traceback as text: made from exc_info here, or by `_ToWriter` before the
    record left the thread that logged it."""
    if record.exc_info:
        return formatter.formatException(record.exc_info)
    return record.exc_text or None


class _ToWriter(logging.handlers.QueueHandler):
    """Hands records to the writer thread. What depends on the moment of the call is fixed
    here (the message with its arguments, the traceback's text); the line is made there."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        record = copy.copy(record)  # other handlers (pytest's) may still read the original
        record.msg, record.args = record.getMessage(), None
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None  # a traceback holds frames, which must not outlive the call
        return record


# The running writer thread and the handler that feeds it (on the root logger).
_writer: tuple[logging.handlers.QueueListener, _ToWriter] | None = None


def stop_logging() -> None:
    """Write every queued record and stop the writer thread; from then on records are written
    by the thread that logs them, as without it (at exit, or before `setup_logging` again)."""
    global _writer
    if _writer is None:
        return
    listener, to_writer = _writer
    _writer = None
    root = logging.getLogger()
    if to_writer in root.handlers:
        root.removeHandler(to_writer)
        for handler in listener.handlers:
            root.addHandler(handler)
    listener.stop()


class RotatingLogFile(logging.handlers.RotatingFileHandler):
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
    `writer_thread`, written by a thread of their own (stop_logging() writes what is queued)."""
    global _writer
    stop_logging()
    console_handler = logging.StreamHandler(sys.stderr)
    text = console_format(console) == "text"
    console_handler.setFormatter(TextFormatter(service) if text else JsonFormatter(service))
    handlers: list[logging.Handler] = [console_handler]
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
    if not writer_thread:
        for handler in handlers:
            root.addHandler(handler)
        return
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = logging.handlers.QueueListener(records, *handlers, respect_handler_level=True)
    to_writer = _ToWriter(records)
    root.addHandler(to_writer)
    listener.start()
    _writer = listener, to_writer


atexit.register(stop_logging)
