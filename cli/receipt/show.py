"""`aitbc receipt [show] JOB_ID|RECEIPT_ID`."""

from __future__ import annotations

from typing import Any

import click

from aitbc.cli.chain_access import chain_query
from aitbc.cli.context import Context, Rejected, json_option, pass_ctx
from aitbc.cli.jobs.coordinator import api_error_text
from aitbc.cli.jobs.text import receipt_text
from aitbc.api.coordinator_client import ApiError, CoordinatorClient, CoordinatorUnavailable
from aitbc.api.coordinator_models import ReceiptPublic


@click.command("show")
@click.argument("ident", metavar="JOB_ID|RECEIPT_ID")
@json_option
@pass_ctx
def show(ctx: Context, ident: str) -> None:
    """Show the on-chain receipt of a job: through the coordinator when an API key is set,
    else (or when the coordinator does not answer or refuses the key) from the chain."""
    if ctx.api_key:
        client = CoordinatorClient(ctx.url, ctx.api_key)
        try:
            found = client.receipt(ident)
            ctx.emit(found.model_dump(mode="json"), receipt_text(found))
            return
        except CoordinatorUnavailable:
            ctx.progress("(the coordinator does not answer; reading the receipt from the chain)")
        except ApiError as err:
            if err.status not in (401, 403):
                raise Rejected(api_error_text(err, ctx.api_key)) from None
            ctx.progress("(the coordinator refused the API key; reading the receipt from the chain)")
        finally:
            client.close()
    # The receipt is public on chain: no key needed.
    record = receipt_from_chain(ctx, ident)
    ctx.emit(record, receipt_text(ReceiptPublic.from_chain(record)))


def receipt_from_chain(ctx: Context, ident: str) -> dict[str, Any]:
    return chain_query(ctx, f"/receipt/{ident}")
