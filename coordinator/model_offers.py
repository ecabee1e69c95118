"""Which models the staked miners offer: read from the chain, kept for a moment.

Job submission refuses a model nobody offers. Reading every miner from the
chain for each submitted job would be wasteful, so the answer is kept for
TTL_S, and read again at once when the wanted model is missing from it (so
that a miner that just registered counts).
"""

from __future__ import annotations

import asyncio
import time

from aitbc.coordinator.chain import Chain

TTL_S = 2.0


class ModelOffers:
    """The models offered by miners with stake, as the chain lists them."""

    def __init__(self, chain: Chain):
        self._chain = chain
        self._cached: tuple[float, set[str]] | None = None  # (monotonic read time, models)
        self._reading: asyncio.Task[set[str]] | None = None

    async def including(self, wanted: str) -> set[str]:
        """The offered models; read from the chain again when `wanted` is not among
        them or the last read is older than TTL_S. Callers that find the answer stale
        at the same time share one read (under intake load, dozens at once)."""
        now = time.monotonic()
        cached = self._cached
        if cached is None or wanted not in cached[1] or now - cached[0] > TTL_S:
            if self._reading is None or self._reading.done():
                self._reading = asyncio.ensure_future(self._read(now))
            return await asyncio.shield(self._reading)
        return cached[1]

    async def _read(self, now: float) -> set[str]:
        models = {m for miner in await self._chain.miners() if int(miner["stake"]) > 0 for m in miner["models"]}
        self._cached = (now, models)
        return models
