"""`aitbc tx decline-job` (the assigned miner of a direct job)."""

from __future__ import annotations

import click

from aitbc.cli.context import Context, json_option, pass_ctx
from aitbc.cli.tx.broadcast import send
from aitbc.cli.tx.options import MODE


@click.command("decline-job")
@click.argument("job_id")
@click.option("--reason", default="", help="Why (at most 512 characters); shown with the job.")
@click.option("--from", "signer", default="miner1", show_default=True, envvar="AITBC_FROM",
              help="The assigned miner's key [env: AITBC_FROM]")
@MODE
@json_option
@pass_ctx
def decline_job(ctx: Context, job_id: str, reason: str, signer: str, mode: str) -> None:
    """(assigned miner of a direct job) Give JOB_ID back: the chain assigns another candidate, or the job
    is refunded at its deadline. No strike within the chain's decline_grace_s of the assignment; later,
    a strike (as fail-job)."""
    send(ctx, signer, "decline_job", mode, job_id=job_id, reason=reason)
