"""`aitbc query job`."""

from __future__ import annotations

import click

from aitbc.cli.context import Context, json_option, pass_ctx
from aitbc.cli.query.show import record_lines, show


@click.command("job")
@click.argument("job_id")
@json_option
@pass_ctx
def job(ctx: Context, job_id: str) -> None:
    """A job's on-chain record."""
    show(ctx, f"/job/{job_id}", record_lines)
