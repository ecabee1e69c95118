"""Waiting for a condition that other processes bring about."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from aitbc.rpc import ChainRPC, RPCError

T = TypeVar("T")


def wait_for(check: Callable[[], T], timeout: float = 30, what: str = "condition", interval: float = 0.2) -> T:
    """Poll `check` until it returns something truthy; return that. Raises TimeoutError."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached in {timeout} s")


def indexed_tx(rpc: ChainRPC, tx_hash: str, timeout: float = 30) -> dict[str, Any]:
    """The node's `tx` answer for a committed tx, once its indexer has caught up: CometBFT
    indexes a block after the commit that broadcast_tx_commit and state queries already see."""
    def lookup() -> dict[str, Any] | None:
        try:
            return rpc.tx(tx_hash)
        except RPCError:
            return None
    return wait_for(lookup, timeout, f"tx {tx_hash} in the node's index", interval=0.1)
