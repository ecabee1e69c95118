"""A fake node for the explorer's unit tests: CometBFT's JSON-RPC shapes (integers
as strings, base64 txs, upper-case hashes) over a handful of real signed txs.

The real node is exercised in tests/integration/test_explorer_browser.py.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from aitbc import tx as txlib
from aitbc.codes import Code
from aitbc.rpc import ChainRPC, NodeUnavailable, RPCError
from aitbc.ops.factories import CHAIN_ID, KEYS, Signer, receipt_fields, register_fields, submit_fields

GENESIS_NS = 1_700_000_000 * 1_000_000_000
TERM = re.compile(r"^\s*(\w+)\.(\w+)\s*=\s*'([^']*)'\s*$")


def _raw_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"type": e["type"], "attributes": [{"key": k, "value": v, "index": True}
                                               for k, v in e["attributes"].items()]} for e in events]


class FakeNode(ChainRPC):
    """Blocks of (tx bytes, result) and a dict of abci_query answers."""

    def __init__(self) -> None:
        super().__init__("http://fake-node.invalid")
        self.blocks: list[dict[str, Any]] = []
        self.answers: dict[str, Any] = {}
        self.down = False

    def add_block(self, txs: list[tuple[bytes, int, str, list[dict]]] = (), events: list[dict] = ()) -> int:
        height = len(self.blocks) + 1
        self.blocks.append({"height": height, "txs": list(txs), "events": list(events),
                            "time": f"2023-11-14T22:13:{height % 60:02d}.123456789Z"})
        return height

    def empty_blocks(self, count: int) -> None:
        for _ in range(count):
            self.add_block()

    # --- the RPC methods ---------------------------------------------------------------------

    def call(self, method: str, **params: Any) -> Any:
        if self.down:
            raise NodeUnavailable(f"cannot reach the node at {self.url}: connection refused")
        return getattr(self, f"_{method}")(**params)

    def _status(self) -> dict[str, Any]:
        top = self.blocks[-1]
        return {"node_info": {"network": CHAIN_ID, "moniker": "fake", "id": "ab" * 20},
                "sync_info": {"latest_block_height": str(top["height"]), "latest_block_time": top["time"],
                              "latest_app_hash": "AB" * 32, "catching_up": False},
                "validator_info": {"address": "CD" * 20, "voting_power": "1"}}

    def _get(self, height: Any) -> dict[str, Any]:
        h = int(height)
        if not 1 <= h <= len(self.blocks):
            raise RPCError(f"Internal error: height {h} must be less than or equal to the current blockchain "
                           f"height {len(self.blocks)}")
        return self.blocks[h - 1]

    def _header(self, b: dict[str, Any]) -> dict[str, Any]:
        return {"chain_id": CHAIN_ID, "height": str(b["height"]), "time": b["time"], "app_hash": "AB" * 32,
                "proposer_address": "CD" * 20}

    def _blockchain(self, minHeight: str, maxHeight: str) -> dict[str, Any]:
        metas = [{"block_id": {"hash": f"{b['height']:064X}"}, "num_txs": str(len(b["txs"])),
                  "header": self._header(b)} for b in self.blocks[int(minHeight) - 1:int(maxHeight)]]
        return {"last_height": str(len(self.blocks)), "block_metas": metas[::-1]}

    def _block(self, height: str | None = None) -> dict[str, Any]:
        b = self._get(height or len(self.blocks))
        return {"block_id": {"hash": f"{b['height']:064X}"},
                "block": {"header": self._header(b),
                          "data": {"txs": [base64.b64encode(raw).decode() for raw, *_ in b["txs"]]}}}

    def _block_results(self, height: str) -> dict[str, Any]:
        b = self._get(height)
        return {"height": str(b["height"]), "finalize_block_events": _raw_events(b["events"]),
                "txs_results": [{"code": code, "log": log, "events": _raw_events(events)}
                                for _, code, log, events in b["txs"]] or None}

    def _items(self) -> list[dict[str, Any]]:
        return [{"hash": txlib.tx_hash(raw), "height": str(b["height"]), "index": i,
                 "tx": base64.b64encode(raw).decode(), "tx_result": {"code": code, "log": log,
                                                                     "events": _raw_events(events)},
                 "_events": events}
                for b in self.blocks for i, (raw, code, log, events) in enumerate(b["txs"])]

    @staticmethod
    def _matches(events: list[dict], query: str) -> bool:
        terms = [TERM.match(part) for part in query.split(" AND ")]
        if not all(terms):
            raise RPCError(f"Internal error: failed to parse query {query!r}")
        return all(any(e["type"] == t[1] and e["attributes"].get(t[2]) == t[3] for e in events) for t in terms)

    def _tx_search(self, query: str, page: str, per_page: str, order_by: str = "asc") -> dict[str, Any]:
        found = [i for i in self._items() if self._matches(i["_events"], query)]
        found = found[::-1] if order_by == "desc" else found
        start = (int(page) - 1) * int(per_page)
        items = [{k: v for k, v in i.items() if k != "_events"} for i in found[start:start + int(per_page)]]
        return {"txs": items, "total_count": str(len(found))}

    def _tx(self, hash: str) -> dict[str, Any]:
        wanted = base64.b64decode(hash).hex().upper()
        for item in self._items():
            if item["hash"] == wanted:
                return {k: v for k, v in item.items() if k != "_events"}
        raise RPCError(f"Internal error: tx ({wanted}) not found, err: %!w(<nil>)")

    def _block_search(self, query: str, per_page: str = "30", **_: Any) -> dict[str, Any]:
        blocks = [{"block": {"header": self._header(b)}} for b in self.blocks if self._matches(b["events"], query)]
        return {"blocks": blocks, "total_count": str(len(blocks))}

    def _abci_query(self, path: str, data: str = "") -> dict[str, Any]:
        if path not in self.answers:
            return {"response": {"code": int(Code.NOT_FOUND), "log": f"{path} not found"}}
        value = base64.b64encode(json.dumps(self.answers[path]).encode()).decode()
        return {"response": {"code": 0, "value": value}}


def addr(name: str) -> str:
    return KEYS[name].address


def msg_event(name: str, action: str) -> dict[str, Any]:
    return {"type": "message", "attributes": {"sender": addr(name), "action": action}}


def job_event(job_id: str, status: str, miner: str = "") -> dict[str, Any]:
    return {"type": "job", "attributes": {"id": job_id, "client": addr("alice"), "miner": miner, "status": status,
                                          "model": "aitbc-tiny"}}


# What the node answers for the genesis coordinator (abci_app/query.py): no record, no url, no bond.
GENESIS_COORDINATOR = {"address": KEYS["coordinator"].address, "url": "", "bond": 0, "registered_height": 0,
                       "open_jobs": 0, "genesis": True}


def scenario() -> tuple[FakeNode, dict[str, str]]:
    """A miner registers, alice's job runs to a receipt, bob pays alice (with a hostile memo),
    bob's job expires, and one tx is rejected. Returns the node and the ids."""
    node, signer = FakeNode(), Signer()
    node.empty_blocks(2)
    miner = addr("miner1")
    register = signer.tx("miner1", "register_miner", **register_fields())
    node.add_block([(register, 0, "", [msg_event("miner1", "register_miner"),
                                       {"type": "miner", "attributes": {"address": miner, "action": "register"}}])])
    job_id = signer.next_job_id("alice")
    submit = signer.tx("alice", "submit_job", **submit_fields())
    node.add_block([(submit, 0, "", [msg_event("alice", "submit_job"), job_event(job_id, "pending")])])
    assign = signer.tx("coordinator", "assign_job", job_id=job_id, miner=miner)
    node.add_block([(assign, 0, "", [msg_event("coordinator", "assign_job"), job_event(job_id, "assigned", miner)])])
    receipt_id = txlib.receipt_id_for(job_id)
    record = signer.tx("coordinator", "record_receipt", **receipt_fields(job_id))
    receipt_height = node.add_block([(record, 0, "", [
        msg_event("coordinator", "record_receipt"), job_event(job_id, "completed", miner),
        {"type": "receipt", "attributes": {"id": receipt_id, "job_id": job_id, "miner": miner,
                                           "client": addr("alice"), "amount_paid": "250000"}}])])
    transfer = signer.tx("bob", "transfer", to=addr("alice"), amount=5_000_000, memo="<script>alert(1)</script>")
    broke = signer.tx("bob", "transfer", to=addr("alice"), amount=10**15)
    node.add_block([(transfer, 0, "", [msg_event("bob", "transfer"), {"type": "transfer", "attributes": {
        "recipient": addr("alice"), "amount": "5000000"}}]),
        (broke, 8, "insufficient funds: need 1000000000000000, have 995000000", [])])
    expired_id = signer.next_job_id("bob")
    submit_bob = signer.tx("bob", "submit_job", **submit_fields())
    node.add_block([(submit_bob, 0, "", [msg_event("bob", "submit_job"), job_event(expired_id, "pending")])])
    node.add_block(events=[{"type": "job", "attributes": {"id": expired_id, "client": addr("bob"), "miner": "",
                                                          "status": "expired", "model": "aitbc-tiny"}}])
    node.empty_blocks(2)
    job = {"id": job_id, "client": addr("alice"), "miner": miner, "model": "aitbc-tiny", "status": "completed",
           "max_reward": 1_000_000, "payment": 250_000, "refund": 750_000, "receipt_id": receipt_id,
           "submitted_height": 4, "finished_height": receipt_height, "deadline_ns": GENESIS_NS}
    receipt = {"id": receipt_id, "job_id": job_id, "client": addr("alice"), "miner": miner, "amount_paid": 250_000,
               "refund": 750_000, "block_height": receipt_height, "compute_time_ms": 12_500, "proof": "00",
               "miner_signature": "00"}
    miner_record = {"address": miner, "public_key": KEYS["miner1"].public_key.hex(), "stake": 100_000_000,
                    "models": ["aitbc-tiny"], "price_per_second": 20_000, "capacity": 2, "endpoint": "",
                    "active_jobs": 0, "completed": 1, "failed": 0, "registered_height": 3}
    node.answers.update({
        f"/job/{job_id}": job, f"/receipt/{receipt_id}": receipt, f"/receipt/{job_id}": receipt,
        f"/job/{expired_id}": {**job, "id": expired_id, "client": addr("bob"), "status": "expired", "miner": "",
                               "receipt_id": "", "payment": 0, "refund": 1_000_000},
        f"/account/{addr('alice')}": {"address": addr("alice"), "exists": True, "balance": 1_004_250_000, "nonce": 1},
        f"/account/{miner}": {"address": miner, "exists": True, "balance": 900_250_000, "nonce": 1},
        f"/miner/{miner}": miner_record, "/miners": [miner_record],
        "/params": {"chain_id": CHAIN_ID, "coordinator": addr("coordinator"), "min_coordinator_bond": 100_000_000},
        "/coordinators": [GENESIS_COORDINATOR], f"/coordinator/{addr('coordinator')}": GENESIS_COORDINATOR,
    })
    ids = {"job": job_id, "expired": expired_id, "receipt": receipt_id, "record_tx": txlib.tx_hash(record),
           "transfer_tx": txlib.tx_hash(transfer), "broke_tx": txlib.tx_hash(broke), "miner": miner,
           "receipt_height": str(receipt_height)}
    return node, ids


def test_fake_node_speaks_cometbft_shapes():
    node, ids = scenario()
    assert node.status()["sync_info"]["latest_block_height"] == str(len(node.blocks))
    assert node.tx_search(f"job.id='{ids['job']}'")["total_count"] == "3"
    assert node.tx(ids["record_tx"])["height"] == ids["receipt_height"]
