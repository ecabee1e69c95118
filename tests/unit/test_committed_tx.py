"""A committed tx read by hash (`ChainRPC.committed_tx`): the node's tx index lags the block
(and the app state that already says "completed"), so a tx it does not have yet is read
from its block."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from aitbc import tx as txlib
from aitbc.rpc import ChainRPC, NodeUnavailable, RPCError, TxNotFound, tx_in_block

OURS, OTHER = b"the tx we want", b"another tx of the block"
HASH = txlib.tx_hash(OURS)


def _block(*txs: bytes) -> dict:
    return {"block": {"data": {"txs": [base64.b64encode(raw).decode() for raw in txs]}}}


def _node(indexed: bool, block_txs: tuple[bytes, ...] = (OURS, OTHER)) -> tuple[ChainRPC, list[str]]:
    """A ChainRPC talking to a scripted node; and the methods it was asked, in order."""
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        call = json.loads(request.content)
        asked.append(call["method"])
        if call["method"] == "tx":
            assert base64.b64decode(call["params"]["hash"]).hex().upper() == HASH
            if indexed:
                return httpx.Response(200, json={"jsonrpc": "2.0", "id": 1,
                                                 "result": {"tx": base64.b64encode(OURS).decode()}})
            return httpx.Response(200, json={"jsonrpc": "2.0", "id": 1, "error": {
                "code": -32603, "message": "Internal error", "data": f"tx ({HASH}) not found"}})
        assert call["method"] == "block" and call["params"] == {"height": "7"}
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": 1, "result": _block(*block_txs)})

    rpc = ChainRPC("http://node.test")
    rpc._http = httpx.Client(transport=httpx.MockTransport(answer))  # noqa: SLF001 - scripted node
    return rpc, asked


def test_an_indexed_tx_is_read_from_the_index():
    rpc, asked = _node(indexed=True)
    assert rpc.committed_tx(HASH.lower(), 7) == OURS and asked == ["tx"]


def test_a_tx_the_index_does_not_have_yet_is_read_from_its_block():
    rpc, asked = _node(indexed=False)
    assert rpc.committed_tx(HASH, 7) == OURS and asked == ["tx", "block"]


def test_without_a_height_the_index_answer_is_the_answer():
    rpc, asked = _node(indexed=False)
    with pytest.raises(RPCError, match="not found"):
        rpc.committed_tx(HASH)
    assert asked == ["tx"]


def test_a_tx_in_neither_is_not_found_with_a_message_that_says_where_it_looked():
    rpc, _ = _node(indexed=False, block_txs=(OTHER,))
    with pytest.raises(TxNotFound, match=f"{HASH} is neither in the node's tx index nor in block 7"):
        rpc.committed_tx(HASH, 7)


def test_a_node_that_does_not_answer_is_not_taken_for_a_missing_tx():
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    rpc = ChainRPC("http://node.test")
    rpc._http = httpx.Client(transport=httpx.MockTransport(down))  # noqa: SLF001
    with pytest.raises(NodeUnavailable):
        rpc.committed_tx(HASH, 7)


def test_tx_in_block_matches_by_hash_in_any_case():
    assert tx_in_block(_block(OTHER, OURS), HASH.lower(), 3) == OURS
    with pytest.raises(TxNotFound):
        tx_in_block({"block": {"data": {"txs": None}}}, HASH, 3)
