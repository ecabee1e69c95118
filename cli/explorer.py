"""`aitbc explorer`: blocks, txs, jobs, receipts, accounts and miners, decoded,
from any node (--node / AITBC_NODE); `serve` runs the web explorer."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any
from collections.abc import Callable

import click

from aitbc.rpc import ChainError, NodeUnavailable
from aitbc.units import format_amount
from aitbc.cli.safe_text import inline
from aitbc.cli.context import CLIError, Context, NetworkError, json_option, pass_ctx
from aitbc.explorer import chain
from aitbc.explorer.html import AMOUNT_FIELDS


def columns(headers: list[str], rows: list[list[str]]) -> str:
    """A plain aligned text table (hashes stay whole, unlike in a terminal-wide rich table).

    Cells are one line each: a model name or signer cannot break the table or print a line of its own."""
    rows = [[inline(c) for c in row] for row in rows]
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def node_option(f):
    """`--node` on each subcommand too, as well as on the root group."""

    def set_node(ctx: click.Context, _param, value: str | None) -> None:
        if value:
            obj = ctx.ensure_object(Context)
            obj.node, obj._rpc = value, None

    return click.option("--node", "node_flag", default=None, expose_value=False, callback=set_node,
                        is_eager=True, help="CometBFT RPC address [env: AITBC_NODE]")(f)


def chain_call(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn explorer/RPC errors into the CLI's exit codes."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except chain.NotFound as err:
            raise CLIError(str(err)) from None
        except NodeUnavailable as err:
            raise NetworkError(f"{err}\nIs the node running? (--node/AITBC_NODE)") from None
        except ChainError as err:
            raise CLIError(str(err)) from None

    return wrapper


def _events(events: list[dict[str, Any]], indent: str = "    ") -> list[str]:
    return [f"{indent}{inline(e['type'])}: " + " ".join(f"{inline(k)}={inline(v)}" for k, v in e["attributes"].items())
            for e in events]


def _fields(data: dict[str, Any]) -> str:
    return " ".join(f"{inline(k)}={_fields(v) if isinstance(v, dict) else inline(v)}" for k, v in data.items()
                    if v not in ("", [], None))


def human_tx(entry: dict[str, Any]) -> str:
    tx = entry["tx"]
    result = "OK" if entry["code"] == 0 else f"{entry['code_name']} (code {entry['code']}): {inline(entry['log'])}"
    lines = [f"tx {entry['hash']}  height {entry['height']} index {entry['index']}  {result}",
             f"  type    {tx['type']}", f"  signer  {tx.get('sender', '-')}  nonce {tx.get('nonce', '-')}"
             + (f"  fee {format_amount(tx['fee'])}" if isinstance(tx.get("fee"), int) and tx["fee"] else "")]
    lines += [f"  memo    {inline(tx['memo'])}"] if tx.get("memo") else []
    lines += [f"  error   {inline(tx['error'])}"] if tx.get("error") else []
    lines.append(f"  fields  {_fields(tx.get('msg', {}))}")
    if entry["events"]:
        lines += ["  events"] + _events(entry["events"])
    return "\n".join(lines)


def tx_lines(entries: list[dict[str, Any]]) -> str:
    rows = [[str(e["height"]), e["hash"], e["tx"]["type"], e["tx"].get("sender", "-"),
             "OK" if e["code"] == 0 else e["code_name"]] for e in entries]
    return columns(["height", "hash", "type", "signer", "result"], rows) if rows else "no transactions"


def _show_value(key: str, value: Any) -> str:
    """Amounts in AITBC, `*_ns` times as UTC dates, every value on one safe line."""
    if key in AMOUNT_FIELDS and isinstance(value, int):
        return format_amount(value)
    if key.endswith("_ns") and str(value).isdigit():
        return datetime.fromtimestamp(int(value) / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(value, dict):
        return _fields(value)
    if isinstance(value, list):
        return ", ".join(inline(v) for v in value)
    return inline(value)


# Spot-check fields of a job never checked, and heights and times not reached yet, are all zero or
# empty: shown, they bury the fields that say something.
SPOT_CHECK_FIELDS = {"held_payment", "check_status", "check_deadline_height", "checker", "checkers", "check_hashes",
                     "check_costs", "check_paid", "slashed"}


def _unset(key: str, value: Any) -> bool:
    if value in ("", [], {}, None):
        return True
    zero = value in (0, "0") and not isinstance(value, bool)
    return zero and (key in SPOT_CHECK_FIELDS or key.endswith(("_height", "_ns")))


def record_text(data: dict[str, Any], skip: tuple[str, ...] = ()) -> str:
    """`key: value` lines aligned on the longest key; empty fields and zero times left out."""
    shown = {k: v for k, v in data.items() if k not in skip and not _unset(k, v)}
    width = max((len(k) for k in shown), default=0) + 1
    return "\n".join(f"  {k + ':':<{width}} {_show_value(k, v)}" for k, v in shown.items())


@click.group()
@node_option
def explorer() -> None:
    """Look into the chain: decoded blocks, txs, jobs, receipts, accounts, miners."""


def _command(name: str):
    """A subcommand with --node and --json, its chain errors mapped to exit codes."""

    def decorate(f):
        return explorer.command(name)(node_option(json_option(pass_ctx(chain_call(f)))))

    return decorate


@_command("blocks")
@click.option("--limit", type=click.IntRange(1, 100), default=10, show_default=True)
def blocks(ctx: Context, limit: int) -> None:
    """The newest blocks."""
    data = chain.latest_blocks(ctx.rpc, limit)
    rows = [[str(b["height"]), b["time"][:19].replace("T", " "), str(b["num_txs"]), b["proposer"], b["hash"]]
            for b in data["blocks"]]
    ctx.emit(data, f"chain {data['chain_id']}  latest height {data['height']}\n"
             + columns(["height", "time (UTC)", "txs", "proposer", "hash"], rows))


def block_text(data: dict[str, Any]) -> str:
    head = (f"block {data['height']}  {data['time']}\n  hash      {data['hash']}\n  proposer  {data['proposer']}\n"
            f"  app_hash  {data['app_hash']}\n  txs       {len(data['txs'])}")
    parts = [head] + [human_tx(e) for e in data["txs"]]
    if data["events"]:
        parts.append("block events\n" + "\n".join(_events(data["events"], "  ")))
    return "\n\n".join(parts)


def job_text(data: dict[str, Any]) -> str:
    parts = [f"job {inline(data['job']['id'])}\n" + record_text(data["job"]), "lifecycle\n" + tx_lines(data["txs"])]
    parts += [f"  at height {e['height']}: {inline(e['type'])} " + _fields(e["attributes"])
              for e in data["block_events"]]
    receipt = data["receipt"]
    parts.append("receipt\n" + record_text(receipt, skip=("proof", "miner_signature")) if receipt else "receipt: none (yet)")
    return "\n\n".join(parts)


def receipt_text(data: dict[str, Any]) -> str:
    recorded = f"\n\nrecorded by\n{human_tx(data['tx'])}" if data["tx"] else ""
    return f"receipt {inline(data['receipt']['id'])}\n" + record_text(data["receipt"]) + recorded


def account_text(data: dict[str, Any], address: str) -> str:
    state = data["account"] or {"balance": 0, "nonce": 0}
    parts = [(f"account {address}\n  balance  {format_amount(state['balance'])}\n"
             f"  nonce    {state['nonce']}")]
    if data["miner"]:
        m = data["miner"]
        parts.append(f"miner: stake {format_amount(m['stake'])}, completed {m['completed']}, failed {m['failed']}")
    parts.append("history (newest first)\n" + tx_lines(data["history"]))
    return "\n\n".join(parts)


@_command("block")
@click.argument("height", type=click.IntRange(1))
def block(ctx: Context, height: int) -> None:
    """One block with its txs decoded and their results."""
    data = chain.block(ctx.rpc, height)
    ctx.emit(data, block_text(data))


@_command("tx")
@click.argument("tx_hash")
def tx(ctx: Context, tx_hash: str) -> None:
    """A transaction by hash, decoded, with its result and events."""
    data = chain.tx(ctx.rpc, tx_hash)
    ctx.emit(data, human_tx(data))


@_command("job")
@click.argument("job_id")
def job(ctx: Context, job_id: str) -> None:
    """A job's record, its txs in order (tx_search job.id) and its receipt."""
    data = chain.job(ctx.rpc, job_id)
    ctx.emit(data, job_text(data))


