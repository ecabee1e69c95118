"""The check state: the committed state plus the txs CheckTx accepted since, so one
sender can have several txs with consecutive nonces in flight; and what a block
can take from it instead of running a tx a second and third time.

The log. Every tx CheckTx applies is kept in order (`applied`) with what it wrote
and the events it made. The invariant: the check state's view is the committed
state plus the writes of `applied`, in order, and each entry was run on the view
made of the entries before it (right after a block, the txs still waiting for
their RECHECK are in the view too, see below).

FinalizeBlock. For a kind whose outcome depends on the state alone
(`STATE_ONLY_KINDS`: a transfer never looks at the block's height, time or hash),
a tx that reads in the block the bytes it read here makes the writes and events
it made here, so the block takes them as they are. Two ways to know:
- `reusable`: when the block's start (expiries, payouts) wrote nothing and the
  block's first txs are the log's first entries in the same order, each of them
  reads what it read here, by the invariant;
- `Replay`: past that prefix, each entry kept what it read, and a tx of the
  block whose entry reads the same values in the block is taken too, wherever it
  stands. Except the records it only added to (the recipient's account, the
  supply record's burned fees: `state.add_to_account`, `add_to_supply`): the
  amounts carry over onto whatever the block holds, so transfers to one account
  commute.
Every other tx runs as usual. Another node, which never saw these txs, runs them
and gets the same writes: the app hash does not depend on the path
(tests/unit/test_check_state.py replays mixed, reordered blocks both ways).

RECHECK. After every block CometBFT sends a RECHECK of each tx still in its
mempool, in mempool order, and drops those the app now refuses: a tx whose nonce
a block tx used, or whose funds a block tx spent, must go, or it would be proposed
and fail in FinalizeBlock. The plain way starts the check state afresh on the new
committed state and runs every rechecked tx on it again. When the block's start
wrote nothing, its txs are the log's first entries (in any order) and its net
writes are theirs, the new committed state is the old view of those entries, and
each tx still waiting reads what it read when it was checked: its RECHECK is
answered without running it, for the kinds above (a RECHECK runs at a new height
and time). Anything else, a tx of another kind or a block made elsewhere, falls
back to the plain way from that tx on, so every tx a block invalidated is still
run and refused.

CometBFT's mempool order is not always the order CheckTx answered in (it adds a tx
from whichever goroutine sees the answer first), so a RECHECK may come for an
entry a little ahead of the next one expected (`LOOKAHEAD`), and the entries passed
over may come later. A transfer only takes from its own sender's account, so one
confirmed ahead of passed-over entries keeps its outcome if none of them writes its
sender's account (`_independent`); otherwise it runs. Entries that get no RECHECK
were dropped by CometBFT (a full mempool drops a tx after CheckTx accepted it): at
the next new CheckTx or Commit (`_settle`) the view becomes the committed state
plus the entries up to the first one missing, and the confirmed ones after it run
again on it.

Memory: the log holds the txs of the mempool (bounded by its size) and of the
block being made, each with the few records it read and wrote.
"""

from __future__ import annotations

from collections import Counter
from typing import Callable, NamedTuple

from aitbc.abci_app import records, state as st, transition
from aitbc.abci_app.events import Event
from aitbc.abci_app.state import State
from aitbc.abci_app.store import Overlay, Readable, sum_into
from aitbc.errors import TxError
from aitbc.tx import SignedTx

# Kinds whose outcome, writes and events depend only on the state they read, and that
# take only from their sender's own account.
STATE_ONLY_KINDS = frozenset({"transfer"})
# How far ahead of the next expected entry a RECHECK is looked for.
LOOKAHEAD = 64


class Applied(NamedTuple):
    """A tx applied to a state: its bytes, kind, sender, writes (key -> value, None = deleted),
    events, and what the keys it read held then (a ReadingOverlay's `reads` and `added`;
    None: not kept, or it walked a range)."""

    raw: bytes
    kind: str
    sender: str
    writes: dict[bytes, bytes | None]
    events: list[Event]
    reads: dict[bytes, bytes | None] | None = None
    added: dict[bytes, tuple[bytes | None, type, dict[str, int]]] | None = None


