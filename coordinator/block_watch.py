"""New blocks, pushed by the node (its `/websocket`): the scheduler ticks as soon as a block
is committed (or right after the tick running then) instead of at the end of its rest, so a
receipt's block reaches the job's client (its long poll, its event stream) up to a tick sooner.

Only a nudge: the scheduler's timer still ticks every `tick_s`, so a node whose websocket
cannot be reached (a proxy that does not pass it) costs latency, not correctness.
"""

from __future__ import annotations

import asyncio
import logging

from aitbc.chain_events import NEW_BLOCK_HEADERS as QUERY, ChainEvents, SubscriptionRefused
from aitbc.coordinator.core import Coordinator

log = logging.getLogger("coordinator.blocks")

RETRY_S = 60.0


async def run(coord: Coordinator) -> None:
    """Set `coord.new_block` for each block the node commits (and on each (re)connection, for
    the blocks missed meanwhile). Never ends by itself: ChainEvents reconnects after a lost
    connection; a refused subscription (the node at its limit of subscribers) or an answer it
    cannot read is tried again after RETRY_S."""
    while True:
        try:
            async for _item in ChainEvents(coord.settings.node, {"blocks": QUERY}):
                coord.new_block.set()
        except asyncio.CancelledError:
            raise
        except SubscriptionRefused as exc:
            log.warning("no block notifications for now; the scheduler ticks on its timer",
                        extra={"event": "block_watch_refused", "detail": str(exc), "retry_in_s": RETRY_S})
        except Exception:  # noqa: BLE001 - only latency depends on it; the trace goes to the log
            log.exception("block notifications failed; the scheduler ticks on its timer",
                          extra={"event": "block_watch_error", "retry_in_s": RETRY_S})
        await asyncio.sleep(RETRY_S)
