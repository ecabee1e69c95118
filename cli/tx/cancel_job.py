"""`aitbc tx cancel-job`."""

from __future__ import annotations

import click

from aitbc.cli.context import Context, json_option, pass_ctx
from aitbc.cli.tx.broadcast import send
from aitbc.cli.tx.options import FROM, MODE


@click.command("cancel-job")
@click.argument("job_id")
@FROM
@MODE
@json_option
@pass_ctx
def cancel_job(ctx: Context, job_id: str, signer: str, mode: str) -> None:
    """Withdraw your job while it is not assigned: full refund."""
    send(ctx, signer, "cancel_job", mode, job_id=job_id)
