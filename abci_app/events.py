"""Event types and attribute names, defined once.

Attributes marked indexed are what `tx_search` can find, e.g.
``job.id='job_...'`` or ``message.sender='aitbc...'``.

Each indexed attribute costs every node a write per tx, and every attribute costs CometBFT
work per tx (the block's results stored, its events published): on a chain of transfers that
is most of what CometBFT spends beside our app (docs/benchmarks.md, stand-in apps). So a
transfer says nothing twice and indexes only what a tx's body cannot answer:
- its sender is the tx's signer, `message.sender`, so the transfer event does not repeat it;
- `message.action` (the tx's kind) is given but not indexed: an address's txs are found by
  `message.sender`, and their kind read from each result (the explorer's history does that).
"""

from __future__ import annotations

from typing import NamedTuple

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


class Event(NamedTuple):
    """An event a tx or a block start emits. A tuple: cheaper to make than a frozen dataclass,
    and a transfer makes two in CheckTx."""

    type: str
    attributes: tuple[tuple[str, str], ...]

    def indexed(self, key: str) -> bool:
        return key in INDEXED.get(self.type, ())


def event(kind: str, **attributes: object) -> Event:
    return Event(kind, tuple([(k, str(v)) for k, v in attributes.items()]))


# The two events of a transfer, the kind of tx a busy chain checks most, made without
# event()'s keyword arguments: the same Event, in a third of the time.
def message(sender: str, action: str, fee: int) -> Event:
    """The event of every tx: its signer, its kind, the fee it paid."""
    return Event(MESSAGE, (("sender", sender), ("action", action), ("fee", str(fee))))


def transfer(recipient: str, amount: int) -> Event:
    """What a transfer moved, and to whom; its sender is `message.sender` of the same tx."""
    return Event(TRANSFER, (("recipient", recipient), ("amount", str(amount))))


def job_event(job, **extra: object) -> Event:
    """The event of a job's every change: who it involves, and where it stands.

    `coordinator` is the address that alone may assign it and record its receipt,
    empty for a direct job (a miner watching the chain follows `job.miner`).
    """
    return event(JOB, id=job.id, client=job.client, miner=job.miner, status=job.status, model=job.model,
                 coordinator=job.coordinator, **extra)
