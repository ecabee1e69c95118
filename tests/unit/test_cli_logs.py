"""Console logs: text for a person (AITBC_LOG_FORMAT=text, or a terminal), JSON in files."""

from __future__ import annotations

import json
import logging

from aitbc.logs import console_format, setup_logging, stop_logging


def test_console_text_and_file_json(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AITBC_LOG_FORMAT", "text")
    log_file = tmp_path / "svc.log"
    setup_logging("coordinator", log_file)
    try:
        logging.getLogger("x").info("job assigned", extra={"job_id": "job_1"})
        stop_logging()  # what the writer thread holds is written
        err = capsys.readouterr().err
        assert "info    coordinator: job assigned  job_id=job_1" in err and not err.lstrip().startswith("{")
        line = json.loads(log_file.read_text().splitlines()[-1])
        assert line["msg"] == "job assigned" and line["job_id"] == "job_1"
    finally:
        stop_logging()
        logging.getLogger().handlers.clear()


def test_console_format_choice(monkeypatch):
    monkeypatch.delenv("AITBC_LOG_FORMAT", raising=False)
    assert console_format() == "json"  # pytest's stderr is not a terminal: a redirected service stays parseable
    assert console_format("text") == "text"
    monkeypatch.setenv("AITBC_LOG_FORMAT", "TEXT")
    assert console_format() == "text"
