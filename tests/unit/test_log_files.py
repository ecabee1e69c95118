"""Service log files: rotated by size (so bounded on disk), and placed by --log-dir or
AITBC_LOG_DIR instead of the data directory (the real services: tests/integration/test_log_dir.py)."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading

import pytest

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


def test_a_traceback_crosses_to_the_writer_as_text(tmp_path, restore_root_logger):
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


def test_arguments_are_read_when_the_line_is_logged(tmp_path, restore_root_logger):
    log_file = tmp_path / "coordinator.log"
    setup_logging("coordinator", log_file, console="json", writer_thread=True)
    state = ["pending"]
    logging.getLogger("x").info("job is %s", state)
    state[0] = "changed afterwards"
    stop_logging()
    assert json.loads(log_file.read_text().splitlines()[-1])["msg"] == "job is ['pending']"


def test_a_console_nobody_reads_does_not_stop_the_caller(tmp_path, restore_root_logger, monkeypatch):
    # A pipe holds 64 KiB; its reader never reads while 300 KiB of lines are logged.
    read_end, write_end = os.pipe()
    console = os.fdopen(write_end, "w")
    monkeypatch.setattr(sys, "stderr", console)
    setup_logging("coordinator", tmp_path / "coordinator.log", console="json", writer_thread=True)
    done = threading.Event()

    def log_a_lot() -> None:
        for i in range(3000):
            logging.getLogger("x").info("line %d %s", i, "x" * 60)
        done.set()

    threading.Thread(target=log_a_lot, daemon=True).start()
    try:
        assert done.wait(20), "logging blocked on the console"
    finally:
        drained = []
        def drain() -> None:
            while chunk := os.read(read_end, 1 << 16):
                drained.append(len(chunk))
        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        stop_logging()
        console.close()
        reader.join(10)
        os.close(read_end)
    assert sum(drained) > 3000 * 60  # every line reached the console once it was read
