"""The explorer's pages: each takes what explorer.chain returned and gives HTML."""

from __future__ import annotations

from typing import Any

from aitbc.explorer.chain import unindexed_note
from aitbc.explorer.html import (
    a, account_link, amount, block_link, esc, events, fields, job_link, layout, result_badge, short,
    status_badge, table, tx_link, when,
)


def _msg_summary(tx: dict[str, Any]) -> str:
    """One line of the most telling fields of a decoded tx."""
    msg = tx.get("msg", {})
    kind = tx.get("type")
    if kind == "transfer":
        return f"{amount(msg.get('amount', 0))} → {account_link(msg.get('to', ''))}"
    if kind in ("assign_job",):
        return f"{job_link(msg.get('job_id', ''))} → {account_link(msg.get('miner', ''))}"
    if kind == "record_receipt":
        proof = msg.get("proof", {})
        return f"{job_link(proof.get('job_id', ''))} · {esc(proof.get('compute_time_ms', 0))} ms"
    if kind in ("cancel_job", "fail_job"):
        return job_link(msg.get("job_id", ""))
    if kind == "submit_job":
        runner = ("direct" if msg.get("direct") else
                  f"→ {account_link(msg['coordinator'])}" if msg.get("coordinator") else "")
        return f"{esc(msg.get('model', ''))} · max {amount(msg.get('max_reward', 0))}" + (f" · {runner}" if runner else "")
    if kind == "register_coordinator":
        return f"{esc(msg.get('url', ''))} · bond {amount(msg.get('bond', 0))}"
    if kind in ("register_miner", "update_miner"):
        return f"{esc(', '.join(msg.get('models', [])))} · stake {amount(msg.get('stake', msg.get('add_stake', 0)))}"
    return esc(tx.get("error", ""))


def tx_rows(entries: list[dict[str, Any]], with_height: bool = True) -> list[list[str]]:
    rows = []
    for e in entries:
        tx = e["tx"]
        row = [tx_link(e["hash"]), esc(tx["type"]), account_link(tx.get("sender", "")), _msg_summary(tx),
               result_badge(e.get("code", 0), e.get("code_name", "OK"))]
        rows.append(([block_link(e["height"])] if with_height else []) + row)
    return rows


def tx_table(entries: list[dict[str, Any]], with_height: bool = True, empty: str = "no transactions") -> str:
    headers = (["height"] if with_height else []) + ["tx", "type", "signer", "what", "result"]
    return table(headers, tx_rows(entries, with_height), empty=empty)


def home(data: dict[str, Any], node: str, poll_ms: int) -> str:
    rows = [[block_link(b["height"]), when(b["time"]), esc(b["num_txs"]), f'<span class="mono">{esc(short(b["proposer"], 6))}</span>',
             f'<span class="mono">{esc(short(b["hash"], 8))}</span>'] for b in data["blocks"]]
    body = (f'<p class="summary" id="chain-head" data-poll-ms="{poll_ms}" data-limit="{len(data["blocks"]) or 20}">'
            f'chain <b>{esc(data["chain_id"])}</b> · latest height <b id="latest-height">{esc(data["height"])}</b>'
            f' · <span id="latest-time">{when(data["time"])}</span> · <span id="live-state">live</span></p>'
            + table(["height", "time", "txs", "proposer", "block hash"], rows, body_id="blocks"))
    return layout("Latest blocks", body, node, live=True)


def block_page(data: dict[str, Any], node: str) -> str:
    info = {"height": data["height"], "time": data["time"], "hash": data["hash"], "chain_id": data["chain_id"],
            "proposer": data["proposer"], "app_hash (after the previous block)": data["app_hash"]}
    height = data["height"]
    previous = a(f"/block/{height - 1}", "← previous") if height > 1 else ""
    nav = f'<p class="pager">{previous} {a(f"/block/{height + 1}", "next →")}</p>'
    details = "".join(_tx_details(e) for e in data["txs"])
    body = (nav + fields({k: v for k, v in info.items() if k not in ("height", "time")})
            + f"<p>{when(data['time'])}</p><h2>Transactions ({len(data['txs'])})</h2>"
            + tx_table(data["txs"], with_height=False) + details
            + "<h2>Block events</h2>" + events(data["events"]))
    return layout(f"Block {data['height']}", body, node)