class Replay:
    """Takes logged entries into a block by the values they read (module doc). `take` applies
    an entry's writes to `block` when every key it decided on holds there what it held in
    CheckTx. The changes of the records entries only added to wait in `pending` until a read
    needs them: `flush` writes them, and the caller flushes before it runs a tx itself and at
    the block's end."""

    def __init__(self, block: Overlay):
        self.block = block
        self.pending: dict[bytes, tuple[type, dict[str, int]]] = {}

    def take(self, entry: Applied) -> bool:
        """Apply `entry`'s writes to the block if its tx would make them there; else change nothing."""
        if entry.kind not in STATE_ONLY_KINDS or entry.reads is None or entry.added is None:
            return False
        pending, get = self.pending, self.block.get
        for key, value in entry.reads.items():
            if key in pending:
                self.flush(key)
            if get(key) != value:
                return False
        changes, added = self.block.changes, entry.added
        for key, value in entry.writes.items():
            kept = added.get(key)
            if kept is None:
                if key in pending:
                    self.flush(key)
                changes[key] = value
            elif key in pending:
                sum_into(pending[key][1], kept[2])
            else:
                pending[key] = (kept[1], dict(kept[2]))
        return True

    def flush(self, key: bytes | None = None) -> None:
        """Write the pending change of `key` (None: of every key) into the block."""
        for one in [key] if key is not None else list(self.pending):
            record, amounts = self.pending.pop(one)
            self.block.changes[one] = records.plus(record, self.block.get(one), amounts)


def _account_key(address: str) -> bytes:
    return (st.ACCOUNT_PREFIX + address).encode()


