"""`aitbc query coordinator`."""

from __future__ import annotations

import click

from aitbc.cli.chain_access import resolve_address
from aitbc.cli.context import Context, json_option, pass_ctx
from aitbc.cli.query.show import record_lines, show


@click.command("coordinator")
@click.argument("who")
@json_option
@pass_ctx
def coordinator(ctx: Context, who: str) -> None:
    """A coordinator's record: url, bond, open jobs (WHO: an address or a key name)."""
    show(ctx, f"/coordinator/{resolve_address(ctx, who)}", record_lines)
