"""HTML building blocks: every value from the chain goes through `esc`.

Plain server-rendered markup with f-strings; the one stylesheet and the one
script are served from /static, nothing is loaded from elsewhere.
"""

from __future__ import annotations

import html
from datetime import datetime, UTC
from typing import Any
from collections.abc import Iterable

from aitbc.units import format_amount

AMOUNT_FIELDS = {"amount", "stake", "add_stake", "max_reward", "price_per_second", "balance", "amount_paid",
                 "refund", "payment", "paid", "refunded", "bond"}
ADDRESS_FIELDS = {"to", "miner", "client", "sender", "recipient", "address", "signer", "coordinator"}


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def short(text: str, keep: int = 10) -> str:
    return text if len(text) <= 2 * keep + 1 else f"{text[:keep]}…{text[-keep:]}"


def a(href: str, text: str, title: str = "") -> str:
    title_attr = f' title="{esc(title)}"' if title else ""
    return f'<a href="{esc(href)}"{title_attr}>{esc(text)}</a>'


def block_link(height: int | str) -> str:
    return a(f"/block/{height}", str(height))


def tx_link(tx_hash: str, full: bool = False) -> str:
    return a(f"/tx/{tx_hash}", tx_hash if full else short(tx_hash, 8), tx_hash)


def account_link(address: str, full: bool = False) -> str:
    if not address:
        return "—"
    return a(f"/account/{address}", address if full else short(address, 9), address)


def job_link(job_id: str) -> str:
    return a(f"/job/{job_id}", job_id) if job_id else "—"


def receipt_link(ident: str) -> str:
    return a(f"/receipt/{ident}", ident) if ident else "—"


def amount(uaitbc: int | str) -> str:
    return f'<span class="amount">{esc(format_amount(int(uaitbc)))}</span>'


def when(timestamp: str | int) -> str:
    """An RFC 3339 time (headers) or nanoseconds (records), shown in UTC to the second."""
    if isinstance(timestamp, int) or str(timestamp).isdigit():
        moment = datetime.fromtimestamp(int(timestamp) // 1_000_000_000, tz=UTC)
        return esc(moment.strftime("%Y-%m-%d %H:%M:%S UTC"))
    return esc(str(timestamp)[:19].replace("T", " ") + " UTC")


def value(key: str, val: Any) -> str:
    """A field's value, with links and amounts where the key says what it is."""
    if isinstance(val, dict):
        return fields(val)
    if isinstance(val, list):
        return ", ".join(value(key, v) for v in val) or "—"
    text = str(val)
    if key in AMOUNT_FIELDS and text.isdigit():
        return amount(text)
    if key in ADDRESS_FIELDS and text.startswith("aitbc"):
        return account_link(text, full=True)
    if key in ("job_id",) or (key == "id" and text.startswith("job_")):
        return job_link(text)
    if key in ("receipt_id",) or (key == "id" and text.startswith("rcpt_")):
        return receipt_link(text)
    if key.endswith("height") and text.isdigit() and text != "0":
        return block_link(text)
    if key.endswith("_ns") and text.isdigit() and text != "0":
        return when(int(text))
    return f'<span class="mono">{esc(text)}</span>' if len(text) > 40 else esc(text) if text else "—"


def fields(data: dict[str, Any], skip: Iterable[str] = ()) -> str:
    rows = "".join(f"<dt>{esc(k)}</dt><dd>{value(k, v)}</dd>" for k, v in data.items() if k not in skip)
    return f'<dl class="fields">{rows}</dl>'


def table(headers: list[str], rows: list[list[str]], body_id: str = "", empty: str = "nothing yet") -> str:
    """Cells are HTML already (escaped by the caller's helpers)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    if not rows:
        body = f'<tr><td colspan="{len(headers)}" class="empty">{esc(empty)}</td></tr>'
    tbody_id = f' id="{esc(body_id)}"' if body_id else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody{tbody_id}>{body}</tbody></table>"


def result_badge(code: int, code_name: str) -> str:
    if code == 0:
        return '<span class="badge ok">OK</span>'
    return f'<span class="badge err" title="code {code}">{esc(code_name)}</span>'


def status_badge(status: str) -> str:
    return f'<span class="badge status-{esc(status)}">{esc(status)}</span>'


def events(items: list[dict[str, Any]]) -> str:
    if not items:
        return "<p class=\"empty\">no events</p>"
    return "".join(f'<div class="event"><span class="etype">{esc(e["type"])}</span>{fields(e["attributes"])}</div>'
                   for e in items)


def layout(title: str, body: str, node: str, live: bool = False) -> str:
    """The page frame: navigation, search box, content, which node answers."""
    script = '<script src="/static/live.js" defer></script>' if live else ""
    fallback = '<noscript><meta http-equiv="refresh" content="5"></noscript>' if live else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)} · AITBC explorer</title>
<link rel="stylesheet" href="/static/style.css">{fallback}{script}
</head><body>
<header><a class="brand" href="/">AITBC explorer</a>
<nav><a href="/">Blocks</a><a href="/miners">Miners</a><a href="/coordinators">Coordinators</a><a href="/network">Network</a></nav>
<form class="search" action="/search" method="get" role="search">
<input id="search-box" name="q" type="search" placeholder="height, tx hash, job id, receipt id, address"
 aria-label="Search" required><button id="search-button" type="submit">Search</button></form>
</header>
<main><h1>{esc(title)}</h1>
{body}
</main>
<footer>data from the node at <span class="mono">{esc(node)}</span></footer>
</body></html>"""