@_command("receipt")
@click.argument("ident")
def receipt(ctx: Context, ident: str) -> None:
    """A receipt by receipt id or job id, with the tx that recorded it."""
    data = chain.receipt(ctx.rpc, ident)
    ctx.emit(data, receipt_text(data))


@_command("account")
@click.argument("address")
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True, help="History entries.")
def account(ctx: Context, address: str, limit: int) -> None:
    """Balance, nonce, miner record and history of ADDRESS (an address or key name)."""
    from aitbc.cli.chain import resolve_address

    address = resolve_address(ctx, address)
    data = chain.account(ctx.rpc, address, limit)
    ctx.emit(data, account_text(data, address))


@_command("miners")
def miners(ctx: Context) -> None:
    """Registered miners: stake, models, price, reputation."""
    data = chain.miners(ctx.rpc)
    rows = [[m["address"], format_amount(m["stake"]), ",".join(m["models"]), format_amount(m["price_per_second"]),
             f"{m['active_jobs']}/{m['capacity']}", str(m["completed"]), str(m["failed"])] for m in data]
    ctx.emit(data, columns(["address", "stake", "models", "price/s", "jobs", "completed", "failed"], rows)
             if rows else "no miners")


@_command("search")
@click.argument("query")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
def search(ctx: Context, query: str, limit: int) -> None:
    """tx_search with CometBFT's grammar, e.g. "job.model='aitbc-tiny'" or "transfer.sender='aitbc…'";
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
    ctx.emit(data, f"{data['total']} found for {value}\n" + "\n\n".join(human_tx(e) for e in data["txs"]))


def _key_address(ctx: Context, name: str) -> str | None:
    from aitbc.keyring import KeyError_

    try:
        return ctx.keyring.get(name).address
    except KeyError_:
        return None


@explorer.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=18080, show_default=True)
@click.option("--blocks", default=20, show_default=True, help="Blocks on the front page.")
@click.option("--docs", is_flag=True, help="Also serve the API's Swagger UI at /api/docs (it loads from a public CDN).")
@node_option
@pass_ctx
def serve(ctx: Context, host: str, port: int, blocks: int, docs: bool) -> None:
    """Serve the web explorer over the node's RPC until Ctrl-C."""
    from aitbc.explorer.web import ExplorerSettings, run

    ctx.progress(f"explorer on http://{host}:{port}/ reading {ctx.node}")
    run(ExplorerSettings(node=ctx.node, host=host, port=port, blocks=blocks, docs=docs))
