"""Service log files: rotated by size (so bounded on disk), and placed by --log-dir or
AITBC_LOG_DIR instead of the data directory (the real services: tests/integration/test_log_dir.py)."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time

import pytest

from aitbc import logs
from aitbc.logs import BACKUPS, MAX_BYTES, JsonFormatter, resolve_log_file, setup_logging, stop_logging


@pytest.fixture
def restore_root_logger():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    stop_logging()
    for handler in root.handlers:
        handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_log_rolls_over_and_stays_bounded(tmp_path, restore_root_logger):
    log_file = tmp_path / "coordinator.log"
    setup_logging("coordinator", log_file, console="json", max_bytes=2000, backups=3)
    for i in range(500):
        logging.getLogger("x").info("line %d %s", i, "x" * 50)
    stop_logging()  # written by the writer thread: all of it, now
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["coordinator.log", "coordinator.log.1", "coordinator.log.2", "coordinator.log.3"]
    sizes = [p.stat().st_size for p in tmp_path.iterdir()]
    assert max(sizes) <= 2000 and sum(sizes) <= 4 * 2000
    assert "line 499" in log_file.read_text()  # the newest lines are in the current file


def test_a_record_is_made_into_json_once_for_the_console_and_the_file(tmp_path, restore_root_logger, monkeypatch,
                                                                    capsys):
    made = []
    line_of = JsonFormatter._line
    monkeypatch.setattr(JsonFormatter, "_line", lambda self, record: made.append(record) or line_of(self, record))
    log_file = tmp_path / "coordinator.log"
    setup_logging("coordinator", log_file, console="json")
    logging.getLogger("coordinator.jobs").info("job submitted", extra={"job_id": "job_1", "max_reward": 7})
    stop_logging()
    console = capsys.readouterr().err.strip()
    assert len(made) == 1  # not once per handler, nor again for the rotating file's size check
    assert log_file.read_text().strip() == console
    assert {k: v for k, v in json.loads(console).items() if k != "ts"} == {
        "level": "info", "service": "coordinator", "logger": "coordinator.jobs", "msg": "job submitted",
        "job_id": "job_1", "max_reward": 7}


def test_the_default_bound_is_ten_mib_times_five():
    assert (MAX_BYTES, BACKUPS) == (10 * 1024 * 1024, 5)


def test_log_dir_flag_then_environment_then_data_dir(tmp_path, monkeypatch):
    default = tmp_path / "data" / "miner.log"
    monkeypatch.delenv("AITBC_LOG_DIR", raising=False)
    assert resolve_log_file(default) == default
    monkeypatch.setenv("AITBC_LOG_DIR", str(tmp_path / "var-log"))
    assert resolve_log_file(default) == tmp_path / "var-log" / "miner.log"
    assert resolve_log_file(default, tmp_path / "flag") == tmp_path / "flag" / "miner.log"


def test_a_reopened_log_counts_from_the_size_it_has(tmp_path, restore_root_logger):
    # RotatingLogFile keeps the size itself: after a restart it starts from the file's size.
    log_file = tmp_path / "coordinator.log"
    log_file.write_text("x" * 1990 + "\n")
    setup_logging("coordinator", log_file, console="json", max_bytes=2000, backups=3)
    logging.getLogger("x").info("after the restart")
    stop_logging()
    assert (tmp_path / "coordinator.log.1").read_text() == "x" * 1990 + "\n"
    assert "after the restart" in log_file.read_text()


@pytest.fixture
def through_threads(monkeypatch):
    """Every output through a writer thread, a regular file too (setup_logging writes those on
    the thread that logs)."""
    monkeypatch.setattr(logs, "may_block", lambda handler: True)


def test_a_regular_file_is_written_by_the_caller_and_a_pipe_by_a_thread(tmp_path, restore_root_logger, monkeypatch):
    read_end, write_end = os.pipe()
    console = os.fdopen(write_end, "w")
    monkeypatch.setattr(sys, "stderr", console)
    log_file = tmp_path / "coordinator.log"
    try:
        setup_logging("coordinator", log_file, console="json", writer_thread=True)
        assert [type(w.handler) for w in logs._writers.writers] == [logs.Console]
        logging.getLogger("x").info("written at once")
        assert json.loads(log_file.read_text())["msg"] == "written at once"  # no writer to wait for
        stop_logging()
        assert json.loads(os.read(read_end, 1 << 16))["msg"] == "written at once"
    finally:
        console.close()
        os.close(read_end)
    with open(tmp_path / "console.out", "w") as regular:
        monkeypatch.setattr(sys, "stderr", regular)
        setup_logging("coordinator", log_file, console="json", writer_thread=True)
        assert logs._writers is None  # nothing that can block: no thread


def test_a_traceback_crosses_to_the_writer_as_text(tmp_path, restore_root_logger, through_threads):
    log_file = tmp_path / "coordinator.log"
    setup_logging("coordinator", log_file, console="json", writer_thread=True)
    try:
        raise ValueError("the cause")
    except ValueError:
        logging.getLogger("x").exception("it failed for %s", "job_1")
    stop_logging()
    line = json.loads(log_file.read_text().splitlines()[-1])
    assert line["msg"] == "it failed for job_1"
    assert line["exc"].startswith("Traceback") and "ValueError: the cause" in line["exc"]


def test_arguments_are_read_when_the_line_is_logged(tmp_path, restore_root_logger, through_threads):
    log_file = tmp_path / "coordinator.log"
    setup_logging("coordinator", log_file, console="json", writer_thread=True)
    state = ["pending"]
    logging.getLogger("x").info("job is %s", state)
    state[0] = "changed afterwards"
    stop_logging()
    assert json.loads(log_file.read_text().splitlines()[-1])["msg"] == "job is ['pending']"


def _stuck_console(monkeypatch):
    """stderr as a pipe nobody reads yet (it holds 64 KiB), and a function that reads it all."""
    read_end, write_end = os.pipe()
    console = os.fdopen(write_end, "w")
    monkeypatch.setattr(sys, "stderr", console)
    read: list[bytes] = []

    def read_it_all() -> str:
        reader = threading.Thread(target=lambda: read.extend(iter(lambda: os.read(read_end, 1 << 16), b"")),
                                  daemon=True)
        reader.start()
        time.sleep(0.5)  # the console's thread writes what it kept
        console.close()
        reader.join(10)
        os.close(read_end)
        return b"".join(read).decode()

    return read_it_all


def _log_lines(count: int) -> threading.Event:
    done = threading.Event()

    def log_them() -> None:
        for i in range(count):
            logging.getLogger("x").info("line %d %s", i, "x" * 60)
        done.set()

    threading.Thread(target=log_them, daemon=True).start()
    return done


def test_a_console_nobody_reads_holds_up_neither_the_caller_nor_the_file(tmp_path, restore_root_logger, monkeypatch):
    read_console = _stuck_console(monkeypatch)
    log_file = tmp_path / "coordinator.log"
    setup_logging("coordinator", log_file, console="json", writer_thread=True)
    done = _log_lines(3000)  # 300 KiB
    try:
        assert done.wait(20), "logging blocked on the console"
        for _ in range(200):  # the file's thread goes on writing
            if log_file.read_text().count("\n") >= 3000:
                break
            time.sleep(0.05)
        assert log_file.read_text().count("\n") == 3000
        stop_logging(timeout=0.5)  # returns, although the console's thread cannot finish yet
    finally:
        console = read_console()
    assert console.count("\n") == 3000  # once read, the console got every line too


def test_lines_a_stuck_console_cannot_take_are_dropped_and_counted(tmp_path, restore_root_logger, monkeypatch):
    read_console = _stuck_console(monkeypatch)
    monkeypatch.setattr(logs, "QUEUED_LINES", 50)
    setup_logging("coordinator", None, console="json", writer_thread=True)
    try:
        assert _log_lines(3000).wait(20), "logging blocked on the console"
        stop_logging(timeout=0.5)
    finally:
        console = read_console()
    lines = [json.loads(line) for line in console.splitlines()]
    dropped = [line for line in lines if line["msg"].endswith("log lines dropped: this output did not keep up")]
    kept = len(lines) - len(dropped)
    assert dropped and kept < 3000 and kept + sum(int(line["msg"].split()[0]) for line in dropped) == 3000


@pytest.mark.parametrize("threads", [True, False], ids=["through threads", "by the caller"])
def test_a_line_that_cannot_be_made_is_lost_alone(tmp_path, restore_root_logger, monkeypatch, threads):
    monkeypatch.setattr(logs, "may_block", lambda handler: threads)
    log_file = tmp_path / "coordinator.log"
    setup_logging("coordinator", log_file, console="json", writer_thread=True)
    nested: list = []
    for _ in range(5000):
        nested = [nested]
    logging.getLogger("x").info("too deep", extra={"detail": nested})  # json.dumps: RecursionError
    logging.getLogger("x").info("the next line")
    stop_logging()
    assert [json.loads(line)["msg"] for line in log_file.read_text().splitlines()] == ["the next line"]


def test_the_coordinators_shutdown_writes_what_its_writers_hold(tmp_path, restore_root_logger, through_threads):
    # uvicorn ends a SIGTERM'd process by raising the signal again after the app's shutdown:
    # atexit never runs, so the app's shutdown is where the queued lines are written.
    from fastapi.testclient import TestClient

    from aitbc.coordinator.http.app import create_app
    from aitbc.coordinator.settings import CoordinatorSettings
    from aitbc.ops.factories import KEYS
    from tests.unit.test_coordinator_api import FakeRPC

    log_file = tmp_path / "coordinator.log"
    setup_logging("coordinator", log_file, console="json", writer_thread=True)
    app = create_app(CoordinatorSettings(data_dir=tmp_path / "data"), rpc=FakeRPC(), key=KEYS["coordinator"],
                     run_scheduler=False)
    with TestClient(app):
        for i in range(2000):
            logging.getLogger("coordinator.jobs").info("job %d submitted", i)
    assert logs._writers is None  # stopped by the app's shutdown
    assert log_file.read_text().count("submitted") == 2000


class _CountingConsole:
    """A console that counts its writes."""

    def __init__(self):
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def test_a_writer_writes_the_lines_that_gathered_at_once(tmp_path, restore_root_logger, through_threads, monkeypatch):
    console = _CountingConsole()
    monkeypatch.setattr(sys, "stderr", console)
    log_file = tmp_path / "coordinator.log"
    setup_logging("coordinator", log_file, console="json", writer_thread=True)
    flushes = []
    file_handler = next(w.handler for w in logs._writers.writers if isinstance(w.handler, logs.RotatingLogFile))
    flush_file = file_handler.stream.flush
    monkeypatch.setattr(file_handler.stream, "flush", lambda: flushes.append(1) or flush_file())
    for i in range(500):
        logging.getLogger("coordinator.jobs").info("job %d submitted", i)
    stop_logging()
    lines = "".join(console.writes).splitlines()
    assert [json.loads(line)["msg"] for line in lines] == [f"job {i} submitted" for i in range(500)]
    assert log_file.read_text().splitlines() == lines  # the file got the same lines, in order
    assert len(console.writes) < 50 and len(flushes) < 50  # a write and a flush a batch, not a line
