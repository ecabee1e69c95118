"""Text from miners, clients and the coordinator cannot drive the terminal or fake CLI lines."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

from click.testing import CliRunner

from aitbc.cli import safe_text
from aitbc.cli.context import CLIError, Context
from aitbc.cli.explorer.text import human_tx
from aitbc.cli.jobs.text import job_text, receipt_text
from aitbc.cli.tables import columns
from aitbc.api.coordinator_models import JobPublic

T0 = datetime(2025, 1, 29, 14, 50, 1, tzinfo=timezone.utc)
HOSTILE = "Answer\x1b]0;title\x07\x1b[2J\u009b31m\u202eevil\nStatus: completed\nCost: 0"
UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
LABEL_LINE = re.compile(r"^(Status|Cost|Result|Receipt|Job ID|Error|Completed in|Refunded):", re.M)


def job(**fields) -> JobPublic:
    base = dict(job_id="job_123456", status="completed", type="inference", model="llama3.2:latest", client="c",
                max_reward=1_000_000, submitted_at=T0, tx_hash="AB", receipt_id="rcpt_1", amount_paid=250_000,
                completed_at=T0 + timedelta(seconds=3))
    return JobPublic(**{**base, **fields})


def labels(text: str) -> list[str]:
    return [m.group(1) for m in LABEL_LINE.finditer(text)]


def test_a_hostile_result_prints_no_control_character_and_no_fake_label():
    text = job_text(job(result=HOSTILE))
    assert not UNSAFE.search(text), repr(text)
    # the real labels, once each, in order; the miner's "Status:"/"Cost:" lines are fenced
    assert labels(text) == ["Job ID", "Status", "Result", "Receipt", "Completed in", "Cost"]
    assert "  | Status: completed" in text and "  | Cost: 0" in text
    assert "\\x1b]0;title\\x07" in text and "\\x9b" in text and "\\u202e" in text
    lines = text.splitlines()
    start = lines.index("Result: (3 lines)")
    assert lines[start + 4] == "  '-- end of result"  # the end of the miner's text is marked


def test_a_single_line_result_keeps_the_flowchart_line():
    assert "\nResult: Machine learning is ...\n" in job_text(job(result="Machine learning is ..."))


def test_reasons_models_and_receipt_fields_are_one_line():
    text = job_text(job(status="failed", result=None, error="no miner\nStatus: completed\x1b[2J", refund=5,
                        receipt_id=None))
    assert labels(text) == ["Job ID", "Status", "Error", "Refunded"] and not UNSAFE.search(text)
    assert "Error: no miner\\x0aStatus: completed\\x1b[2J" in text


def test_explorer_printers_neutralise_memos_logs_and_cells():
    entry = {"hash": "AB" * 32, "height": 3, "index": 0, "code": 8, "code_name": "INSUFFICIENT_FUNDS",
             "log": "bad\x1b[2J\nStatus: ok", "events": [{"type": "transfer", "attributes": {"memo": "x\u202ey"}}],
             "tx": {"type": "transfer", "sender": "aitbc1", "nonce": 0, "memo": "hi\nStatus: completed\x9b",
                    "msg": {"to": "aitbc2\x07"}}}
    text = human_tx(entry)
    assert not UNSAFE.search(text) and not re.search(r"^Status:", text, re.M)
    table = columns(["model"], [["tiny\nStatus: x\x1b[31m"]])
    assert len(table.splitlines()) == 3 and not UNSAFE.search(table)


def test_status_command_text_is_safe_and_json_is_exact(monkeypatch):
    from aitbc.cli.jobs import coordinator as jobs_coordinator

    class FakeClient:
        def __init__(self, *_a, **_k):
            pass

        def get_job(self, _job_id):
            return job(result=HOSTILE)

        def close(self):
            pass

    monkeypatch.setattr(jobs_coordinator, "CoordinatorClient", FakeClient)
    from aitbc.cli.main import cli

    out = CliRunner().invoke(cli, ["status", "job_123456"], obj=Context(), catch_exceptions=False)
    assert out.exit_code == 0 and not UNSAFE.search(out.stdout)
    assert labels(out.stdout) == ["Job ID", "Status", "Result", "Receipt", "Completed in", "Cost"]
    raw = CliRunner().invoke(cli, ["status", "job_123456", "--json"], obj=Context(), catch_exceptions=False)
    assert json.loads(raw.stdout)["result"] == HOSTILE


def test_error_messages_are_neutralised_too():
    assert CLIError("coordinator says \x1b]0;pwned\x07").message == "coordinator says \\x1b]0;pwned\\x07"


def test_inline_and_terminal():
    assert safe_text.inline("a\r\nb\tc") == "a\\x0ab    c"
    assert safe_text.terminal("a\nb\x7f\u2066") == "a\nb\\x7f\\u2066"
    assert receipt_text  # printed through the same helpers (see cli/jobs/text.py receipt_text)


def test_a_trailing_newline_is_not_a_line():
    assert safe_text.block("Result", "an answer\n") == "Result: an answer"
    assert safe_text.block("Result", "a\nb\n").splitlines() == ["Result: (2 lines)", "  | a", "  | b",
                                                                "  '-- end of result"]
