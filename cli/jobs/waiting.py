"""Waiting for a job to be final, for `aitbc wait` and `aitbc submit ... --wait`."""

from __future__ import annotations

import contextlib
import sys

import click

from aitbc import jobspec
from aitbc.cli import safe_text
from aitbc.cli.context import CLIError, Context
from aitbc.cli.jobs.text import emit_job
from aitbc.api.coordinator_client import CoordinatorClient
from aitbc.api.coordinator_models import JobPublic

RECEIPT_PENDING_NOTE = ("receipt pending: the coordinator checked the miner's signed proof and the chain "
                        "accepted the receipt into its mempool; it is paid once the receipt is in a block")


def early_result_text(job: JobPublic) -> str:
    """A result shown before its receipt is in a block, saying so (on stderr: stdout gets the final block)."""
    return "\n".join([f"{safe_text.inline(job.job_id)}: {RECEIPT_PENDING_NOTE}",
                      safe_text.block("Result", job.result or "")])


def wait_for_job(ctx: Context, client: CoordinatorClient, job_id: str, timeout: float) -> JobPublic:
    """Follow the job until it is final (the coordinator answers each change as it happens); a
    spinner on a terminal, status lines otherwise. A result released before its receipt is in
    a block is shown at once on stderr, marked pending."""
    show_spinner = ctx.verbose >= 0 and sys.stderr.isatty()
    last_status = ""
    shown_early = False
    spinner = contextlib.nullcontext()
    if show_spinner:
        from rich.console import Console
        from rich.markup import escape  # ids and statuses are text, not rich markup

        spinner = Console(stderr=True).status("waiting for " + escape(safe_text.inline(job_id)))
    with spinner as live:
        for job in client.job_updates(job_id, timeout):
            if job.status != last_status:
                last_status = job.status
                if live is not None:
                    live.update(escape(safe_text.inline(f"{job_id}: {job.status}")))
                else:
                    ctx.progress(safe_text.inline(f"{job_id}: {job.status}"))
            if job.status in jobspec.FINAL:
                return job
            if job.receipt_pending and job.result is not None and not shown_early and not ctx.json_output \
                    and ctx.verbose >= 0:
                shown_early = True
                if live is not None:
                    live.console.print(safe_text.terminal(early_result_text(job)), markup=False, highlight=False)
                else:
                    ctx.progress(early_result_text(job))
    raise CLIError(f"timed out after {timeout:g} s; job {job_id} is still {last_status} "
                   f"(check later with `aitbc status {job_id}`)")


def finish(ctx: Context, job: JobPublic) -> None:
    """Print a waited-for job; a job that did not complete exits 1 (for scripts)."""
    emit_job(ctx, job)
    if job.status != "completed":
        click.get_current_context().exit(1)
