"""`aitbc submit|status|wait|receipt|balance|jobs|cancel`: jobs through the coordinator.

The client's key never leaves this machine: submit and cancel txs are signed
here (chain id and nonce come from the coordinator) and the coordinator only
broadcasts them. `register(group)` adds the commands to the root group.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator

import click

from aitbc import crypto, jobspec, units
from aitbc.crypto import PrivateKey
from aitbc.keyring import KeyError_
from aitbc.cli import safe_text
from aitbc.cli.context import CLIError, Context, NetworkError, Rejected, json_option, pass_ctx
from aitbc.api.coordinator_client import ApiError, CoordinatorClient, CoordinatorUnavailable, sign_cancel, sign_job
from aitbc.api.coordinator_models import JobOptions, JobPublic, ReceiptPublic

POLL_S = 0.25  # a completed job shows within a quarter second; a GET is cheap


# --- helpers ------------------------------------------------------------------------------
@contextlib.contextmanager
def coordinator(ctx: Context) -> Iterator[CoordinatorClient]:
    """A client of ctx.url; its errors become CLI errors with meaningful exit codes."""
    client = CoordinatorClient(ctx.url, ctx.api_key)
    try:
        yield client
    except CoordinatorUnavailable as err:
        raise NetworkError(f"{err} (is the coordinator running? set --url or AITBC_URL)") from None
    except ApiError as err:
        raise Rejected(api_error_text(err, ctx.api_key)) from None
    finally:
        client.close()


def api_error_text(err: ApiError, api_key: str | None) -> str:
    """The coordinator's problem, with how to pass a key once (its own detail may already say so)."""
    text = f"{safe_text.inline(err.title)}: {safe_text.inline(err.detail)}"
    if err.status == 401 and "api_key" not in text.lower().replace("-", "_"):
        text += " (pass --api-key, or set AITBC_API_KEY or CLIENT_KEY)" if not api_key else \
            " (the coordinator does not know this API key)"
    return text


def load_key(ctx: Context, name: str) -> PrivateKey:
    try:
        return ctx.keyring.get(name)
    except KeyError_ as err:
        raise CLIError(str(err)) from None


def parse_reward(text: str) -> int:
    try:
        amount = units.parse_amount(text)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--max-reward") from None
    if amount <= 0:
        raise click.BadParameter("must be positive", param_hint="--max-reward")
    return amount


def format_seconds(seconds: float) -> str:
    text = f"{seconds:.0f}" if abs(seconds - round(seconds)) < 0.05 else f"{seconds:.1f}"
    return f"{text} second" + ("" if text == "1" else "s")


def job_text(job: JobPublic) -> str:
    """The flowchart's final output (step 12), plus what a failed job needs to say."""
    clean = safe_text.inline  # every field but the result is one line, whoever wrote it
    status_line = f"Status: {clean(job.status)}"
    cancelled = job.status == "cancelled"
    if cancelled and job.error:
        # the client's own choice, not an error: "Status: cancelled (by the client)"
        status_line += f" ({clean(job.error.removeprefix('cancelled').strip())})"
    lines = [f"Job ID: {clean(job.job_id)}", status_line]
    if job.result is not None:
        lines.append(safe_text.block("Result", job.result))  # the miner's text, fenced
    if job.receipt_id:
        lines.append(f"Receipt: {clean(job.receipt_id)}")
    if job.completed_at and job.status == "completed":
        lines.append(f"Completed in: {format_seconds((job.completed_at - job.submitted_at).total_seconds())}")
    if job.amount_paid is not None and job.status == "completed":
        lines.append(f"Cost: {units.format_amount(job.amount_paid)}")
    if job.fee:
        lines.append(f"Fee: {units.format_amount(job.fee)} (burned by the submit transaction)")
    if job.error and not cancelled:
        lines.append(f"Error: {clean(job.error)}")
    if job.status in ("failed", "expired", "cancelled") and job.refund:
        lines.append(f"Refunded: {units.format_amount(job.refund)}")
    return "\n".join(lines)