def _tx_details(entry: dict[str, Any]) -> str:
    tx = entry["tx"]
    head = (f'<h3 id="tx-{esc(entry["hash"])}">{esc(tx["type"])} {tx_link(entry["hash"])} '
            f'{result_badge(entry.get("code", 0), entry.get("code_name", "OK"))}</h3>')
    log = f'<p class="log">{esc(entry["log"])}</p>' if entry.get("log") else ""
    info = {k: tx[k] for k in ("sender", "nonce", "memo", "error") if tx.get(k) not in (None, "")}
    return (f'<section class="tx">{head}{log}{fields(info)}<h4>fields</h4>{fields(tx.get("msg", {}))}'
            f'<details><summary>events ({len(entry.get("events", []))})</summary>{events(entry.get("events", []))}'
            "</details></section>")


def tx_page(entry: dict[str, Any], node: str) -> str:
    tx = entry["tx"]
    info = {"hash": entry["hash"], "height": entry["height"], "index": entry["index"], "type": tx["type"],
            "signer": tx.get("sender", ""), "nonce": tx.get("nonce", ""), "chain_id": tx.get("chain_id", ""),
            "memo": tx.get("memo", ""), "result": f"{entry['code_name']} (code {entry['code']})", "log": entry["log"]}
    body = (fields(info) + f'<p>{result_badge(entry["code"], entry["code_name"])}</p>'
            + "<h2>Fields</h2>" + fields(tx.get("msg", {"error": tx.get("error", "")}))
            + "<h2>Events</h2>" + events(entry["events"]))
    return layout(f"Transaction {short(entry['hash'], 8)}", body, node)


SUMMARY = ("client", "miner", "model", "max_reward", "payment", "refund", "reason", "receipt_id", "submitted_height",
           "finished_height", "deadline_ns")


def job_page(data: dict[str, Any], node: str) -> str:
    job = data["job"]
    # Expiry happens at the start of a block, before that block's txs.
    steps = [((e["height"], e["index"]), [block_link(e["height"]), esc(e["tx"]["type"]), tx_link(e["hash"]),
              account_link(e["tx"].get("sender", "")), result_badge(e["code"], e["code_name"])]) for e in data["txs"]]
    steps += [((e["height"], -1), [block_link(e["height"]), esc(f"{e['type']} {e['attributes'].get('status', '')}"),
               "(block event)", "—", '<span class="badge ok">OK</span>']) for e in data["block_events"]]
    rows = [row for _, row in sorted(steps, key=lambda step: step[0])]
    receipt = data["receipt"]
    receipt_html = (f'<div id="receipt">{fields(receipt, skip=("proof", "miner_signature"))}</div>' if receipt
                    else '<p class="empty" id="receipt">no receipt (yet)</p>')
    summary = {k: job[k] for k in SUMMARY if job.get(k) not in (None, "", 0)}
    body = (f'<p>status <span id="job-status">{status_badge(job["status"])}</span> · '
            f'<span id="job-coordinator">{runner(data["coordinator"])}</span></p>' + fields(summary)
            + "<h2>Lifecycle</h2>" + table(["height", "step", "tx", "signer", "result"], rows, empty="no txs")
            + "<h2>Receipt</h2>" + receipt_html
            + f"<details><summary>full record</summary>{fields(job)}</details>")
    return layout(f"Job {job['id']}", body, node)


def runner(who: dict[str, Any]) -> str:
    """Who runs a job (explorer.chain.job_coordinator) as one phrase."""
    if who["kind"] == "direct":
        return f"direct: assigned by the chain among {len(who['candidates'])} candidate(s) the client chose"
    genesis = " (genesis)" if who.get("genesis") else ""
    return f"run by {a('/coordinators', 'coordinator')} {account_link(who['address'])}{genesis}"


def receipt_page(data: dict[str, Any], node: str) -> str:
    receipt, entry = data["receipt"], data["tx"]
    tx_html = tx_table([entry]) if entry else '<p class="empty">recording tx not found</p>'
    body = (f'<div id="receipt">{fields(receipt)}</div><h2>Recorded by</h2>' + tx_html)
    return layout(f"Receipt {receipt['id']}", body, node)


def account_page(address: str, data: dict[str, Any], node: str) -> str:
    state = data["account"] or {"balance": 0, "nonce": 0, "exists": False}
    info = {"address": address, "balance": state["balance"], "nonce": state["nonce"]}
    miner = data["miner"]
    miner_html = ("<h2>Miner</h2>" + fields(miner, skip=("address", "public_key"))) if miner else ""
    coordinator = data.get("coordinator")
    coordinator_html = (f'<h2>Coordinator</h2><div id="coordinator">{fields(coordinator, skip=("address",))}</div>'
                        if coordinator else "")
    body = (f'<div id="account">{fields(info)}</div>' + miner_html + coordinator_html
            + f"<h2>History ({len(data['history'])})</h2>"
            + tx_table(data["history"]))
    return layout(f"Account {short(address, 9)}", body, node)


