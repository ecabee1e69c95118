"""The miner's own transactions (direct jobs: record_receipt, decline_job, fail_job, record_check).

One at a time: each takes the next nonce from `/nonce/<addr>`, which counts the
txs already in the mempool, and waits for CheckTx before the next is built, so
two of the miner's txs never claim one nonce. A nonce race with someone else
using the same key (a CLI command, a second process) is retried with the
project's one retry policy (aitbc/api/retry.py), as is a node that does not answer.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any, Protocol

from aitbc import tx as txlib
from aitbc.api.retry import async_retrying
from aitbc.codes import Code
from aitbc.crypto import PrivateKey
from aitbc.rpc import BroadcastResult, ChainError, NodeUnavailable, RPCError, tx_in_block

log = logging.getLogger("miner.txs")
NONCE_RACE = {Code.NONCE_TOO_LOW, Code.NONCE_TOO_HIGH}


class TxChain(Protocol):
    async def query(self, path: str) -> Any: ...
    async def broadcast(self, tx: bytes, mode: str = "sync") -> BroadcastResult: ...


class OwnTxs:
    """Signs and broadcasts the miner's txs in order; `send` answers the node's CheckTx result."""

    def __init__(self, key: PrivateKey, chain: TxChain, chain_id: str, min_fee: int = txlib.DEFAULT_MIN_FEE,
                 fee_per_byte: int = txlib.DEFAULT_FEE_PER_BYTE, backoff_s: float = 0.25):
        self.key, self.chain, self.chain_id = key, chain, chain_id
        self.min_fee, self.fee_per_byte, self.backoff_s = min_fee, fee_per_byte, backoff_s
        self._lock = asyncio.Lock()

    async def send(self, kind: str, ref: str = "", **fields: Any) -> BroadcastResult:
        """Broadcast (sync) a tx of `kind` with `fields` (`ref`: the job it is about, for the log); a
        refusal comes back as a result that is not `ok`. Raises ChainError when the node cannot be
        reached after the retries."""
        async with self._lock:
            result = await async_retrying(on=NodeUnavailable, on_result=lambda r: r.code in NONCE_RACE,
                                          backoff_s=self.backoff_s)(self._send_once, kind, fields)
        extra = {"job_id": ref, "tx": kind, "tx_hash": result.hash, "code": result.code}
        if result.ok:
            log.info("tx sent", extra=extra)
        else:
            log.warning("tx refused", extra={**extra, "code_name": result.code_name, "detail": result.log})
        return result

    async def _send_once(self, kind: str, fields: dict[str, Any]) -> BroadcastResult:
        account = await self.chain.query(f"/nonce/{self.key.address}")
        raw = txlib.build(self.key, self.chain_id, int(account["nonce"]), kind, min_fee=self.min_fee,
                          fee_per_byte=self.fee_per_byte, **fields)
        try:
            return await self.chain.broadcast(raw, "sync")
        except RPCError as exc:
            if "already exists in cache" in str(exc):  # an earlier try got there after all
                return BroadcastResult(txlib.tx_hash(raw), 0, "already in the mempool")
            raise


async def fetch_tx(chain: Any, tx_hash: str, height: int = 0) -> txlib.SignedTx:
    """A committed tx by hash, decoded and its signature checked: from the node's tx index (RPC `/tx`)
    or, when the index does not have it (it lags the block's events by a moment, and a node may run
    without one), from the block at `height`. Raises ChainError (not found, node down), TxError."""
    try:
        result = await chain.call("tx", hash=base64.b64encode(bytes.fromhex(tx_hash)).decode())
        return txlib.decode(base64.b64decode(result["tx"]))
    except ChainError:
        if not height:
            raise
    block = await chain.call("block", height=str(height))
    return txlib.decode(tx_in_block(block, tx_hash, height))
