"""`aitbc query job-result`: a direct job's result, opened with the client's key and checked."""

from __future__ import annotations

import click

from aitbc.cli.chain_access import chain_query
from aitbc.cli.context import Context, json_option, pass_ctx
from aitbc.cli.tx.broadcast import signing_key
from aitbc.cli.tx.options import FROM
from aitbc.cli.tx.submit_job import show_result


@click.command("job-result")
@click.argument("job_id")
@FROM
@json_option
@pass_ctx
def job_result(ctx: Context, job_id: str, signer: str) -> None:
    """A direct job's result: read from its record_receipt tx, opened with the client's key (--from) and
    checked against the receipt's result hash (exit 6 if it does not match; 1 if there is no result)."""
    show_result(ctx, signing_key(ctx, signer), chain_query(ctx, f"/job/{job_id}"))