def miners_page(miners: list[dict[str, Any]], node: str) -> str:
    rows = [[account_link(m["address"]), amount(m["stake"]), esc(", ".join(m["models"])),
             f"{amount(m['price_per_second'])}/s", f"{esc(m['active_jobs'])}/{esc(m['capacity'])}",
             f'<span class="good">{esc(m["completed"])}</span>', f'<span class="bad">{esc(m["failed"])}</span>']
            for m in miners]
    body = table(["miner", "stake", "models", "price", "jobs", "completed", "failed"], rows, empty="no miners")
    return layout("Miners", body, node)


def coordinators_page(coordinators: list[dict[str, Any]], node: str) -> str:
    rows = [[account_link(c["address"]), esc(c.get("url") or "—"), amount(c["bond"]) if c.get("bond") else "—",
             "—" if c["genesis"] else esc(c["open_jobs"]),
             '<span class="badge">genesis</span>' if c["genesis"] else ""]
            for c in coordinators]
    body = ('<p class="summary">A coordinator job may be assigned, and its receipt recorded, only by the '
            'coordinator its submit_job names ("" names the genesis one); direct jobs have none. '
            "Registered coordinators lock a bond until they unregister; one that unregisters with jobs "
            "naming it still open is leaving: it takes no new jobs and its bond comes back when they close.</p>"
            + table(["coordinator", "url", "bond", "open jobs", ""], rows, body_id="coordinators",
                    empty="no coordinators"))
    return layout("Coordinators", body, node)


def search_page(query: str, node: str, found: dict[str, Any] | None = None, error: str = "") -> str:
    if error:
        body = f'<p class="error" id="search-error">{esc(error)}</p>'
    else:
        assert found is not None
        body = (f'<p>tx_search <span class="mono">{esc(query)}</span>: {esc(found["total"])} found'
                f'{", first " + str(len(found["txs"])) + " shown" if found["total"] > len(found["txs"]) else ""}</p>'
                + (f'<p class="error" id="search-unindexed">{esc(note)}</p>'
                   if (note := unindexed_note(found)) else "")
                + tx_table(found["txs"], empty="no matching transactions"))
    return layout("Search", body, node)


def error_page(title: str, message: str, node: str) -> str:
    return layout(title, f'<p class="error">{esc(message)}</p><p>{a("/", "back to the latest blocks")}</p>', node)


__all__ = ["account_page", "block_page", "coordinators_page", "error_page", "home", "job_page", "miners_page",
           "receipt_page", "search_page", "tx_page"]


CHARTS = (("block_interval", "Block interval", "s"), ("txs_per_s", "Transactions per second", "tx/s"),
          ("jobs_per_s", "Jobs submitted per second", "jobs/s"))


def network_page(data: dict[str, Any], node: str, prometheus: dict[str, Any] | None = None,
                 prometheus_error: str = "") -> str:
    """Plots of the last blocks as the chain records them, and of Prometheus' view when it runs."""
    from aitbc.explorer.charts import line_chart

    s = data["summary"]
    body = (f'<p class="summary">chain <b>{esc(data["chain_id"])}</b> · last {esc(s["blocks"])} blocks up to '
            f'{block_link(data["height"])} · mean block interval <b>{s["mean_interval"]:.2f} s</b> · '
            f'<b>{s["txs_per_s"]:.2f}</b> tx/s · <b>{s["jobs_per_s"]:.3f}</b> jobs/s</p>'
            '<h2>From the chain (block headers and results)</h2>'
            + "".join(line_chart(data["series"][key], label, unit) for key, label, unit in CHARTS))
    if prometheus is not None:
        body += (f'<h2>From Prometheus (last {esc(prometheus["minutes"])} min, '
                 f'<span class="mono">{esc(prometheus["url"])}</span>)</h2>'
                 + "".join(line_chart(prometheus["series"][key], label, unit) for key, label, unit in CHARTS))
    elif prometheus_error:
        body += f'<h2>From Prometheus</h2><p class="bad">{esc(prometheus_error)}</p>'
    return layout("Network", body, node)
