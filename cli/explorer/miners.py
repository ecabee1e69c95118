"""`aitbc explorer miners`."""

from __future__ import annotations

from aitbc.units import format_amount
from aitbc.cli.context import Context
from aitbc.cli.explorer.decorators import explorer_command
from aitbc.cli.tables import columns
from aitbc.explorer import chain


@explorer_command("miners")
def miners(ctx: Context) -> None:
    """Registered miners: stake, models, price, reputation."""
    data = chain.miners(ctx.rpc)
    rows = [[m["address"], format_amount(m["stake"]), ",".join(m["models"]), format_amount(m["price_per_second"]),
             f"{m['active_jobs']}/{m['capacity']}", str(m["completed"]), str(m["failed"])] for m in data]
    ctx.emit(data, columns(["address", "stake", "models", "price/s", "jobs", "completed", "failed"], rows)
             if rows else "no miners")
