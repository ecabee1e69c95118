"""Which txs of the last few committed blocks failed, for the `/tx_results/<height>` query.

A coordinator follows the txs it broadcast block by block. CometBFT's `block_results`
answers that too, but with every tx's events (about 1 KB of JSON per tx), and rendering
them cost the node more CPU per job than the job's CheckTx at intake rates
(docs/benchmarks.md, Coordinator intake). A follower that already has the block's txs
needs only their number and the failures, by index in the block.

This is not state: no tx reads it, it is not in the app hash, and a restarted app starts
with none of it (a follower then reads `block_results`). It holds the last KEEP heights,
each as big as its failures, which a block's size bounds.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

KEEP = 64


@dataclass(frozen=True)
class BlockOutcome:
    height: int
    txs: int                                   # txs in the block
    failed: tuple[tuple[int, int, str], ...]   # (index in the block, code, log), by index

    def as_json(self) -> dict:
        return {"height": self.height, "txs": self.txs, "failed": [list(f) for f in self.failed]}


class RecentResults:
    """The outcomes of the last `keep` committed heights."""

    def __init__(self, keep: int = KEEP):
        self.keep = keep
        self._blocks: OrderedDict[int, BlockOutcome] = OrderedDict()

    def record(self, height: int, txs: int, failed: list[tuple[int, int, str]]) -> None:
        self._blocks[height] = BlockOutcome(height, txs, tuple(failed))
        while len(self._blocks) > self.keep:
            self._blocks.popitem(last=False)

    def get(self, height: int) -> BlockOutcome | None:
        return self._blocks.get(height)
