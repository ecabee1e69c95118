"""`aitbc tx unregister-coordinator`."""

from __future__ import annotations

import click

from aitbc.cli.context import Context, json_option, pass_ctx
from aitbc.cli.tx.broadcast import send
from aitbc.cli.tx.options import FROM, MODE


@click.command("unregister-coordinator")
@FROM
@MODE
@json_option
@pass_ctx
def unregister_coordinator(ctx: Context, signer: str, mode: str) -> None:
    """Unregister the signer's coordinator; its bond comes back.

    With jobs naming it still open it is leaving instead: no new job may name it
    (COORDINATOR_LEAVING), it still serves the open ones, and the bond comes back when
    the last closes (at the latest at its timeout)."""
    send(ctx, signer, "unregister_coordinator", mode)
