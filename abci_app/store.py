"""Key-value storage under the state machine.

`Store` is the committed state (LevelDB through plyvel, or an in-memory
stand-in for unit tests of the pure transition). `Overlay` stacks uncommitted
writes on a parent: a tx works on an overlay of the block's overlay of the
committed store; a failed tx's overlay is dropped, a good one merged.
"""

from __future__ import annotations

import bisect
import os
import shutil
from typing import Iterator, Protocol

DELETED = None
_ABSENT = object()  # not in an overlay's changes (DELETED is a change)


class Readable(Protocol):
    def get(self, key: bytes) -> bytes | None: ...


class Store(Readable, Protocol):
    def iterate(self, start: bytes, stop: bytes) -> Iterator[tuple[bytes, bytes]]: ...
    def write(self, changes: dict[bytes, bytes | None]) -> None: ...
    def frozen_items(self) -> Iterator[tuple[bytes, bytes]]: ...
    def close(self) -> None: ...


class MemoryStore:
    """A sorted in-memory store with the same interface as LevelDBStore."""

    def __init__(self) -> None:
        self._data: dict[bytes, bytes] = {}
        self._keys: list[bytes] = []

    def get(self, key: bytes) -> bytes | None:
        return self._data.get(key)

    def iterate(self, start: bytes, stop: bytes) -> Iterator[tuple[bytes, bytes]]:
        lo = bisect.bisect_left(self._keys, start)
        hi = bisect.bisect_left(self._keys, stop)
        for key in self._keys[lo:hi]:
            yield key, self._data[key]

    def write(self, changes: dict[bytes, bytes | None]) -> None:
        for key, value in changes.items():
            if value is None:
                if self._data.pop(key, None) is not None:
                    self._keys.pop(bisect.bisect_left(self._keys, key))
            else:
                if key not in self._data:
                    bisect.insort(self._keys, key)
                self._data[key] = value

    def frozen_items(self) -> Iterator[tuple[bytes, bytes]]:
        """Every pair as of now, in key order, unaffected by later writes."""
        return iter([(key, self._data[key]) for key in self._keys])

    def close(self) -> None:
        pass


class LevelDBStore:
    """Committed state in LevelDB; `write` is one atomic, synced batch."""

    def __init__(self, path: str):
        self.path = path
        self._open()

    def _open(self) -> None:
        import plyvel

        self._db = plyvel.DB(self.path, create_if_missing=True, bloom_filter_bits=10, lru_cache_size=64 << 20)

    def get(self, key: bytes) -> bytes | None:
        return self._db.get(key)

    def iterate(self, start: bytes, stop: bytes) -> Iterator[tuple[bytes, bytes]]:
        yield from self._db.iterator(start=start, stop=stop)

    def write(self, changes: dict[bytes, bytes | None]) -> None:
        with self._db.write_batch(sync=True) as batch:
            for key, value in changes.items():
                if value is None:
                    batch.delete(key)
                else:
                    batch.put(key, value)

    def frozen_items(self) -> Iterator[tuple[bytes, bytes]]:
        """Every pair as of now (a LevelDB snapshot), in key order; safe to read from
        another thread while writes go on."""
        snapshot = self._db.snapshot()

        def items() -> Iterator[tuple[bytes, bytes]]:
            with snapshot.iterator() as iterator:
                yield from iterator
            snapshot.close()

        return items()

    def restore_path(self) -> str:
        """Where a state being restored from a snapshot is written before `replace_with`."""
        return self.path.rstrip("/") + ".restore"

    def replace_with(self, path: str) -> None:
        """Make the LevelDB at `path` this store (the state sync swap).

        Only for a store without a state (state sync runs on empty nodes): a crash
        between the steps leaves no DB or an empty one, never half a state.
        """
        self._db.close()
        shutil.rmtree(self.path, ignore_errors=True)
        os.replace(path, self.path)
        self._open()

    def close(self) -> None:
        self._db.close()


