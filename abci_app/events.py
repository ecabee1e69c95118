"""Event types and attribute names, defined once.

Attributes marked indexed are what `tx_search` can find, e.g.
``job.id='job_...'`` or ``transfer.sender='aitbc...'``.
"""

from __future__ import annotations

from dataclasses import dataclass

TRANSFER = "transfer"
JOB = "job"
RECEIPT = "receipt"
MINER = "miner"
ESCROW = "escrow"
MESSAGE = "message"
CHECK = "check"
SLASH = "slash"

INDEXED = {
    TRANSFER: {"sender", "recipient"},
    JOB: {"id", "client", "miner", "status", "model"},
    RECEIPT: {"id", "job_id", "miner", "client"},
    MINER: {"address", "action"},
    ESCROW: {"job_id"},
    MESSAGE: {"sender", "action"},
    CHECK: {"job_id", "status", "miner", "checker"},
    SLASH: {"miner", "job_id"},
}


@dataclass(frozen=True)
class Event:
    type: str
    attributes: tuple[tuple[str, str], ...]

    def indexed(self, key: str) -> bool:
        return key in INDEXED.get(self.type, ())


def event(kind: str, **attributes: object) -> Event:
    return Event(kind, tuple((k, str(v)) for k, v in attributes.items()))
