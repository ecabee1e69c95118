"""aitbc.chain_events against a stub websocket server that speaks CometBFT's subscribe protocol.

Only a unit test: tests/integration/test_direct_jobs.py runs the client (in the miner)
against a real cometbft node.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import socket
import time

import pytest
import websockets

from aitbc.chain_events import (
    NEW_BLOCK_HEADERS, BlockSignal, ChainEvent, ChainEvents, Connected, SubscriptionRefused, parse_event, websocket_url,
)


def tx_event(ident: int, job_id: str, miner: str) -> dict:
    events = [{"type": "job", "attributes": [{"key": "id", "value": job_id}, {"key": "miner", "value": miner},
                                             {"key": "status", "value": "assigned"}]}]
    return {"jsonrpc": "2.0", "id": ident, "result": {
        "query": "q", "data": {"type": "tendermint/event/Tx", "value": {"TxResult": {
            "height": "7", "tx": base64.b64encode(b"raw tx").decode(), "result": {"code": 0, "events": events}}}},
        "events": {"tx.hash": ["ABCD"], "job.miner": [miner], "tm.event": ["Tx"]}}}


def block_event(ident: int, job_id: str) -> dict:
    events = [{"type": "job", "attributes": [{"key": "id", "value": job_id}, {"key": "status", "value": "expired"}]}]
    return {"jsonrpc": "2.0", "id": ident, "result": {
        "query": "q", "data": {"type": "tendermint/event/NewBlockEvents",
                               "value": {"height": "9", "events": events, "num_txs": "0"}},
        "events": {"tm.event": ["NewBlockEvents"]}}}


class StubNode:
    """Answers `subscribe`s, then runs `script(connection number, ws, ids)`; counts connections and queries."""

    def __init__(self, script):
        self.script = script
        self.connections = 0
        self.queries: list[list[str]] = []
        self.server = None

    async def handler(self, ws) -> None:
        self.connections += 1
        number, queries, ids = self.connections, [], []
        self.queries.append(queries)
        expected = self.expected
        while len(queries) < expected:
            request = json.loads(await ws.recv())
            assert request["method"] == "subscribe"
            queries.append(request["params"]["query"])
            ids.append(request["id"])
            if "refuse" in request["params"]["query"]:
                await ws.send(json.dumps({"jsonrpc": "2.0", "id": request["id"], "error": {
                    "code": -32603, "message": "Internal error", "data": "max_subscriptions_per_client 5 reached"}}))
            else:
                await ws.send(json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": {}}))
        await self.script(number, ws, ids)

    async def __aenter__(self) -> "StubNode":
        self.server = await websockets.serve(self.handler, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()
        await self.server.wait_closed()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"


async def collect(events: ChainEvents, count: int, timeout: float = 10) -> list:
    items = []
    async with asyncio.timeout(timeout):
        async for item in events:
            items.append(item)
            if len(items) == count:
                break
    return items


def test_events_then_a_reconnect_that_says_so() -> None:
    async def script(number, ws, ids):
        if number == 1:
            await ws.send(json.dumps(tx_event(ids[0], "job_1", "aitbcM")))
            await ws.send(json.dumps(block_event(ids[1], "job_2")))
            await ws.close()  # the node restarts
        else:
            await ws.send(json.dumps(tx_event(ids[0], "job_3", "aitbcM")))
            await ws.wait_closed()

    async def go():
        async with StubNode(script) as node:
            node.expected = 2
            events = ChainEvents(node.url, {"jobs": "tm.event='Tx' AND job.miner='aitbcM'",
                                            "blocks": "tm.event='NewBlockEvents' AND job.miner='aitbcM'"},
                                 backoff_s=0.01, max_backoff_s=0.05)
            return await collect(events, 5), node

    items, node = asyncio.run(go())
    assert [type(i).__name__ for i in items] == ["Connected", "ChainEvent", "ChainEvent", "Connected", "ChainEvent"]
    assert items[0] == Connected(1) and not items[0].reconnected and items[3].reconnected
    first, block, again = items[1], items[2], items[4]
    assert (first.subscription, first.kind, first.height, first.tx_hash, first.tx) == ("jobs", "Tx", 7, "ABCD",
                                                                                       b"raw tx")
    assert first.events_of("job") == [{"id": "job_1", "miner": "aitbcM", "status": "assigned"}]
    assert (block.subscription, block.kind, block.height) == ("blocks", "NewBlockEvents", 9)
    assert block.events_of("job")[0]["id"] == "job_2" and again.events_of("job")[0]["id"] == "job_3"
    assert node.connections == 2 and node.queries[0] == node.queries[1]  # every query subscribed again


def test_a_refused_query_is_not_retried() -> None:
    async def script(number, ws, ids):
        await ws.wait_closed()

    async def go():
        async with StubNode(script) as node:
            node.expected = 1
            with pytest.raises(SubscriptionRefused, match="max_subscriptions_per_client"):
                await collect(ChainEvents(node.url, {"x": "refuse me"}, backoff_s=0.01), 1)
            return node.connections

    assert asyncio.run(go()) == 1


def test_a_node_that_is_down_is_retried_until_it_answers() -> None:
    async def script(number, ws, ids):
        await ws.send(json.dumps(tx_event(ids[0], "job_1", "aitbcM")))
        await ws.wait_closed()

    async def go():
        async with StubNode(script) as node:
            node.expected = 1
            url = node.url
        # the port is free again: nobody answers for a while, then the node comes back on it
        events = ChainEvents(url, {"jobs": "q"}, backoff_s=0.02, max_backoff_s=0.05)
        task = asyncio.create_task(collect(events, 2))
        await asyncio.sleep(0.3)
        assert not task.done() and not events.up
        port = int(url.rsplit(":", 1)[1])
        server = await websockets.serve(node.handler, "127.0.0.1", port)
        try:
            return await task
        finally:
            server.close()
            await server.wait_closed()

    items = asyncio.run(go())
    assert items[0] == Connected(1) and items[1].events_of("job")[0]["id"] == "job_1"


def test_more_subscriptions_than_a_node_allows_are_refused_up_front() -> None:
    with pytest.raises(ValueError, match="at most 5"):
        ChainEvents("http://node:26657", {str(i): "q" for i in range(6)})


def test_urls_and_new_block_shape() -> None:
    assert websocket_url("http://127.0.0.1:26657") == "ws://127.0.0.1:26657/websocket"
    assert websocket_url("https://node.example/") == "wss://node.example/websocket"
    assert websocket_url("ws://n:1/websocket") == "ws://n:1/websocket"
    event = parse_event("b", {"data": {"type": "tendermint/event/NewBlock", "value": {
        "block": {"header": {"height": "12"}},
        "result_finalize_block": {"events": [{"type": "check", "attributes": [{"key": "checker", "value": "X"}]}]}}}})
    assert isinstance(event, ChainEvent) and (event.kind, event.height) == ("NewBlock", 12)
    assert event.events_of("check") == [{"checker": "X"}]


def header(ident: int, height: int) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": ident, "result": {
        "query": NEW_BLOCK_HEADERS, "data": {"type": "tendermint/event/NewBlockHeader",
                                            "value": {"header": {"height": str(height)}}},
        "events": {"tm.event": ["NewBlockHeader"]}}})


def test_block_signal_wakes_its_caller_at_each_block() -> None:
    """The CLI's wait for a direct job (cli/direct_jobs.follow) reads the chain after each block."""
    async def script(number, ws, ids):
        for height in (5, 6):
            await asyncio.sleep(0.3)
            await ws.send(header(ids[0], height))
        await ws.wait_closed()

    async def go():
        async with StubNode(script) as node:
            node.expected = 1
            with BlockSignal(node.url) as blocks:
                # The subscription, then each block: every wait ends long before the 5 s heartbeat.
                woken = [await asyncio.to_thread(blocks.wait, 30) for _ in range(3)]
                return woken, blocks.up, node.queries

    woken, up, queries = asyncio.run(go())
    assert woken == [True, True, True] and up and queries == [[NEW_BLOCK_HEADERS]]


