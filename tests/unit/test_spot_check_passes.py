"""When the coordinator reads the chain's open spot checks: once per block the tracker saw,
and on every tick while the tracker read no head (nothing in flight)."""

from __future__ import annotations

import asyncio

from aitbc.coordinator import spot_checks
from aitbc.coordinator.core import Coordinator
from aitbc.coordinator.settings import CoordinatorSettings
from aitbc.ops.factories import CHAIN_ID, KEYS
from aitbc.rpc import QueryFailed


class CountingRPC:
    """The queries a coordinator needs to connect, and /checks/open counted."""

    height = 0  # of the committed state its answers stand for

    def __init__(self) -> None:
        self.check_reads = 0

    async def query_at(self, path: str):
        """The answer and the committed height it stands for (these fakes have one state)."""
        return await self.query(path), self.height

    async def query(self, path: str):
        if path == "/params":
            return {"chain_id": CHAIN_ID, "coordinator": KEYS["coordinator"].address, "price_per_second": 20_000}
        if path.startswith("/checks/open"):
            self.check_reads += 1
            return []
        if path.startswith("/nonce/"):
            return {"nonce": 0}
        raise QueryFailed(path, 1, "not in this fake")

    async def aclose(self) -> None:
        pass


def test_open_checks_are_read_once_per_head_the_tracker_saw(tmp_path):
    rpc = CountingRPC()

    async def main() -> list[int]:
        coord = Coordinator(CoordinatorSettings(data_dir=tmp_path), rpc=rpc, key=KEYS["coordinator"])
        try:
            await coord.connect()
            reads = []
            for head in (None, None, 5, 5, 5, 6, None, 6):
                coord.head_this_tick = head  # what tracker.track read this tick
                await spot_checks.run(coord)
                reads.append(rpc.check_reads)
            return reads
        finally:
            await coord.aclose()

    # No head: every tick reads. Head 5: once. Head 6: once. No head again: reads, and
    # after it head 6 is read once more (the pass without a head forgot which it saw).
    assert asyncio.run(main()) == [1, 2, 3, 3, 3, 4, 5, 6]
