"""`aitbc explorer job JOB_ID`."""

from __future__ import annotations

import click

from aitbc.cli.context import Context
from aitbc.cli.explorer.decorators import explorer_command
from aitbc.cli.explorer.text import job_text
from aitbc.explorer import chain


@explorer_command("job")
@click.argument("job_id")
def job(ctx: Context, job_id: str) -> None:
    """A job's record, its txs in order (tx_search job.id) and its receipt."""
    data = chain.job(ctx.rpc, job_id)
    ctx.emit(data, job_text(data))
