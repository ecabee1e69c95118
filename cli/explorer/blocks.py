"""`aitbc explorer blocks`."""

from __future__ import annotations

import click

from aitbc.cli.context import Context
from aitbc.cli.explorer.decorators import explorer_command
from aitbc.cli.tables import columns
from aitbc.explorer import chain


@explorer_command("blocks")
@click.option("--limit", type=click.IntRange(1, 100), default=10, show_default=True)
def blocks(ctx: Context, limit: int) -> None:
    """The newest blocks."""
    data = chain.latest_blocks(ctx.rpc, limit)
    rows = [[str(b["height"]), b["time"][:19].replace("T", " "), str(b["num_txs"]), b["proposer"], b["hash"]]
            for b in data["blocks"]]
    ctx.emit(data, f"chain {data['chain_id']}  latest height {data['height']}\n"
             + columns(["height", "time (UTC)", "txs", "proposer", "hash"], rows))
