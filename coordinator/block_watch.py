"""New blocks, pushed by the node (its `/websocket`): the scheduler ticks as soon as a block
is committed instead of at the end of its rest, so a receipt's block reaches the job's
client (its long poll, its event stream) within milliseconds rather than up to a tick later.

Only a nudge: the scheduler's timer still ticks every `tick_s`, so a node whose websocket
cannot be reached (a proxy that does not pass it) costs latency, not correctness.
"""

from __future__ import annotations

import logging

from aitbc.chain_events import ChainEvents, SubscriptionRefused
from aitbc.coordinator.core import Coordinator

log = logging.getLogger("coordinator.blocks")

# Headers only: `NewBlock` would send every block with its txs.
QUERY = "tm.event='NewBlockHeader'"


async def run(coord: Coordinator) -> None:
    """Set `coord.new_block` for each block the node commits (and on each (re)connection,
    for the blocks missed meanwhile). Ends only if the node refuses the subscription."""
    try:
        async for _item in ChainEvents(coord.settings.node, {"blocks": QUERY}):
            coord.new_block.set()
    except SubscriptionRefused as exc:
        log.warning("no block notifications; the scheduler ticks on its timer only",
                    extra={"event": "block_watch_refused", "detail": str(exc)})
