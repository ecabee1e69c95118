"""`aitbc tx register-coordinator`."""

from __future__ import annotations

import click

from aitbc.cli.chain_access import amount_arg
from aitbc.cli.context import Context, json_option, pass_ctx
from aitbc.cli.tx.broadcast import send
from aitbc.cli.tx.options import FROM, MODE


@click.command("register-coordinator")
@click.option("--url", required=True, help="Where clients reach this coordinator's API (http(s)://host:port).")
@click.option("--bond", callback=amount_arg, default="100", show_default=True,
              help="Locked while registered; at least the chain's min_coordinator_bond (`aitbc query params`).")
@FROM
@MODE
@json_option
@pass_ctx
def register_coordinator(ctx: Context, url: str, bond: int, signer: str, mode: str) -> None:
    """Register the signer as a coordinator (locks --bond).

    Clients then name its address in their submit_job txs; only it may assign those jobs
    and record their receipts. Run the service with the same key (`aitbc coordinator start
    --key NAME`)."""
    send(ctx, signer, "register_coordinator", mode, url=url, bond=bond)