def test_block_signal_without_a_websocket_polls_quietly(caplog) -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    caplog.set_level(logging.DEBUG, logger="aitbc.chain_events")
    with BlockSignal(url) as blocks:
        start = time.monotonic()
        assert blocks.wait(0.3) is False and not blocks.up
        assert blocks.wait(10, at_most=0.2) is False
        took = time.monotonic() - start
    assert 0.4 <= took < 5, took
    # a CLI's stderr is its user's: a node without a websocket is not worth a warning
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert any("reconnecting" in r.getMessage() for r in caplog.records)


def test_block_signal_refused_by_the_node_polls_and_leaves_cleanly(monkeypatch) -> None:
    """A node at its limit of subscribers refuses the query: the thread ends, the caller polls,
    and leaving does not fail on the thread's closed loop."""
    import aitbc.chain_events as chain_events
    monkeypatch.setattr(chain_events, "NEW_BLOCK_HEADERS", "tm.event='NewBlockHeader' AND refuse='yes'")

    async def script(number, ws, ids):
        await ws.wait_closed()

    async def go():
        async with StubNode(script) as node:
            node.expected = 1
            blocks = BlockSignal(node.url)
            with blocks:
                await asyncio.to_thread(blocks._thread.join, 5)  # refused: the thread ends
                assert not blocks._thread.is_alive() and not blocks.up
                start = time.monotonic()
                woken = await asyncio.to_thread(blocks.wait, 0.2)
                took = time.monotonic() - start
            return woken, took

    woken, took = asyncio.run(go())
    assert woken is False and 0.15 <= took < 3, took