class Overlay:
    """Uncommitted writes over a parent (a store or another overlay)."""

    def __init__(self, parent: Readable):
        self.parent = parent
        self.changes: dict[bytes, bytes | None] = {}

    def get(self, key: bytes) -> bytes | None:
        value = self.changes.get(key, _ABSENT)  # one lookup, not `in` and then `[]`
        return self.parent.get(key) if value is _ABSENT else value

    def get_to_add(self, key: bytes, record: type, amounts: dict[str, int]) -> bytes | None:
        """`get`, for a caller that will only add `amounts` to fields of the `record` of ints
        held there, and decides nothing on its value: a credit, a fee burned."""
        return self.get(key)

    def set(self, key: bytes, value: bytes) -> None:
        self.changes[key] = value

    def set_added(self, key: bytes, value: bytes) -> None:
        """`set`, for the value a `get_to_add` caller computed by adding its amounts."""
        self.changes[key] = value

    def delete(self, key: bytes) -> None:
        self.changes[key] = DELETED

    def iterate(self, start: bytes, stop: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Items in [start, stop) as this overlay sees them, in key order."""
        items = dict(self.parent.iterate(start, stop))  # type: ignore[attr-defined]
        for key, value in self.changes.items():
            if start <= key < stop:
                if value is None:
                    items.pop(key, None)
                else:
                    items[key] = value
        yield from sorted(items.items())

    def merge_into_parent(self) -> None:
        """Apply these writes to the parent overlay (a tx that succeeded)."""
        assert isinstance(self.parent, Overlay)
        self.parent.changes.update(self.changes)
        self.changes = {}


def sum_into(total: dict[str, int], amounts: dict[str, int]) -> None:
    """Add `amounts` to `total`, field by field: adds to one record whose writes are not made yet."""
    for name, amount in amounts.items():
        total[name] = total.get(name, 0) + amount


class ReadingOverlay(Overlay):
    """An Overlay that keeps what each key it read from its parent held then, so a caller can
    tell later whether another state gives the same outcome: `reads` for the keys it decided
    on, `added` (key -> (value, record type, amounts)) for those it only added to
    (`get_to_add`), whose change carries over onto any value; `iterated` when it walked a
    range, which neither covers."""

    def __init__(self, parent: Readable):
        super().__init__(parent)
        self.reads: dict[bytes, bytes | None] = {}
        self.added: dict[bytes, tuple[bytes | None, type, dict[str, int]]] = {}
        self.iterated = False

    def get(self, key: bytes) -> bytes | None:
        if self.added and key in self.added:  # decided on after all: the value it had counts
            self.reads[key] = self.added.pop(key)[0]
        value = self.changes.get(key, _ABSENT)
        if value is not _ABSENT:
            return value
        value = self.reads.get(key, _ABSENT)
        if value is _ABSENT:
            value = self.reads[key] = self.parent.get(key)
        return value

    def get_to_add(self, key: bytes, record: type, amounts: dict[str, int]) -> bytes | None:
        kept = self.added.get(key)
        if kept is not None:  # added to before (and written by that add): the amounts sum up
            sum_into(kept[2], amounts)
            return self.changes.get(key, kept[0])
        value = self.changes.get(key, _ABSENT)
        if value is not _ABSENT:  # it wrote the key itself first: that is what it adds to
            return value
        if key in self.reads:
            return self.reads[key]
        value = self.parent.get(key)
        self.added[key] = (value, record, dict(amounts))
        return value

    def set(self, key: bytes, value: bytes) -> None:
        if self.added:  # a write of its own replaces what was added: its value no longer depends on it
            self.added.pop(key, None)
        self.changes[key] = value

    def delete(self, key: bytes) -> None:
        if self.added:
            self.added.pop(key, None)
        self.changes[key] = DELETED

    def iterate(self, start: bytes, stop: bytes) -> Iterator[tuple[bytes, bytes]]:
        self.iterated = True
        return super().iterate(start, stop)
