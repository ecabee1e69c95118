"""`aitbc tx dispute-result` (the client of a direct job whose result does not open to its receipt)."""

from __future__ import annotations

import click

from aitbc import units
from aitbc.cli import direct_jobs
from aitbc.cli.chain_access import chain_query
from aitbc.cli.context import Context, json_option, pass_ctx
from aitbc.cli.tx.broadcast import signing_key
from aitbc.cli.tx.options import FROM, MODE


@click.command("dispute-result")
@click.argument("job_id")
@FROM
@MODE
@json_option
@pass_ctx
def dispute_result(ctx: Context, job_id: str, signer: str, mode: str) -> None:
    """(client of a direct job) Prove that JOB_ID's sealed result does not open to its receipt's
    result hash: the miner is slashed as for a wrong result and what you paid comes back.

    Sends the job key with the job's sealed prompt and result, so both become readable to anyone.
    Refused for a result that opens and matches (checked here first), and after the dispute window
    (the chain's unbonding_period_s after the receipt's block)."""
    key = signing_key(ctx, signer)
    sent = direct_jobs.dispute(ctx, key, chain_query(ctx, f"/job/{job_id}"), mode)
    if not sent["height"]:
        ctx.emit(sent, f"dispute_result {sent['hash']} accepted (in the mempool)")
        return
    job = chain_query(ctx, f"/job/{job_id}")
    sent["job"] = job
    back = int(job["compensation"]) if job["status"] == "completed" else int(job["refund"])
    ctx.emit(sent, f"dispute_result {sent['hash']} accepted at height {sent['height']}: job {job_id} {job['status']}, "
                   f"{units.format_amount(back)} back to {key.address}; its miner was slashed")