def emit_job(ctx: Context, job: JobPublic) -> None:
    ctx.emit(job.model_dump(mode="json"), job_text(job))


def wait_for_job(ctx: Context, client: CoordinatorClient, job_id: str, timeout: float) -> JobPublic:
    """Poll until the job is final; a spinner on a terminal, status lines otherwise."""
    deadline = time.monotonic() + timeout
    show_spinner = ctx.verbose >= 0 and sys.stderr.isatty()
    last_status = ""
    spinner = contextlib.nullcontext()
    if show_spinner:
        from rich.console import Console
        from rich.markup import escape  # ids and statuses are text, not rich markup

        spinner = Console(stderr=True).status("waiting for " + escape(safe_text.inline(job_id)))
    with spinner as live:
        while True:
            job = client.get_job(job_id)
            if job.status != last_status:
                last_status = job.status
                if live is not None:
                    live.update(escape(safe_text.inline(f"{job_id}: {job.status}")))
                else:
                    ctx.progress(safe_text.inline(f"{job_id}: {job.status}"))
            if job.status in jobspec.FINAL:
                return job
            if time.monotonic() >= deadline:
                raise CLIError(f"timed out after {timeout:g} s; job {job_id} is still {job.status} "
                               f"(check later with `aitbc status {job_id}`)")
            time.sleep(POLL_S)


def finish(ctx: Context, job: JobPublic) -> None:
    """Print a waited-for job; a job that did not complete exits 1 (for scripts)."""
    emit_job(ctx, job)
    if job.status != "completed":
        click.get_current_context().exit(1)


# --- commands -------------------------------------------------------------------------------
@click.group("submit")
def submit() -> None:
    """Submit a job to the marketplace."""


@submit.command("inference")
@click.option("--prompt", required=True, help="The prompt.")
@click.option("--model", required=True, help="Model name, e.g. llama3.2:latest (see `aitbc query miners`).")
@click.option("--max-reward", default="1aitbc", show_default=True,
              help="Most you pay; locked in escrow, the unused rest refunded (e.g. 0.5, 1aitbc, 500000uaitbc).")
@click.option("--temperature", type=click.FloatRange(0, jobspec.MAX_TEMPERATURE), default=jobspec.DEFAULT_TEMPERATURE,
              show_default=True)
@click.option("--seed", type=click.IntRange(0, jobspec.MAX_SEED), default=0, show_default=True)
@click.option("--num-predict", type=click.IntRange(1, jobspec.MAX_NUM_PREDICT), default=jobspec.DEFAULT_NUM_PREDICT,
              show_default=True,
              help="Most tokens to generate.")
@click.option("--max-price", default="0", show_default=True,
              help="Most you accept per compute second, e.g. 0.02aitbc; only miners at or below it (0: no cap).")
@click.option("--from", "from_key", envvar="AITBC_FROM", default="alice", show_default=True,
              help="Key that signs and pays [env: AITBC_FROM]")
@click.option("--wait", is_flag=True, help="Wait until the job is final and print its result.")
@click.option("--timeout", type=float, default=300, show_default=True, help="Seconds to wait with --wait.")
@json_option
@pass_ctx
def inference(ctx: Context, prompt: str, model: str, max_reward: str, temperature: float, seed: int,
              num_predict: int, max_price: str, from_key: str, wait: bool, timeout: float) -> None:
    """Run PROMPT on MODEL; the escrow is locked by a tx signed with your key."""
    reward = parse_reward(max_reward)
    try:
        price_cap = units.parse_amount(max_price)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--max-price") from None
    key = load_key(ctx, from_key)
    with coordinator(ctx) as client:
        chain = client.chain()
        nonce = client.account(key.address).nonce
        request = sign_job(key, chain.chain_id, nonce, prompt, model, reward,
                           JobOptions(temperature=temperature, seed=seed, num_predict=num_predict),
                           max_price_per_second=price_cap)
        submitted = client.submit_job(request)
        ctx.progress(f"submitted {safe_text.inline(submitted.job_id)} (tx {safe_text.inline(submitted.tx_hash[:16])}..., "
                     f"up to {units.format_amount(reward)} locked)")
        if wait:
            finish(ctx, wait_for_job(ctx, client, submitted.job_id, timeout))
            return
        ctx.emit(submitted.model_dump(mode="json"),
                 f"Job ID: {safe_text.inline(submitted.job_id)}\nStatus: {safe_text.inline(submitted.status)}\n"
                 f"(follow it with `aitbc wait {submitted.job_id}` or `aitbc status {submitted.job_id}`)")


