"""`aitbc explorer search QUERY`: tx_search, or whatever QUERY names, looked up and shown."""

from __future__ import annotations

import click

from aitbc.keyring import KeyError_
from aitbc.cli.context import Context
from aitbc.cli.explorer.decorators import explorer_command
from aitbc.cli.explorer.text import account_text, block_text, human_tx, job_text, receipt_text
from aitbc.explorer import chain


@explorer_command("search")
@click.argument("query")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
def search(ctx: Context, query: str, limit: int) -> None:
    """tx_search with CometBFT's grammar, e.g. "job.model='aitbc-tiny'" or "message.sender='aitbc…'";
    a height, tx hash, job id, receipt id, address or key name is looked up and shown."""
    try:
        kind, value = chain.classify(query)
    except chain.NotFound:
        address = _key_address(ctx, query.strip())
        if address is None:
            raise chain.NotFound(f"{query!r} is not a height, tx hash, job id, receipt id, address, key name "
                                 "(see `aitbc keys list`) or a tx_search query (e.g. job.model='aitbc-tiny')") from None
        kind, value = "account", address  # a key name, as `explorer account` accepts
    if kind != "query":
        fetch, show = {
            "block": (lambda: chain.block(ctx.rpc, int(value)), block_text),
            "tx": (lambda: chain.tx(ctx.rpc, value), human_tx),
            "job": (lambda: chain.job(ctx.rpc, value), job_text),
            "receipt": (lambda: chain.receipt(ctx.rpc, value), receipt_text),
            "account": (lambda: chain.account(ctx.rpc, value, limit=min(limit, 100)),
                        lambda data: account_text(data, value)),
        }[kind]
        found = fetch()
        ctx.emit({"kind": kind, "value": value, "result": found}, show(found))
        return
    data = chain.tx_search(ctx.rpc, value, limit=limit)
    if note := chain.unindexed_note(data):
        click.echo(f"note: {note}", err=True)
    ctx.emit(data, f"{data['total']} found for {value}\n" + "\n\n".join(human_tx(e) for e in data["txs"]))


def _key_address(ctx: Context, name: str) -> str | None:
    try:
        return ctx.keyring.get(name).address
    except KeyError_:
        return None
