"""What the explorer shows, read from a node's RPC: plain dicts, no web framework.

Every transaction is decoded (aitbc.tx.describe) and paired with its result
(code, log, events); bytes fields are shown as hex, like the chain's records.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from aitbc import event_index, tx as txlib
from aitbc.crypto import ADDRESS_RE
from aitbc.codes import Code, code_name
from aitbc.errors import TxError
from aitbc.rpc import ChainRPC, QueryFailed, RPCError, block_txs, decode_events

HEIGHT_RE = re.compile(r"^\d{1,19}\Z")
HASH_RE = re.compile(r"^[0-9A-Fa-f]{64}\Z")
JOB_RE = re.compile(r"^job_[0-9a-f]{16}\Z")
RECEIPT_RE = re.compile(r"^rcpt_[0-9a-f]{16}\Z")
MAX_PER_PAGE = 100  # CometBFT's cap for tx_search


class NotFound(LookupError):
    """Nothing on chain under that name."""


def classify(query: str) -> tuple[str, str]:
    """What a search box entry is: block, tx, job, receipt, account, or a tx_search query."""
    q = query.strip()
    for kind, pattern in (("block", HEIGHT_RE), ("tx", HASH_RE), ("job", JOB_RE), ("receipt", RECEIPT_RE),
                          ("account", ADDRESS_RE)):
        if pattern.match(q):
            return kind, q.upper() if kind == "tx" else q
    if "=" in q or " EXISTS" in q.upper() or " CONTAINS " in q.upper():
        return "query", q
    raise NotFound(f"{query!r} is not a height, tx hash, job id (job_...), receipt id (rcpt_...), address "
                   "(aitbc...) or a tx_search query (e.g. job.model='aitbc-tiny')")


def _hex_bytes(msg: Any, fields: dict[str, Any]) -> None:
    for fd in msg.DESCRIPTOR.fields:
        if fd.type == fd.TYPE_BYTES and fd.name in fields and not isinstance(fields[fd.name], dict):
            fields[fd.name] = getattr(msg, fd.name).hex()


def decode_tx(raw: bytes) -> dict[str, Any]:
    """describe() of a tx, bytes as hex; an undecodable tx says why instead of failing."""
    try:
        signed = txlib.decode(raw)
    except TxError as err:
        return {"type": "undecodable", "hash": txlib.tx_hash(raw), "error": str(err), "size": len(raw)}
    out = txlib.describe(signed)
    _hex_bytes(signed.msg, out["msg"])
    if signed.kind == "record_receipt":
        proof = txlib.decode_proof(signed.msg.proof)
        _hex_bytes(proof, out["msg"]["proof"])
    return out


def _result(result: dict[str, Any]) -> dict[str, Any]:
    code = int(result.get("code", 0))
    return {"code": code, "code_name": code_name(code), "log": result.get("log", ""),
            "events": decode_events(result.get("events", []))}


def tx_entry(item: dict[str, Any]) -> dict[str, Any]:
    """One item of `tx` / `tx_search`, decoded."""
    raw = base64.b64decode(item["tx"])
    return {"hash": item["hash"], "height": int(item["height"]), "index": int(item.get("index", 0)),
            **_result(item.get("tx_result", {})), "tx": decode_tx(raw)}


def _not_found(err: Exception) -> bool:
    text = str(err).lower()
    return "not found" in text or "must be less than or equal" in text or "height must be greater" in text


def status(rpc: ChainRPC) -> dict[str, Any]:
    raw = rpc.status()
    return {"chain_id": raw["node_info"]["network"], "moniker": raw["node_info"]["moniker"],
            "height": int(raw["sync_info"]["latest_block_height"]),
            "time": raw["sync_info"]["latest_block_time"], "app_hash": raw["sync_info"]["latest_app_hash"],
            "catching_up": raw["sync_info"]["catching_up"]}


def latest_blocks(rpc: ChainRPC, limit: int = 20) -> dict[str, Any]:
    """The newest `limit` block headers (at most 100), newest first."""
    head = status(rpc)
    top, blocks = head["height"], []
    low_end = max(1, top - min(limit, 100) + 1)
    while top >= low_end:
        low = max(low_end, top - 19)  # `blockchain` returns at most 20 headers
        for meta in rpc.call("blockchain", minHeight=str(low), maxHeight=str(top))["block_metas"]:
            header = meta["header"]
            blocks.append({"height": int(header["height"]), "time": header["time"], "num_txs": int(meta["num_txs"]),
                           "hash": meta["block_id"]["hash"], "proposer": header["proposer_address"],
                           "app_hash": header["app_hash"]})
        top = low - 1
    blocks.sort(key=lambda b: -b["height"])
    return {**head, "blocks": blocks}


def block(rpc: ChainRPC, height: int) -> dict[str, Any]:
    """A block with its txs decoded and their results, plus the block's own events (expiry)."""
    try:
        raw, results = rpc.block(height), rpc.block_results(height)
    except RPCError as err:
        if _not_found(err):
            raise NotFound(f"block {height} not found") from None
        raise
    header = raw["block"]["header"]
    txs_results = results.get("txs_results") or []
    txs = []
    for index, data in enumerate(block_txs(raw)):
        result = _result(txs_results[index]) if index < len(txs_results) else {}
        txs.append({"hash": txlib.tx_hash(data), "height": height, "index": index, **result, "tx": decode_tx(data)})
    return {"height": int(header["height"]), "hash": raw["block_id"]["hash"], "time": header["time"],
            "chain_id": header["chain_id"], "proposer": header["proposer_address"], "app_hash": header["app_hash"],
            "txs": txs, "events": decode_events(results.get("finalize_block_events", []))}


