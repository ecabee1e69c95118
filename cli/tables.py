"""One table layout for the whole CLI."""

from __future__ import annotations

from aitbc.cli.safe_text import inline


def columns(headers: list[str], rows: list[list[str]]) -> str:
    """A plain aligned text table (hashes stay whole, unlike in a terminal-wide rich table).

    Cells are one line each: a model name or signer cannot break the table or print a line of its own."""
    rows = [[inline(c) for c in row] for row in rows]
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])
