"""How `aitbc query` commands print what the node answers."""

from __future__ import annotations

from typing import Any

from aitbc.cli.chain_access import chain_query
from aitbc.cli.context import Context


def record_lines(data: dict[str, Any]) -> str:
    """A record as aligned `key: value` lines, as the explorer prints them."""
    from aitbc.cli.explorer.text import record_text

    return record_text(data).replace("\n  ", "\n").removeprefix("  ")


def show(ctx: Context, path: str, human=None) -> None:
    """Query `path` and print the answer: `human(answer)` as text, or JSON."""
    data = chain_query(ctx, path)
    ctx.emit(data, human(data) if human else None)
