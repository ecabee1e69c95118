"""`aitbc tx record-receipt` (coordinator)."""

from __future__ import annotations

import click

from aitbc.cli.context import Context, json_option, pass_ctx
from aitbc.cli.tx.broadcast import send
from aitbc.cli.tx.options import MODE


@click.command("record-receipt")
@click.option("--proof", "proof_hex", required=True, help="ComputeProof bytes, hex.")
@click.option("--signature", "signature_hex", required=True, help="The miner's signature, hex.")
@click.option("--from", "signer", default="coordinator", show_default=True)
@MODE
@json_option
@pass_ctx
def record_receipt(ctx: Context, proof_hex: str, signature_hex: str, signer: str, mode: str) -> None:
    """(coordinator) Record a miner's signed compute proof: pays and refunds."""
    try:
        proof, signature = bytes.fromhex(proof_hex), bytes.fromhex(signature_hex)
    except ValueError:
        raise click.BadParameter("--proof and --signature must be hex") from None
    send(ctx, signer, "record_receipt", mode, proof=proof, miner_signature=signature)
