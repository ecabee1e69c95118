"""What the gateway reads from the chain itself rather than trusting a service:
the receipt a job was paid by (to check the answer against it) and miners' prices."""

from __future__ import annotations

import time
from typing import Any

from aitbc import jobspec
from aitbc.rpc import ChainError, ChainRPC, NodeUnavailable, QueryFailed
from aitbc.gateway.errors import Unavailable, UpstreamError

RECEIPT_WAIT_S = 5.0   # a receipt the coordinator saw may reach this node a block later


class ChainView:
    def __init__(self, node: str, timeout: float = 10.0):
        self.node = node
        self._rpc = ChainRPC(node, timeout=timeout)

    def close(self) -> None:
        self._rpc.close()

    def _query(self, path: str) -> Any:
        try:
            return self._rpc.query(path)
        except NodeUnavailable as err:
            raise Unavailable(f"cannot reach the chain node at {self.node} (set --node or AITBC_NODE): {err}",
                              code="chain_unavailable") from None
        except QueryFailed:
            raise
        except ChainError as err:
            raise Unavailable(f"the chain node at {self.node} failed: {err}", code="chain_unavailable") from None

    def receipt(self, job_id: str) -> dict[str, Any]:
        """The committed receipt of `job_id`. Raises UpstreamError when there is none."""
        deadline = time.monotonic() + RECEIPT_WAIT_S
        while True:
            try:
                return self._query(f"/receipt/{job_id}")
            except QueryFailed as err:
                if time.monotonic() >= deadline:
                    raise UpstreamError(f"job {job_id} has no receipt on chain: {err.log}", code="no_receipt",
                                        job_id=job_id) from None
            time.sleep(0.25)

    def miner_prices(self) -> dict[str, int]:
        """address -> price per compute second (uaitbc), for every miner on chain."""
        return {m["address"]: int(m["price_per_second"]) for m in self._query("/miners")}


def check_receipt(receipt: dict[str, Any], job_id: str, prompt: str, text: str) -> None:
    """The receipt pays for exactly this prompt and this text. Raises UpstreamError otherwise."""
    if receipt.get("prompt_hash") and receipt["prompt_hash"] != jobspec.prompt_hash(prompt).hex():
        raise UpstreamError(f"the receipt of job {job_id} is for another prompt", code="prompt_mismatch",
                            job_id=job_id)
    if receipt["result_hash"] != jobspec.result_hash(text).hex():
        raise UpstreamError(f"the answer to job {job_id} does not hash to its receipt's result_hash "
                            f"{receipt['result_hash']}", code="result_mismatch", job_id=job_id)
