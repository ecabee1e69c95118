"""AsyncChainRPC's calls over its plain HTTP path: results, the node's errors, answers that are
not JSON-RPC, and a node that is not there, against a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

from aitbc.ops.harness import StubRequest, StubServer
from aitbc.rpc import AsyncChainRPC, BroadcastResult, NodeUnavailable, RPCError


def _answer(request: StubRequest) -> tuple[int, object]:
    call = json.loads(request.body)
    method = call["method"]
    if method == "status":
        return 200, {"jsonrpc": "2.0", "id": call["id"], "result": {"sync_info": {"latest_block_height": "7"}}}
    if method == "broadcast_tx_sync":
        return 200, {"jsonrpc": "2.0", "id": call["id"],
                     "result": {"code": 0, "hash": "AB" * 32, "log": "", "codespace": ""}}
    if method == "proxy":
        return 502, "Bad Gateway"  # not the node: a proxy's text page
    return 500, {"jsonrpc": "2.0", "id": call["id"], "error": {"code": -32601, "message": "Method not found",
                                                               "data": method}}


@pytest.fixture
def node():
    server = StubServer(_answer, keep_alive=True)
    yield server
    server.close()


def _run(url: str, work):
    async def main():
        rpc = AsyncChainRPC(url, timeout=5)
        try:
            return await work(rpc)
        finally:
            await rpc.aclose()
    return asyncio.run(main())


def test_a_call_returns_its_result_on_a_kept_connection(node):
    async def work(rpc):
        first = await rpc.status()
        second = await rpc.call("status")
        return first, second, len(rpc._plain._free)

    first, second, idle = _run(node.url, work)
    assert first == second == {"sync_info": {"latest_block_height": "7"}}
    assert idle == 1  # both calls went over one keep-alive connection


def test_the_nodes_error_is_an_rpc_error_with_its_words(node):
    with pytest.raises(RPCError, match="Method not found: no_such_method"):
        _run(node.url, lambda rpc: rpc.call("no_such_method"))


def test_an_answer_that_is_not_json_rpc_is_an_rpc_error(node):
    with pytest.raises(RPCError, match="not a JSON-RPC answer"):
        _run(node.url, lambda rpc: rpc.call("proxy"))


def test_a_lone_broadcast_gets_its_checktx_answer(node):
    [result] = _run(node.url, lambda rpc: rpc.broadcast_many([b"tx"]))
    assert isinstance(result, BroadcastResult) and result.ok


def test_no_node_is_node_unavailable():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(NodeUnavailable, match="cannot reach the node"):
        _run(f"http://127.0.0.1:{port}", lambda rpc: rpc.status())