def tx(rpc: ChainRPC, tx_hash: str) -> dict[str, Any]:
    try:
        return tx_entry(rpc.tx(tx_hash.upper()))
    except ValueError:
        raise NotFound(f"{tx_hash!r} is not a tx hash (64 hex digits)") from None
    except RPCError as err:
        if _not_found(err):
            raise NotFound(f"tx {tx_hash} not found") from None
        raise


def tx_search(rpc: ChainRPC, query: str, limit: int = MAX_PER_PAGE, order: str = "asc") -> dict[str, Any]:
    """Decoded txs matching `query` (CometBFT's grammar), up to `limit`, in block order, and the
    query's attributes the chain does not index (`unindexed`: a condition on one matches no tx
    this app version committed)."""
    found, page, total = [], 1, 0
    while len(found) < limit:
        result = rpc.tx_search(query, page=page, per_page=MAX_PER_PAGE, order=order)
        total = int(result["total_count"])
        found += [tx_entry(item) for item in result["txs"]]
        if not result["txs"] or len(found) >= total:
            break
        page += 1
    return {"query": query, "total": total, "txs": found[:limit], "unindexed": event_index.unindexed(query)}


def unindexed_note(found: dict[str, Any]) -> str:
    """What to tell a user whose query names attributes the chain does not index; "" if none."""
    if not found.get("unindexed"):
        return ""
    return (f"not indexed: {', '.join(found['unindexed'])} (a condition on it matches no tx this app "
            f"version committed); indexed: {', '.join(event_index.indexed_keys())}")


def query(rpc: ChainRPC, path: str) -> Any:
    """abci_query, None when the chain says NOT_FOUND."""
    try:
        return rpc.query(path)
    except QueryFailed as err:
        if err.code == Code.NOT_FOUND:
            return None
        raise


def job(rpc: ChainRPC, job_id: str) -> dict[str, Any]:
    """A job's record, its txs in order (its lifecycle), block events (expiry) and receipt."""
    record = query(rpc, f"/job/{job_id}")
    if record is None:
        raise NotFound(f"job {job_id} not found")
    txs = tx_search(rpc, f"job.id='{job_id}'")["txs"]
    blocks = rpc.call("block_search", query=f"job.id='{job_id}'", per_page=str(MAX_PER_PAGE)).get("blocks", [])
    block_events = []
    for found in blocks:
        height = int(found["block"]["header"]["height"])
        for event in decode_events(rpc.block_results(height).get("finalize_block_events", [])):
            if event["attributes"].get("id") == job_id or event["attributes"].get("job_id") == job_id:
                block_events.append({"height": height, **event})
    receipt = query(rpc, f"/receipt/{record['receipt_id']}") if record.get("receipt_id") else None
    genesis = rpc.query("/params")["coordinator"]
    return {"job": record, "coordinator": job_coordinator(record, genesis), "txs": txs, "block_events": block_events,
            "receipt": receipt}


def receipt(rpc: ChainRPC, ident: str) -> dict[str, Any]:
    """A receipt (by receipt id or job id) and the tx that recorded it."""
    record = query(rpc, f"/receipt/{ident}")
    if record is None:
        raise NotFound(f"receipt {ident} not found")
    txs = tx_search(rpc, f"receipt.id='{record['id']}'")["txs"]
    return {"receipt": record, "tx": txs[0] if txs else None}


# message.sender finds every tx an address signed, its transfers included (events.INDEXED).
HISTORY_QUERIES = ("message.sender", "transfer.recipient", "job.miner", "receipt.client")


def account(rpc: ChainRPC, address: str, limit: int = 50) -> dict[str, Any]:
    """Balance and nonce, and the newest `limit` txs that touched the address."""
    if not ADDRESS_RE.match(address):
        raise NotFound(f"{address!r} is not an address (aitbc + 40 hex digits)")
    state = query(rpc, f"/account/{address}")
    seen: dict[str, dict[str, Any]] = {}
    for attribute in HISTORY_QUERIES:
        for entry in tx_search(rpc, f"{attribute}='{address}'", limit=limit, order="desc")["txs"]:
            seen.setdefault(entry["hash"], entry)
    history = sorted(seen.values(), key=lambda e: (-e["height"], -e["index"]))[:limit]
    miner = query(rpc, f"/miner/{address}")
    coordinator = query(rpc, f"/coordinator/{address}")
    return {"account": state, "miner": miner, "coordinator": coordinator, "history": history}


def miners(rpc: ChainRPC) -> list[dict[str, Any]]:
    """Every registered miner: stake, offer, and reputation (completed / failed jobs)."""
    return sorted(query(rpc, "/miners") or [], key=lambda m: (-m["completed"], m["address"]))


def coordinators(rpc: ChainRPC) -> list[dict[str, Any]]:
    """The genesis coordinator (first, `genesis` true, no bond) and every registered one: url, bond, open jobs."""
    return query(rpc, "/coordinators") or []


def job_coordinator(job: dict[str, Any], genesis: str) -> dict[str, Any]:
    """Who runs a job: {"kind": "direct", "candidates": [...]} (the chain assigns it among the
    client's candidates), or {"kind": "coordinator", "address": A, "genesis": bool}."""
    if job.get("candidates"):
        return {"kind": "direct", "candidates": list(job["candidates"])}
    address = job.get("coordinator") or genesis  # "" names the genesis coordinator
    return {"kind": "coordinator", "address": address, "genesis": address == genesis}
