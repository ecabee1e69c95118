"""How the coordinator learns its txs' outcomes block by block, against a real node: the
app's /tx_results/<height> when the app still keeps that height, CometBFT's block_results
when it does not (a restarted app keeps none from before its start). Both must say the same."""

from __future__ import annotations

import asyncio
import base64

import pytest

from aitbc.coordinator.chain import Chain, TxOutcome
from aitbc.ops import procs
from aitbc.ops.harness import indexed_tx
from aitbc.ops.factories import KEYS, Signer
from aitbc.rpc import AsyncChainRPC, ChainRPC, QueryFailed
from aitbc import tx as txlib
from tests.integration.chain_fixtures import start_chain

pytestmark = pytest.mark.integration


class RecordingRPC(AsyncChainRPC):
    """The real client, noting which methods it asked the node for."""

    def __init__(self, url: str, asked: list[str]):
        super().__init__(url)
        self.asked = asked

    async def call(self, method, **params):
        self.asked.append(method)
        return await super().call(method, **params)

    async def call_batch(self, calls):
        self.asked.extend(method for method, _ in calls)
        return await super().call_batch(calls)


def outcomes(url: str, height: int, asked: list[str] | None = None) -> dict[str, TxOutcome] | None:
    async def read():
        chain = Chain(RecordingRPC(url, asked if asked is not None else []))
        try:
            return await chain.block_outcomes(height)
        finally:
            await chain.aclose()
    return asyncio.run(read())


def from_block_results(rpc: ChainRPC, height: int) -> dict[str, TxOutcome]:
    raws = rpc.block(height)["block"]["data"]["txs"] or []
    results = rpc.block_results(height)["txs_results"] or []
    return {txlib.tx_hash(base64.b64decode(raw)): TxOutcome(height, int(r.get("code", 0)), r.get("log", ""))
            for raw, r in zip(raws, results, strict=True)}


def test_block_outcomes_from_the_app_and_after_its_restart_from_block_results(tmp_path):
    node = start_chain(tmp_path / "node")
    rpc = ChainRPC(node.rpc)
    signer = Signer(fee=None)
    try:
        sent = [signer.tx("alice", "transfer", to=KEYS["bob"].address, amount=1) for _ in range(5)]
        for raw in sent:
            assert rpc.broadcast(raw, "sync").ok
        heights = {rpc.broadcast(signer.tx("alice", "transfer", to=KEYS["bob"].address, amount=1), "commit").height}
        heights |= {indexed_tx(rpc, txlib.tx_hash(raw))["height"] for raw in sent}
        for height in sorted(int(h) for h in heights):
            kept = rpc.query(f"/tx_results/{height}")
            assert kept["height"] == height and kept["failed"] == []
            asked: list[str] = []
            found = outcomes(node.rpc, height, asked)
            assert found == from_block_results(rpc, height) and len(found) == kept["txs"] > 0
            assert asked == ["block", "abci_query"]
        every = {h: o for height in heights for h, o in outcomes(node.rpc, int(height)).items()}
        assert all(every[txlib.tx_hash(raw)].code == 0 for raw in sent)

        procs.kill9(node.app)
        procs.wait_until(lambda: node.cometbft.poll() is not None, 30, "cometbft stops when its app dies")
        node.stop()
        node.start()
        node.wait_for_height(max(int(h) for h in heights) + 1)
        for height in sorted(int(h) for h in heights):
            with pytest.raises(QueryFailed):
                rpc.query(f"/tx_results/{height}")  # not state: gone with the process
            asked = []
            assert outcomes(node.rpc, height, asked) == from_block_results(rpc, height)
            assert asked == ["block", "abci_query", "block_results"]
        # A height the node has not made yet: not an outcome of nothing.
        assert outcomes(node.rpc, node.height() + 50) is None
    finally:
        rpc.close()
        node.stop()
