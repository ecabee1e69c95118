"""A self-contained receipt bundle (receipt, job, miner key, result), for `export` and `verify`."""

from __future__ import annotations

from typing import Any

from aitbc.cli.chain_access import chain_query
from aitbc.cli.context import CLIError, Context
from aitbc.cli.jobs.coordinator import coordinator


def build_bundle(ctx: Context, ident: str, prompt: str | None) -> dict[str, Any]:
    """Receipt, job and miner key from the chain; the result from the coordinator when it answers."""
    receipt_data = chain_query(ctx, f"/receipt/{ident}")
    # Ids repeat across chains: the bundle says which chain its receipt is from.
    bundle = {"chain_id": chain_query(ctx, "/params")["chain_id"], "receipt": receipt_data,
              "job": chain_query(ctx, f"/job/{receipt_data['job_id']}"),
              "miner_public_key": chain_query(ctx, f"/miner/{receipt_data['miner']}")["public_key"],
              "result": None, "prompt": prompt}
    try:
        with coordinator(ctx) as client:
            bundle["result"] = client.get_job(receipt_data["job_id"]).result
    except (CLIError, Exception):  # noqa: BLE001 - the result is optional; the rest stands alone
        ctx.progress("(no result text: the coordinator did not answer; hashes are still checked)")
    return bundle
