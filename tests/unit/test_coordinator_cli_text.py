"""What `aitbc status` prints for a job (the flowchart's step 12) and for failures."""

from datetime import datetime, timedelta, timezone

from aitbc.cli.jobs.text import format_seconds, job_text
from aitbc.api.coordinator_models import JobPublic

T0 = datetime(2025, 1, 29, 14, 50, 1, tzinfo=timezone.utc)


def job(**fields) -> JobPublic:
    base = dict(job_id="job_123456", status="completed", type="inference", model="llama3.2:latest", client="c",
                max_reward=1_000_000, submitted_at=T0, tx_hash="AB")
    return JobPublic(**{**base, **fields})


def test_completed_job_reads_like_the_flowchart():
    text = job_text(job(result="Machine learning is ...", receipt_id="receipt_789", amount_paid=250_000,
                        completed_at=T0 + timedelta(seconds=17)))
    assert text == ("Job ID: job_123456\nStatus: completed\nResult: Machine learning is ...\n"
                    "Receipt: receipt_789\nCompleted in: 17 seconds\nCost: 0.25 AITBC")


def test_failed_job_says_why_and_what_came_back():
    text = job_text(job(status="failed", error="no miner available", refund=1_000_000,
                        completed_at=T0 + timedelta(seconds=60)))
    assert text == "Job ID: job_123456\nStatus: failed\nError: no miner available\nRefunded: 1 AITBC"


def test_seconds_have_at_most_one_decimal():
    assert format_seconds(17.0) == "17 seconds"
    assert format_seconds(12.46) == "12.5 seconds"
    assert format_seconds(1.0) == "1 second"
