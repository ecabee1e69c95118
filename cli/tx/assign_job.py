"""`aitbc tx assign-job` (coordinator)."""

from __future__ import annotations

import click

from aitbc.cli.chain_access import resolve_address
from aitbc.cli.context import Context, json_option, pass_ctx
from aitbc.cli.tx.broadcast import send
from aitbc.cli.tx.options import MODE


@click.command("assign-job")
@click.argument("job_id")
@click.argument("miner")
@click.option("--from", "signer", default="coordinator", show_default=True)
@MODE
@json_option
@pass_ctx
def assign_job(ctx: Context, job_id: str, miner: str, signer: str, mode: str) -> None:
    """(coordinator) Bind JOB_ID to MINER."""
    send(ctx, signer, "assign_job", mode, job_id=job_id, miner=resolve_address(ctx, miner))
