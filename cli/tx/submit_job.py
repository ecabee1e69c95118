"""`aitbc tx submit-job`: a job on chain without the coordinator."""

from __future__ import annotations

import click

from aitbc import jobspec
from aitbc.cli.chain_access import amount_arg
from aitbc.cli.context import Context, json_option, pass_ctx
from aitbc.cli.tx.broadcast import send
from aitbc.cli.tx.options import FROM, MODE


@click.command("submit-job")
@click.option("--model", required=True)
@click.option("--prompt", required=True, help="Only its sha256 goes on chain.")
@click.option("--max-reward", callback=amount_arg, default="1", show_default=True, help="Locked in escrow.")
@click.option("--temperature", default=0.7, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--num-predict", default=128, show_default=True)
@click.option("--max-price", callback=amount_arg, default="0", show_default=True,
              help="Most accepted per compute second (0: no cap); miners above it are never assigned.")
@FROM
@MODE
@json_option
@pass_ctx
def submit_job(ctx: Context, model: str, prompt: str, max_reward: int, temperature: float, seed: int,
               num_predict: int, max_price: int, signer: str, mode: str) -> None:
    """Create a job on chain directly (no coordinator): locks MAX_REWARD."""
    send(ctx, signer, "submit_job", mode, job_type="inference", model=model,
         prompt_hash=jobspec.prompt_hash(prompt), prompt_bytes=len(prompt.encode()),
         max_reward=max_reward, max_price_per_second=max_price,
         options={"temperature_milli": jobspec.temperature_milli(temperature), "seed": seed,
                  "num_predict": num_predict})
