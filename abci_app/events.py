"""The events the app gives: their types and which attributes are indexed come from
aitbc/event_index.py (the chain's contract with whoever searches it); here they are made."""

from __future__ import annotations

from typing import NamedTuple

from aitbc.event_index import (CHECK, COORDINATOR, ESCROW, INDEXED, JOB, MESSAGE, MINER, RECEIPT, SLASH,  # noqa: F401
                               TRANSFER)


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
