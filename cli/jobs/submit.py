"""`aitbc submit inference`: a job through the coordinator, its escrow locked by a tx signed here."""

from __future__ import annotations

import click

from aitbc import jobspec, units
from aitbc.cli import safe_text
from aitbc.cli.context import Context, json_option, pass_ctx
from aitbc.cli.jobs.coordinator import coordinator, load_key
from aitbc.cli.jobs.streaming import stream_job
from aitbc.cli.jobs.waiting import finish, wait_for_job
from aitbc.api.coordinator_client import sign_job
from aitbc.api.coordinator_models import JobOptions


def parse_reward(text: str) -> int:
    try:
        amount = units.parse_amount(text)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--max-reward") from None
    if amount <= 0:
        raise click.BadParameter("must be positive", param_hint="--max-reward")
    return amount


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
@click.option("--stream", is_flag=True,
              help="Print the text as it is generated, then the final result as --wait does.")
@click.option("--timeout", type=float, default=300, show_default=True,
              help="Seconds to wait with --wait or --stream.")
@json_option
@pass_ctx
def inference(ctx: Context, prompt: str, model: str, max_reward: str, temperature: float, seed: int,
              num_predict: int, max_price: str, from_key: str, wait: bool, stream: bool, timeout: float) -> None:
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
                           max_price_per_second=price_cap, coordinator=chain.job_coordinator)
        submitted = client.submit_job(request)
        ctx.progress(f"submitted {safe_text.inline(submitted.job_id)} (tx {safe_text.inline(submitted.tx_hash[:16])}..., "
                     f"up to {units.format_amount(reward)} locked)")
        if stream:
            finish(ctx, stream_job(ctx, client, submitted.job_id, timeout))
            return
        if wait:
            finish(ctx, wait_for_job(ctx, client, submitted.job_id, timeout))
            return
        ctx.emit(submitted.model_dump(mode="json"),
                 f"Job ID: {safe_text.inline(submitted.job_id)}\nStatus: {safe_text.inline(submitted.status)}\n"
                 f"(follow it with `aitbc wait {submitted.job_id}` or `aitbc status {submitted.job_id}`)")
