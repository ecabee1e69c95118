"""The chain's event types, and which of their attributes it indexes: what `tx_search` can find,
e.g. ``job.id='job_...'`` or ``message.sender='aitbc...'``.

The app marks these attributes indexed (abci_app/events.py). The explorer and the CLI read the
same table to tell a user when a query names an attribute that is not indexed: CometBFT's kv
indexer matches a condition on it with nothing, and says nothing about why.

Each indexed attribute costs every node a write per tx, and every attribute costs CometBFT
work per tx (the block's results stored, its events published): on a chain of transfers that
is most of what CometBFT spends beside our app (docs/benchmarks.md, stand-in apps). So a
transfer says nothing twice and indexes only what a tx's body cannot answer:
- its sender is the tx's signer, `message.sender`, so the transfer event does not repeat it;
- `message.action` (the tx's kind) is given but not indexed: an address's txs are found by
  `message.sender`, and their kind read from each result (the explorer's history does that).
"""

from __future__ import annotations

import re

TRANSFER = "transfer"
JOB = "job"
RECEIPT = "receipt"
MINER = "miner"
ESCROW = "escrow"
MESSAGE = "message"
CHECK = "check"
SLASH = "slash"
COORDINATOR = "coordinator"

INDEXED = {
    TRANSFER: {"recipient"},
    JOB: {"id", "client", "miner", "status", "model", "coordinator"},
    RECEIPT: {"id", "job_id", "miner", "client"},
    MINER: {"address", "action"},
    ESCROW: {"job_id"},
    MESSAGE: {"sender"},
    CHECK: {"job_id", "status", "miner", "checker"},
    SLASH: {"miner", "job_id"},
    COORDINATOR: {"address", "action"},
}

# What CometBFT itself indexes every tx under.
NODE_KEYS = frozenset({"tm.event", "tx.hash", "tx.height"})

_QUOTED = re.compile(r"'[^']*'")
_CONDITION_KEY = re.compile(r"([A-Za-z_][\w-]*\.[\w.-]+)\s*(?:<=|>=|=|<|>|\bCONTAINS\b|\bEXISTS\b)", re.IGNORECASE)


def indexed_keys() -> list[str]:
    """Every `type.attribute` a query can find txs by, sorted."""
    return sorted(f"{kind}.{attribute}" for kind, attributes in INDEXED.items() for attribute in attributes)


def unindexed(query: str) -> list[str]:
    """The `type.attribute` keys of a tx_search query that the chain does not index, in the
    order they appear: a condition on one matches no tx this version of the app committed."""
    keys = _CONDITION_KEY.findall(_QUOTED.sub("''", query))
    found = []
    for key in keys:
        kind, _, attribute = key.partition(".")
        if key not in NODE_KEYS and attribute not in INDEXED.get(kind, ()) and key not in found:
            found.append(key)
    return found
