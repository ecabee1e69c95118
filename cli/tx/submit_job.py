"""`aitbc tx submit-job`: a job on chain without any coordinator (a direct job), or, with
--coordinator, the hash-only job a coordinator serves."""

from __future__ import annotations

import click

from aitbc import jobspec, sealing, tx as txlib, units
from aitbc.cli import direct_jobs
from aitbc.cli.chain_access import amount_arg, chain_query, resolve_address
from aitbc.cli.context import CLIError, Context, json_option, pass_ctx
from aitbc.cli.jobs.text import job_text
from aitbc.cli.tx.broadcast import broadcast_signed, signing_key
from aitbc.cli.tx.options import FROM, MODE

GENESIS = "genesis"


@click.command("submit-job")
@click.option("--model", required=True)
@click.option("--prompt", required=True,
              help=f"Sealed for the chosen miners only (at most {sealing.MAX_PROMPT_BYTES} bytes); "
                   "with --coordinator only its sha256 goes on chain.")
@click.option("--max-reward", callback=amount_arg, default="1", show_default=True, help="Locked in escrow.")
@click.option("--temperature", default=0.7, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--num-predict", type=click.IntRange(1, jobspec.MAX_NUM_PREDICT), default=128, show_default=True)
@click.option("--max-price", callback=amount_arg, default="0",
              help="Most accepted per compute second; miners above it are never assigned. Default for a direct "
                   "job: the highest price among its candidates now (so none can raise its price before it is "
                   "assigned); with --coordinator: no cap.")
@click.option("--miner", "miners", multiple=True, metavar="ADDR",
              help=f"A candidate miner, name or address (repeat, at most {sealing.MAX_CANDIDATES}); default: up to "
                   f"{direct_jobs.AUTO_CANDIDATES} that serve the model now, the cheapest first.")
@click.option("--coordinator", default=None, metavar="ADDR",
              help="Submit the old hash-only job for this coordinator instead (address, key name, or "
                   f"'{GENESIS}'); it gets the prompt from you over HTTP.")
@click.option("--wait", is_flag=True, help="Follow the job to its end, share its key with a spot checker, "
                                           "then open and check the result and print it.")
@click.option("--timeout", type=float, default=300, show_default=True, help="Seconds to wait with --wait.")
@FROM
@MODE
@json_option
@pass_ctx
def submit_job(ctx: Context, model: str, prompt: str, max_reward: int, temperature: float, seed: int,
               num_predict: int, max_price: int, miners: tuple[str, ...], coordinator: str | None, wait: bool,
               timeout: float, signer: str, mode: str) -> None:
    """Create a job on chain and lock MAX_REWARD: by default a direct job that the chain assigns
    to one of the candidate miners (no coordinator), its prompt and result sealed so that only
    you and the candidates can read them."""
    if coordinator is not None and (miners or wait):
        raise click.UsageError("--coordinator submits a hash-only job: --miner and --wait are for direct jobs "
                               "(through a coordinator: `aitbc submit inference --wait`)")
    key = signing_key(ctx, signer)
    fields = dict(job_type="inference", model=model, prompt_hash=jobspec.prompt_hash(prompt),
                  prompt_bytes=len(prompt.encode()), max_reward=max_reward, max_price_per_second=max_price,
                  options={"temperature_milli": jobspec.temperature_milli(temperature), "seed": seed,
                           "num_predict": num_predict})
    candidates = [] if coordinator is not None else direct_jobs.pick_candidates(ctx, model, max_price, miners)
    fields["max_price_per_second"] = direct_jobs.price_cap(max_price, candidates)
    params = chain_query(ctx, "/params")
    nonce = chain_query(ctx, f"/nonce/{key.address}")["nonce"]
    job_id = txlib.job_id_for(key.address, nonce, params["chain_id"])
    if coordinator is not None:
        fields["coordinator"] = "" if coordinator == GENESIS else resolve_address(ctx, coordinator)
    else:
        fields["direct"] = direct_jobs.sealed_direct(key, job_id, prompt, candidates)
    raw = txlib.build(key, params["chain_id"], nonce, "submit_job", **fields)
    sent = broadcast_signed(ctx, raw, "submit_job", key.address, mode, quiet=True)
    sent["job_id"] = job_id
    sent["candidates"] = [c.address for c in candidates]
    sent["max_price_per_second"] = fields["max_price_per_second"]
    if not wait:
        where = f" at height {sent['height']}" if sent["height"] else " (in the mempool)"
        cap = units.format_amount(fields["max_price_per_second"]) + "/s" if fields["max_price_per_second"] else "none"
        ctx.emit(sent, f"submit_job {sent['hash']} accepted{where}\nJob ID: {job_id}"
                 + (f"\nCandidates: {', '.join(sent['candidates'])}\nPrice cap: {cap}" if candidates else ""))
        return
    ctx.progress(f"submitted {job_id} (tx {sent['hash'][:16]}..., candidates {', '.join(sent['candidates'])})")
    show_result(ctx, key, direct_jobs.follow(ctx, key, job_id, timeout), txlib.body_of(raw).fee)


def show_result(ctx: Context, key, job: dict, fee: int | None = None) -> None:
    """Print a direct job as the flowchart does, its result opened and checked; exits non-zero when
    it has no result (or the result does not match its receipt)."""
    if fee is None:
        fee = direct_jobs.submit_fee(ctx, job)
    if not job.get("receipt_tx"):
        public = direct_jobs.job_public(job, fee=fee)
        ctx.emit(public.model_dump(mode="json"), job_text(public))
        raise CLIError(direct_jobs.explain_unfinished(job))
    result, receipt = direct_jobs.open_result(ctx, key, job)
    public = direct_jobs.job_public(job, result, receipt, fee)
    ctx.emit(public.model_dump(mode="json"), job_text(public))
    if job["status"] not in ("completed", "verifying"):  # a result proven wrong by a spot check
        raise CLIError(direct_jobs.explain_unfinished(job))
