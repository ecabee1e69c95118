"""`aitbc tx share-job-key` (the client of a direct job under a spot check)."""

from __future__ import annotations

import click

from aitbc.cli import direct_jobs
from aitbc.cli.chain_access import chain_query, resolve_address
from aitbc.cli.context import CLIError, Context, json_option, pass_ctx
from aitbc.cli.tx.broadcast import signing_key
from aitbc.cli.tx.options import FROM, MODE


@click.command("share-job-key")
@click.argument("job_id")
@click.option("--checker", default=None, metavar="ADDR",
              help="The checker (name or address); default: the job's current checker.")
@FROM
@MODE
@json_option
@pass_ctx
def share_job_key(ctx: Context, job_id: str, checker: str | None, signer: str, mode: str) -> None:
    """(client of a direct job) Seal JOB_ID's job key to its spot checker so it can re-run the prompt.
    `aitbc tx submit-job --wait` does this by itself."""
    key = signing_key(ctx, signer)
    if checker is None:
        checker = chain_query(ctx, f"/job/{job_id}").get("checker") or ""
        if not checker:
            raise CLIError(f"job {job_id} has no checker now (only a job under a spot check has one)")
    direct_jobs.share_key(ctx, key, job_id, resolve_address(ctx, checker), mode, quiet=False)
