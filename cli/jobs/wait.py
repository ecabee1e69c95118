"""`aitbc wait JOB_ID`."""

from __future__ import annotations

import click

from aitbc.cli.context import Context, json_option, pass_ctx
from aitbc.cli.jobs.coordinator import coordinator
from aitbc.cli.jobs.waiting import finish, wait_for_job


@click.command("wait")
@click.argument("job_id")
@click.option("--timeout", type=float, default=300, show_default=True)
@json_option
@pass_ctx
def wait_cmd(ctx: Context, job_id: str, timeout: float) -> None:
    """Wait until JOB_ID is final and show it (exit 1 unless it completed)."""
    with coordinator(ctx) as client:
        finish(ctx, wait_for_job(ctx, client, job_id, timeout))
