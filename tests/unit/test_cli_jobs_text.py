"""What the job commands print: a cancelled job, the missing-key message, the jobs table."""

from __future__ import annotations

from datetime import datetime, timezone

from click.testing import CliRunner

from aitbc.cli.jobs import coordinator as jobs_coordinator
from aitbc.cli.jobs.text import job_text
from aitbc.cli.context import Context
from aitbc.cli.main import cli
from aitbc.api.coordinator_client import ApiError
from aitbc.api.coordinator_models import JobList, JobPublic

T0 = datetime(2025, 1, 29, 14, 50, 1, tzinfo=timezone.utc)


def job(**fields) -> JobPublic:
    base = dict(job_id="job_123456", status="pending", type="inference", model="aitbc-tiny", client="c",
                max_reward=1_000_000, submitted_at=T0, tx_hash="AB")
    return JobPublic(**{**base, **fields})


def test_a_cancelled_job_is_a_status_not_an_error():
    text = job_text(job(status="cancelled", error="cancelled by the client", refund=1_000_000))
    assert text == "Job ID: job_123456\nStatus: cancelled (by the client)\nRefunded: 1 AITBC"


def test_the_missing_key_hint_is_given_once():
    detail = "missing X-Api-Key header: pass your API key (aitbc --api-key or AITBC_API_KEY)"
    text = jobs_coordinator.api_error_text(ApiError(401, "Unauthorized", detail), None)
    assert text == f"Unauthorized: {detail}"  # the coordinator's own hint, not a second one
    bare = jobs_coordinator.api_error_text(ApiError(401, "Unauthorized", "no key"), None)
    assert bare == "Unauthorized: no key (pass --api-key, or set AITBC_API_KEY or CLIENT_KEY)"
    wrong = jobs_coordinator.api_error_text(ApiError(401, "Unauthorized", "unknown key"), "k")
    assert wrong.endswith("(the coordinator does not know this API key)")


def test_jobs_has_a_header_row(monkeypatch):
    class FakeClient:
        def __init__(self, *_a, **_k):
            pass

        def list_jobs(self, *_a):
            return JobList(jobs=[job(), job(job_id="job_abcdef", status="completed", model="llama3.2:latest")])

        def close(self):
            pass

    monkeypatch.setattr(jobs_coordinator, "CoordinatorClient", FakeClient)
    out = CliRunner().invoke(cli, ["jobs"], obj=Context(), catch_exceptions=False).stdout.splitlines()
    assert out[0].split() == ["job", "id", "status", "model", "submitted", "(UTC)"]
    assert out[2].split()[:3] == ["job_123456", "pending", "aitbc-tiny"]
    assert out[2].index("pending") == out[3].index("completed")  # aligned
