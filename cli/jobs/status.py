"""`aitbc status JOB_ID`."""

from __future__ import annotations

import click

from aitbc.cli.context import Context, json_option, pass_ctx
from aitbc.cli.jobs.coordinator import coordinator
from aitbc.cli.jobs.text import emit_job


@click.command("status")
@click.argument("job_id")
@json_option
@pass_ctx
def status(ctx: Context, job_id: str) -> None:
    """Show a job: status, result, receipt, time and cost."""
    with coordinator(ctx) as client:
        emit_job(ctx, client.get_job(job_id))
