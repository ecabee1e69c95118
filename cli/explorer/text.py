"""How the explorer prints txs, blocks, jobs, receipts, accounts and records (every value on one safe line)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aitbc.units import format_amount
from aitbc.cli.safe_text import inline
from aitbc.cli.tables import columns
from aitbc.explorer.html import AMOUNT_FIELDS


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