@click.command("status")
@click.argument("job_id")
@json_option
@pass_ctx
def status(ctx: Context, job_id: str) -> None:
    """Show a job: status, result, receipt, time and cost."""
    with coordinator(ctx) as client:
        emit_job(ctx, client.get_job(job_id))


@click.command("wait")
@click.argument("job_id")
@click.option("--timeout", type=float, default=300, show_default=True)
@json_option
@pass_ctx
def wait_cmd(ctx: Context, job_id: str, timeout: float) -> None:
    """Wait until JOB_ID is final and show it (exit 1 unless it completed)."""
    with coordinator(ctx) as client:
        finish(ctx, wait_for_job(ctx, client, job_id, timeout))


def receipt_text(r: ReceiptPublic) -> str:
    clean = safe_text.inline
    return "\n".join([
        f"Receipt: {clean(r.receipt_id)}", f"Job ID: {clean(r.job_id)}", f"Client: {clean(r.client)}",
        f"Miner: {clean(r.miner)}",
        f"Paid: {units.format_amount(r.amount_paid)}", f"Refunded: {units.format_amount(r.refund)}",
        f"Compute time: {format_seconds(r.compute_time_ms / 1000)} (claimed by the miner)",
        f"Billed time: {format_seconds(r.billed_ms / 1000)} (compute time, at most tokens x the miner's "
        "ms-per-token ceiling; paid at the price)",
        f"Price: {units.format_amount(r.price_per_second)} per second",
        f"Result hash: {clean(r.result_hash)}", f"Block: {r.block_height}", f"Time: {r.timestamp.isoformat()}",
    ])


@click.command("balance")
@click.argument("who", required=False, metavar="[ADDRESS|KEY]")
@json_option
@pass_ctx
def balance(ctx: Context, who: str | None) -> None:
    """Balance and next nonce of an address or a local key (default: AITBC_FROM or alice)."""
    import os

    who = who or os.environ.get("AITBC_FROM") or "alice"
    address = who if crypto.is_address(who) else load_key(ctx, who).address
    with coordinator(ctx) as client:
        account = client.account(address)
    pending = "" if account.pending_balance == account.balance else \
        f"\nPending: {units.format_amount(account.pending_balance)} (after txs in the mempool)"
    ctx.emit(account.model_dump(mode="json"),
             f"Address: {address}\nBalance: {units.format_amount(account.balance)}{pending}\nNonce:   {account.nonce}")


@click.command("jobs")
@click.option("--status", "status_filter",
              type=click.Choice([status.value for status in jobspec.ALL]))
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True)
@json_option
@pass_ctx
def jobs(ctx: Context, status_filter: str | None, limit: int) -> None:
    """Your jobs, newest first."""
    with coordinator(ctx) as client:
        listed = client.list_jobs(status_filter, limit).jobs
    from aitbc.cli.explorer import columns  # one table layout for the whole CLI (cells made safe there)

    rows = [[j.job_id, j.status, j.model, f"{j.submitted_at:%Y-%m-%d %H:%M:%S}"] for j in listed]
    ctx.emit([j.model_dump(mode="json") for j in listed],
             columns(["job id", "status", "model", "submitted (UTC)"], rows) if rows else "no jobs")


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


COMMANDS = (submit, status, wait_cmd, balance, jobs, cancel)


def register(group: click.Group) -> None:
    """Add the job commands to the `aitbc` root group."""
    for command in COMMANDS:
        group.add_command(command)
