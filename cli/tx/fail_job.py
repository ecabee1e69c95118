"""`aitbc tx fail-job` (coordinator or assigned miner)."""

from __future__ import annotations

import click

from aitbc.cli.context import Context, json_option, pass_ctx
from aitbc.cli.tx.broadcast import send
from aitbc.cli.tx.options import MODE


@click.command("fail-job")
@click.argument("job_id")
@click.option("--reason", default="")
@click.option("--from", "signer", default="coordinator", show_default=True)
@MODE
@json_option
@pass_ctx
def fail_job(ctx: Context, job_id: str, reason: str, signer: str, mode: str) -> None:
    """(coordinator or assigned miner) Fail JOB_ID: full refund."""
    send(ctx, signer, "fail_job", mode, job_id=job_id, reason=reason)
