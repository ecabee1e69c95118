"""`aitbc query miners`."""

from __future__ import annotations

import time
from typing import Any

import click

from aitbc.units import format_amount
from aitbc.cli.context import Context, json_option, pass_ctx
from aitbc.cli.query.show import show
from aitbc.cli.safe_text import inline


def miner_line(m: dict[str, Any]) -> str:
    """One miner on one line: stake, price, models, load, record, unbonding and jail."""
    return (f"{inline(m['address'])}  stake {format_amount(m['stake'])}  "
            f"price {format_amount(m['price_per_second'])}/s  "
            f"models {inline(','.join(m['models'])) or '-'}  jobs {m['active_jobs']}/{m['capacity']}  "
            f"done {m['completed']} failed {m['failed']} slashed {m.get('slashed', 0)}"
            + (f"  unbonding {format_amount(m['unbonding'])}" if m.get("unbonding") else "")
            + ("  jailed" if m.get("jailed_until_ns", 0) > time.time_ns() else ""))


@click.command("miners")
@json_option
@pass_ctx
def miners(ctx: Context) -> None:
    """All registered miners."""
    show(ctx, "/miners", lambda ms: "\n".join(miner_line(m) for m in ms) or "no miners")
