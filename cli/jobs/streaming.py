"""Following a job's text as it is generated, for `aitbc submit ... --stream`."""

from __future__ import annotations

import time

import click

from aitbc import jobspec
from aitbc.cli import safe_text
from aitbc.cli.context import CLIError, Context
from aitbc.cli.jobs.waiting import wait_for_job
from aitbc.api.coordinator_client import CoordinatorClient, CoordinatorUnavailable
from aitbc.api.coordinator_models import JobPublic


def stream_job(ctx: Context, client: CoordinatorClient, job_id: str, timeout: float) -> JobPublic:
    """Print the job's text on stdout as it comes (not with --json), then wait until the job is
    final as `--wait` does. The text is the miner's, unverified until the coordinator checked
    its proof; the final block's Result is the text the receipt commits to."""
    deadline = time.monotonic() + timeout
    live = not ctx.json_output
    printed = replaced = False
    try:
        for event in client.stream_job(job_id):
            if event.kind == "token" and live:
                click.echo(safe_text.terminal(event.token().text), nl=False)
                printed = True
            elif event.kind == "replace":
                replaced = True  # the miner signed other text than it streamed, or another miner took over
            elif event.kind == "done":
                job = event.job()
                break
            if time.monotonic() >= deadline:
                raise CLIError(f"timed out after {timeout:g} s; job {job_id} is not done "
                               f"(check later with `aitbc status {job_id}`)")
        else:
            job = None
    except CoordinatorUnavailable as exc:
        ctx.progress(safe_text.inline(f"stream broke ({exc}); waiting for the result instead"))
        job = None
    if printed:
        click.echo()  # end the streamed text's line before the final block
    if replaced:
        ctx.progress("the streamed text was replaced by the verified result: see Result below")
    if job is None or job.status not in jobspec.FINAL:
        # Receipt held for a spot check (verifying), or no stream: wait for the final state (long polls).
        job = wait_for_job(ctx, client, job_id, max(deadline - time.monotonic(), 1.0))
    return job
