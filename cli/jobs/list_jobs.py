"""`aitbc jobs`: your jobs, newest first."""

from __future__ import annotations

import click

from aitbc import jobspec
from aitbc.cli.context import Context, json_option, pass_ctx
from aitbc.cli.jobs.coordinator import coordinator
from aitbc.cli.tables import columns


@click.command("jobs")
@click.option("--status", "status_filter",
              type=click.Choice([status.value for status in jobspec.ALL]))
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True)
@json_option
@pass_ctx
def jobs(ctx: Context, status_filter: str | None, limit: int) -> None:
    """Your jobs, newest first."""
    with coordinator(ctx) as client:
        listed = client.list_jobs(status_filter, limit).jobs
    rows = [[j.job_id, j.status, j.model, f"{j.submitted_at:%Y-%m-%d %H:%M:%S}"] for j in listed]
    ctx.emit([j.model_dump(mode="json") for j in listed],
             columns(["job id", "status", "model", "submitted (UTC)"], rows) if rows else "no jobs")
