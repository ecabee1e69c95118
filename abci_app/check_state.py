"""The check state: the committed state plus the txs CheckTx accepted since, so one
sender can have several txs with consecutive nonces in flight; and what a block
can take from it instead of running a tx a second and third time.

The log. Every tx CheckTx applies is kept in order (`applied`) with what it wrote
and the events it made. The invariant: the check state's view is always the
committed state plus the writes of `applied`, in order (plus, right after a block,
the writes of the txs still waiting for their RECHECK, see below), and each entry
was run on the view made of the entries before it.

FinalizeBlock (`reusable`). When the block's start (expiries, payouts) wrote
nothing, and the block's first txs are the log's first entries in the same order,
each of them reads in the block exactly the bytes it read here. For a kind whose
outcome depends on the state alone (`STATE_ONLY_KINDS`: a transfer never looks at
the block's height, time or hash), its writes and events in the block are then
the ones it made here, so the block takes them as they are. From the first tx
that is not such an entry on, every tx runs as usual. Another node, which never
saw these txs, runs them and gets the same writes: the app hash does not depend
on the path (tests/unit/test_check_state.py replays mixed blocks both ways).

RECHECK. After every block CometBFT sends a RECHECK of each tx still in its
mempool, in mempool order, and drops those the app now refuses: a tx whose nonce
a block tx used, or whose funds a block tx spent, must go, or it would be proposed
and fail in FinalizeBlock. The plain way (`_rebuild`) starts the check state afresh
on the new committed state and runs every rechecked tx on it again. When the block
was the log's first entries with the same writes and its start wrote nothing, the
new committed state is the old view of those entries, and each tx still waiting
reads what it read when it was checked: its RECHECK is answered without running
it, for the kinds above (a RECHECK runs at a new height and time). A RECHECK out
of the log's order, a tx of another kind, or a block made elsewhere falls back to
the plain way from that tx on, so every tx a block invalidated is still run and
refused. Txs the log holds but CometBFT did not keep (a full mempool drops a tx
after CheckTx accepted it) get no RECHECK: whatever the RECHECKs did not confirm
leaves the check state before the next new CheckTx or Commit (`_settle`).

Memory: the log holds the txs of the mempool (bounded by its size) and of the
block being made.
"""

from __future__ import annotations

from typing import NamedTuple

from aitbc.abci_app import transition
from aitbc.abci_app.events import Event
from aitbc.abci_app.state import State
from aitbc.abci_app.store import Overlay, Readable
from aitbc.tx import SignedTx

# Kinds whose outcome, writes and events depend only on the state they read.
STATE_ONLY_KINDS = frozenset({"transfer"})


class Applied(NamedTuple):
    """A tx applied to a state: its bytes, kind, writes (key -> value, None = deleted) and events."""

    raw: bytes
    kind: str
    writes: dict[bytes, bytes | None]
    events: list[Event]


class CheckState:
    """What CheckTx and RECHECK run against; `state` is the view queries of pending state read."""

    def __init__(self, store: Readable):
        self.store = store
        self.applied: list[Applied] = []    # the log, since the committed state below
        self._waiting: list[Applied] = []   # logged before the last block, not rechecked yet
        self._confirmed = 0                 # how many of `_waiting` RECHECK confirmed, in order
        self.reruns = 0                     # txs run again for a RECHECK (the rest were confirmed)
        self.state = State(Overlay(store))

    def reset(self, height: int, time_ns: int, chain_id: str, base: dict[bytes, bytes | None] | None = None) -> None:
        """Start afresh on the committed state (start-up, InitChain, a restored snapshot, a
        block made elsewhere); `base`: changes not committed yet that every check sees
        (genesis before block 1)."""
        parent: Readable = self.store
        if base:
            parent = Overlay(self.store)
            parent.changes.update(base)
        self.state = State(Overlay(parent), height, time_ns, chain_id)
        self.applied, self._waiting, self._confirmed = [], [], 0

    def forget(self) -> None:
        """Drop every tx applied since the last Commit (what a block made elsewhere leads to)."""
        self.reset(self.state.height, self.state.time_ns, self.state.chain_id)

    # --- CheckTx ------------------------------------------------------------------
    def check(self, signed: SignedTx) -> None:
        """Apply a new tx. Raises TxError (then nothing is applied)."""
        self._settle()
        self._apply(signed)

    def recheck_confirms(self, raw: bytes) -> bool:
        """Whether the RECHECK of `raw` passes without running it (see the module doc).
        False: the caller runs it with `rerun` instead."""
        if self._confirmed < len(self._waiting):
            entry = self._waiting[self._confirmed]
            if entry.raw == raw and entry.kind in STATE_ONLY_KINDS:
                self._confirmed += 1
                self.applied.append(entry)
                return True
            self._rebuild()  # out of order, or a kind that must run again: from here on, run each
        return False

    def rerun(self, signed: SignedTx) -> None:
        """Run a RECHECK'd tx on the check state. Raises TxError (the tx leaves the mempool)."""
        self._settle()
        self.reruns += 1
        self._apply(signed)

    def _apply(self, signed: SignedTx) -> None:
        work = transition.execute(self.state, signed)
        writes = work.store.changes
        work.store.merge_into_parent()
        self.applied.append(Applied(signed.raw, signed.kind, writes, work.events))

    # --- FinalizeBlock and Commit ------------------------------------------------------
    def reusable(self, txs: list[bytes]) -> list[Applied]:
        """The log's entries a block may take as they are for its first txs `txs[:n]`,
        provided the block's start wrote nothing (the caller's part)."""
        found = []
        for raw, entry in zip(txs, self.applied):
            if entry.raw != raw or entry.kind not in STATE_ONLY_KINDS:
                break
            found.append(entry)
        return found

    def committed(self, height: int, time_ns: int, chain_id: str, block: list[Applied] | None) -> None:
        """The block at `height` is committed. `block`: its txs as FinalizeBlock applied
        them, when every one succeeded and the block's start wrote nothing; else None."""
        self._settle()
        applied, kept = self.applied, -1 if block is None else len(block)
        self.reset(height + 1, time_ns, chain_id)
        if 0 <= kept <= len(applied) and all(a.raw == b.raw and a.writes == b.writes for a, b in zip(applied, block)):
            # The new committed state is the old view of the block's txs: that view is the
            # committed state plus the writes of the txs after them, which RECHECK confirms.
            self._waiting = applied[kept:]
            for entry in self._waiting:
                self.state.store.changes.update(entry.writes)

    def _settle(self) -> None:
        """Drop from the view whatever RECHECK did not confirm (CometBFT no longer holds it)."""
        if self._confirmed < len(self._waiting):
            self._rebuild()
        self._waiting, self._confirmed = [], 0

    def _rebuild(self) -> None:
        """The committed state plus the log (the txs confirmed so far); the unconfirmed rest is dropped."""
        overlay = Overlay(self.store)
        for entry in self.applied:
            overlay.changes.update(entry.writes)
        self.state = State(overlay, self.state.height, self.state.time_ns, self.state.chain_id)
        self._waiting, self._confirmed = [], 0
