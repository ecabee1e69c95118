"""`aitbc cancel JOB_ID`: a cancel_job tx signed here, broadcast by the coordinator."""

from __future__ import annotations

import click

from aitbc.cli.context import Context, json_option, pass_ctx
from aitbc.cli.jobs.coordinator import coordinator, load_key
from aitbc.cli.jobs.text import emit_job
from aitbc.api.coordinator_client import sign_cancel


@click.command("cancel")
@click.argument("job_id")
@click.option("--from", "from_key", envvar="AITBC_FROM", default="alice", show_default=True,
              help="The job's client key (it signs the cancel_job tx).")
@json_option
@pass_ctx
def cancel(ctx: Context, job_id: str, from_key: str) -> None:
    """Cancel a job that no miner has taken yet; the escrow is refunded."""
    key = load_key(ctx, from_key)
    with coordinator(ctx) as client:
        chain = client.chain()
        nonce = client.account(key.address).nonce
        emit_job(ctx, client.cancel_job(job_id, sign_cancel(key, chain.chain_id, nonce, job_id)))
