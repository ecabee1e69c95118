"""How a job and a receipt from the coordinator are printed."""

from __future__ import annotations

from aitbc import units
from aitbc.cli import safe_text
from aitbc.cli.context import Context
from aitbc.api.coordinator_models import JobPublic, ReceiptPublic


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
    elif job.receipt_pending:
        lines.append("Receipt: pending (the proof is checked and the chain accepted the receipt into its mempool; "
                     "paid once it is in a block)")
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
