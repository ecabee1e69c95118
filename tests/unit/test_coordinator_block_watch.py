"""New blocks nudge the coordinator's scheduler (coordinator/block_watch.py, scheduler._rest),
against a stub websocket node; tests/integration/test_coordinator_flow.py runs it against a
real cometbft with the scheduler's timer at 30 s."""

from __future__ import annotations

import asyncio
import json
import time
from types import SimpleNamespace

from aitbc.coordinator import block_watch, scheduler
from tests.unit.test_chain_events import StubNode


def header_event(ident: int, height: int) -> dict:
    return {"jsonrpc": "2.0", "id": ident, "result": {
        "query": block_watch.QUERY, "data": {"type": "tendermint/event/NewBlockHeader",
                                             "value": {"header": {"height": str(height)}}},
        "events": {"tm.event": ["NewBlockHeader"]}}}


def resting_coordinator(tick_s: float, node: str = "") -> SimpleNamespace:
    return SimpleNamespace(settings=SimpleNamespace(tick_s=tick_s, node=node), info=None,
                           jobs_waiting=asyncio.Event(), new_block=asyncio.Event())


def test_a_block_ends_the_schedulers_rest_at_once():
    async def go():
        coord = resting_coordinator(tick_s=5)
        asyncio.get_running_loop().call_later(0.1, coord.new_block.set)
        start = time.monotonic()
        await scheduler._rest(coord)
        return time.monotonic() - start, coord.new_block.is_set()

    took, still_set = asyncio.run(go())
    assert took < 2, took  # not the 5 s tick
    assert still_set  # the tick clears it before it reads the head


def test_without_a_block_the_rest_lasts_the_tick():
    async def go():
        coord = resting_coordinator(tick_s=0.3)
        start = time.monotonic()
        await scheduler._rest(coord)
        return time.monotonic() - start

    assert 0.25 < asyncio.run(go()) < 3


def test_each_block_header_the_node_pushes_sets_new_block():
    async def script(number, ws, ids):
        for height in (5, 6):
            await asyncio.sleep(0.2)
            await ws.send(json.dumps(header_event(ids[0], height)))
        await ws.wait_closed()

    async def go():
        async with StubNode(script) as node:
            node.expected = 1
            coord = resting_coordinator(tick_s=5, node=node.url)
            watch = asyncio.create_task(block_watch.run(coord))
            seen = 0
            try:
                async with asyncio.timeout(10):
                    while seen < 3:  # the connection, then two blocks
                        await coord.new_block.wait()
                        coord.new_block.clear()
                        seen += 1
            finally:
                watch.cancel()
            return seen, node.queries

    seen, queries = asyncio.run(go())
    assert seen == 3 and queries == [[block_watch.QUERY]]