class CheckState:
    """What CheckTx and RECHECK run against; `state` is the view queries of pending state read.
    `decode` gives a tx's SignedTx from its bytes (verified once, cached by the app)."""

    def __init__(self, store: Readable, decode: Callable[[bytes], SignedTx]):
        self.store = store
        self.decode = decode
        self.applied: list[Applied] = []    # the log, since the committed state below
        self.reruns = 0                     # txs run again for a RECHECK (the rest were confirmed)
        self.state = State(Overlay(store))
        self._clear_waiting()

    def _clear_waiting(self) -> None:
        self._waiting: list[Applied] = []   # logged before the last block, in the view, not rechecked yet
        self._done: list[bool] = []         # which of them a RECHECK confirmed
        self._next = 0                      # where the next RECHECK is expected
        self._passed: dict[bytes, int] = {}  # entries a RECHECK went past, not confirmed yet: raw -> index
        self._passed_keys: Counter[bytes] = Counter()  # the keys they write

    def reset(self, height: int, time_ns: int, chain_id: str, base: dict[bytes, bytes | None] | None = None) -> None:
        """Start afresh on the committed state (start-up, InitChain, a restored snapshot, a
        block made elsewhere); `base`: changes not committed yet that every check sees
        (genesis before block 1)."""
        parent: Readable = self.store
        if base:
            parent = Overlay(self.store)
            parent.changes.update(base)
        self.state = State(Overlay(parent), height, time_ns, chain_id)
        self.applied = []
        self._clear_waiting()

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
        if not self._waiting:
            return False
        index = self._passed.get(raw)
        late = index is not None
        if not late:
            index = self._find(raw)
        if index is None or self._waiting[index].kind not in STATE_ONLY_KINDS:
            self._settle()  # from this tx on, each RECHECK runs its tx
            return False
        entry = self._waiting[index]
        passing = range(self._next, index) if not late else range(0)
        if late:
            del self._passed[raw]
            self._passed_keys.subtract(entry.writes.keys())
        if not self._independent(entry, passing):
            if late:  # put it back: _settle decides what stays
                self._passed[raw] = index
                self._passed_keys.update(entry.writes.keys())
            self._settle()
            return False
        for j in passing:
            self._passed[self._waiting[j].raw] = j
            self._passed_keys.update(self._waiting[j].writes.keys())
        if not late:
            self._next = index + 1
        self._done[index] = True
        # The log grows by the entries confirmed without a gap before them, in their order.
        while len(self.applied) < len(self._waiting) and self._done[len(self.applied)]:
            self.applied.append(self._waiting[len(self.applied)])
        return True

    def _find(self, raw: bytes) -> int | None:
        for index in range(self._next, min(len(self._waiting), self._next + LOOKAHEAD)):
            if self._waiting[index].raw == raw:
                return index
        return None

    def _independent(self, entry: Applied, passing: range) -> bool:
        """Whether no entry passed over (by now, or `passing` now) writes `entry`'s sender's account."""
        key = _account_key(entry.sender)
        return self._passed_keys[key] <= 0 and not any(key in self._waiting[j].writes for j in passing)

    def rerun(self, signed: SignedTx) -> None:
        """Run a RECHECK'd tx on the check state. Raises TxError (the tx leaves the mempool)."""
        self._settle()
        self.reruns += 1
        self._apply(signed)

    def _apply(self, signed: SignedTx) -> None:
        work = transition.execute(self.state, signed, keep_reads=True)
        overlay = work.store
        writes = overlay.changes
        overlay.merge_into_parent()
        reads, added = (None, None) if overlay.iterated else (overlay.reads, overlay.added)
        self.applied.append(Applied(signed.raw, signed.kind, signed.sender, writes, work.events, reads, added))

    def _settle(self) -> None:
        """End the RECHECKs of the last block: keep in the view the entries up to the first
        that got none (CometBFT no longer holds it), and run again the ones confirmed after it."""
        if not self._waiting:
            return
        waiting, done, kept = self._waiting, self._done, len(self.applied)
        self._clear_waiting()
        if kept == len(waiting):
            return  # every entry confirmed: the view is right as it is
        overlay = Overlay(self.store)
        for entry in self.applied:
            overlay.changes.update(entry.writes)
        self.state = State(overlay, self.state.height, self.state.time_ns, self.state.chain_id)
        for entry, confirmed in zip(waiting[kept:], done[kept:]):
            if confirmed:  # in the mempool: it did not depend on the ones missing, so it passes
                try:
                    self.rerun(self.decode(entry.raw))
                except TxError:
                    pass  # should not happen; it fails in a block, or at the next RECHECK

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

    def entries(self) -> dict[bytes, Applied]:
        """Every entry held, by tx bytes (the latest run of a tx when it ran twice)."""
        held = {entry.raw: entry for entry in self._waiting}
        held.update((entry.raw, entry) for entry in self.applied)
        return held

    def committed(self, height: int, time_ns: int, chain_id: str, block_txs: list[bytes] | None,
                  block_writes: dict[bytes, bytes | None]) -> None:
        """The block at `height` is committed: `block_txs` when every one succeeded and the
        block's start wrote nothing (else None), `block_writes` its net writes."""
        self._settle()
        applied = self.applied
        self.reset(height + 1, time_ns, chain_id)
        kept = -1 if block_txs is None else len(block_txs)
        if not 0 <= kept <= len(applied):
            return
        first = applied[:kept]
        logged = [entry.raw for entry in first]
        if block_txs != logged and sorted(block_txs) != sorted(logged):
            return
        merged: dict[bytes, bytes | None] = {}
        for entry in first:
            merged.update(entry.writes)
        if merged != block_writes:
            return
        # The new committed state is the old view of those entries: that view is the
        # committed state plus the writes of the entries after them, which RECHECK confirms.
        self._waiting = applied[kept:]
        self._done = [False] * len(self._waiting)
        for entry in self._waiting:
            self.state.store.changes.update(entry.writes)
