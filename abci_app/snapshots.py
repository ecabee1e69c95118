"""State sync: snapshots of the committed state, served to and restored from peers.

A snapshot is the whole committed store at one height, bookkeeping keys
(`_app/*`) included: every (key, value) pair in key order, each written as
`u32 len(key) | key | u32 len(value) | value`, cut into chunks of about
CHUNK_BYTES at record boundaries. Its metadata (canonical JSON: format,
height, app hash, number of keys, SHA-256 of each chunk) travels in
`Snapshot.metadata`, and `Snapshot.hash` is the SHA-256 of that metadata, so
it covers every chunk. The same state gives the same bytes on every node.

Files live outside the state DB, in HOME/data/snapshots/<height>/ (`metadata`
and `chunk-<n>`), written into `<height>.tmp` and renamed when complete.
A snapshot is taken after Commit from a LevelDB snapshot of that height, in
a thread, so consensus goes on while it is written.

Restoring writes into a fresh LevelDB next to the live one and swaps it in
only after the last chunk proves the state: each chunk must match its hash in
the metadata, keys must come in strictly increasing order, and the digest of
the restored state together with its change chain must give the app hash
that CometBFT's light client verified.

CometBFT records the snapshot's height in its own state only after the swap.
A crash in between would leave the app ahead of a CometBFT that has no state,
state-syncs again and is refused by an app that is no longer empty. So a
marker file (RESTORED_MARK) is written before the swap and removed at the
first Commit after it; CometBFT offers snapshots only while it has no state,
so an offer that finds the marker means the restored state was never
recorded, and the app drops it and restores again (`Application.offer_snapshot`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from aitbc.abci_app import state_digest
from aitbc.pb.tendermint.abci import types_pb2 as abci

log = logging.getLogger("aitbc.snapshots")

FORMAT = 1
RESTORED_MARK = "restored-unrecorded"  # in the snapshots folder; holds the restored height
CHUNK_BYTES = 4 * 1024 * 1024
DEFAULT_INTERVAL, DEFAULT_KEEP = 500, 2
_LEN = struct.Struct(">I")
Offer, Apply = abci.ResponseOfferSnapshot, abci.ResponseApplySnapshotChunk


# --- the format --------------------------------------------------------------
def encode_chunks(items: Iterable[tuple[bytes, bytes]], chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """The records of `items` (in key order), cut into chunks of at most `chunk_bytes`
    (a single record larger than that makes a chunk of its own)."""
    parts: list[bytes] = []
    size = 0
    for key, value in items:
        record = b"".join((_LEN.pack(len(key)), key, _LEN.pack(len(value)), value))
        if parts and size + len(record) > chunk_bytes:
            yield b"".join(parts)
            parts, size = [], 0
        parts.append(record)
        size += len(record)
    if parts:
        yield b"".join(parts)


def decode_chunk(data: bytes) -> list[tuple[bytes, bytes]]:
    """The records of one chunk; ValueError if it is not a whole number of records."""
    items, pos = [], 0
    view = memoryview(data)
    while pos < len(data):
        if pos + 4 > len(data):
            raise ValueError("truncated record")
        (klen,) = _LEN.unpack_from(data, pos)
        key = bytes(view[pos + 4:pos + 4 + klen])
        pos += 4 + klen
        if pos + 4 > len(data):
            raise ValueError("truncated record")
        (vlen,) = _LEN.unpack_from(data, pos)
        value = bytes(view[pos + 4:pos + 4 + vlen])
        pos += 4 + vlen
        if len(key) != klen or len(value) != vlen:
            raise ValueError("truncated record")
        items.append((key, value))
    return items


@dataclass(frozen=True)
class Metadata:
    """What a snapshot is: sent as `Snapshot.metadata`; its SHA-256 is `Snapshot.hash`."""

    height: int
    app_hash: bytes
    keys: int
    chunk_hashes: tuple[bytes, ...]
    format: int = FORMAT

    def to_bytes(self) -> bytes:
        return json.dumps({"format": self.format, "height": self.height, "app_hash": self.app_hash.hex(),
                           "keys": self.keys, "chunks": [h.hex() for h in self.chunk_hashes]},
                          sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> "Metadata":
        """Raises ValueError (or KeyError/TypeError) for metadata that is not ours."""
        data = json.loads(raw)
        return cls(height=int(data["height"]), app_hash=bytes.fromhex(data["app_hash"]), keys=int(data["keys"]),
                   chunk_hashes=tuple(bytes.fromhex(h) for h in data["chunks"]), format=int(data["format"]))

    def to_abci(self) -> abci.Snapshot:
        raw = self.to_bytes()
        return abci.Snapshot(height=self.height, format=self.format, chunks=len(self.chunk_hashes),
                             hash=hashlib.sha256(raw).digest(), metadata=raw)


# --- taking and serving --------------------------------------------------------
class Snapshots:
    """The snapshots of one node, in `directory`: taken every `interval` blocks (0 = never), the last `keep` kept."""

    def __init__(self, directory: Path, interval: int = DEFAULT_INTERVAL, keep: int = DEFAULT_KEEP,
                 chunk_bytes: int = CHUNK_BYTES):
        self.directory = Path(directory)
        self.interval, self.keep, self.chunk_bytes = interval, max(keep, 1), chunk_bytes
        self.directory.mkdir(parents=True, exist_ok=True)
        for stale in self.directory.glob("*.tmp"):  # a take cut short by a crash
            shutil.rmtree(stale, ignore_errors=True)
        self._worker: threading.Thread | None = None

    def due(self, height: int) -> bool:
        return self.interval > 0 and height > 0 and height % self.interval == 0

    def take_in_background(self, items: Iterable[tuple[bytes, bytes]], height: int, app_hash: bytes) -> None:
        """Write a snapshot from `items` (a frozen view of the store) in a thread.
        One at a time: while the last one is still being written, this height is skipped."""
        if self._worker is not None and self._worker.is_alive():
            log.warning("snapshot at height %d skipped: the previous one is still being written", height)
            return
        self._worker = threading.Thread(target=self._take_logged, args=(items, height, app_hash),
                                        name=f"snapshot-{height}", daemon=True)
        self._worker.start()

    def _take_logged(self, items, height, app_hash) -> None:
        try:
            self.take(items, height, app_hash)
        except Exception:  # noqa: BLE001 - a failed snapshot must not take the node down
            log.exception("snapshot at height %d failed", height)

    def take(self, items: Iterable[tuple[bytes, bytes]], height: int, app_hash: bytes) -> Metadata:
        """Write the snapshot of `items` at `height`, then drop all but the newest `keep`."""
        final = self.directory / f"{height:012d}"
        work = self.directory / f"{height:012d}.tmp"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        hashes, keys = [], 0
        counted = _Counting(items)
        for index, chunk in enumerate(encode_chunks(counted, self.chunk_bytes)):
            _write_synced(work / f"chunk-{index}", chunk)
            hashes.append(hashlib.sha256(chunk).digest())
        keys = counted.count
        meta = Metadata(height=height, app_hash=app_hash, keys=keys, chunk_hashes=tuple(hashes))
        _write_synced(work / "metadata", meta.to_bytes())
        shutil.rmtree(final, ignore_errors=True)
        os.replace(work, final)
        log.info("snapshot at height %d: %d keys in %d chunks", height, keys, len(hashes))
        self._prune()
        return meta

    def _prune(self) -> None:
        for old in self._heights()[:-self.keep]:
            shutil.rmtree(self.directory / f"{old:012d}", ignore_errors=True)

    def _heights(self) -> list[int]:
        return sorted(int(p.name) for p in self.directory.iterdir() if p.name.isdigit())

    def list(self) -> list[abci.Snapshot]:
        found = []
        for height in self._heights():
            try:
                found.append(Metadata.from_bytes((self.directory / f"{height:012d}" / "metadata").read_bytes()).to_abci())
            except (OSError, ValueError):
                continue  # pruned while we looked
        return found

    def load_chunk(self, height: int, format: int, index: int) -> bytes:
        """The chunk's bytes, or b'' when this node does not have it (any more)."""
        if format != FORMAT:
            return b""
        try:
            return (self.directory / f"{height:012d}" / f"chunk-{index}").read_bytes()
        except OSError:
            return b""

    def wait(self) -> None:
        """Let a snapshot being written finish (before the store closes)."""
        if self._worker is not None:
            self._worker.join()

    # --- a restored state that CometBFT has not recorded yet ---------------------------
    def mark_restored(self, height: int) -> None:
        """Note, durably and before the swap, that a state restored at `height` goes live."""
        _write_synced(self.directory / RESTORED_MARK, str(height).encode())
        _sync_folder(self.directory)

    def restored_unrecorded(self) -> bool:
        """Whether a restored state went live and no Commit has followed it yet."""
        return (self.directory / RESTORED_MARK).exists()

    def clear_restored(self) -> None:
        """CometBFT has recorded the restored height (it sent the next block's Commit)."""
        (self.directory / RESTORED_MARK).unlink(missing_ok=True)

    # --- ABCI answers ----------------------------------------------------------------
    def list_snapshots(self, req: abci.RequestListSnapshots) -> abci.ResponseListSnapshots:
        return abci.ResponseListSnapshots(snapshots=self.list())

    def load_snapshot_chunk(self, req: abci.RequestLoadSnapshotChunk) -> abci.ResponseLoadSnapshotChunk:
        return abci.ResponseLoadSnapshotChunk(chunk=self.load_chunk(req.height, req.format, req.chunk))


class _Counting:
    """Passes items through and counts them."""

    def __init__(self, items: Iterable[tuple[bytes, bytes]]):
        self._items, self.count = items, 0

    def __iter__(self):
        for item in self._items:
            self.count += 1
            yield item


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _sync_folder(path: Path) -> None:
    """Make the names in `path` (a new or renamed file) survive a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- restoring -------------------------------------------------------------------
def wipe(store) -> None:
    """Swap an empty store in for `store`'s state (a LevelDBStore), the way a restore is swapped in."""
    empty = store.restore_path()
    shutil.rmtree(empty, ignore_errors=True)
    type(store)(empty).close()
    store.replace_with(empty)


class Restore:
    """One snapshot being restored into a fresh store at `path`.

    `open_store(path)` makes that store (LevelDB on a node); nothing is visible
    to the app until `finished` and the caller swaps the store in.
    """

    def __init__(self, meta: Metadata, trusted_app_hash: bytes, path: Path, open_store):
        self.meta, self.trusted_app_hash, self.path = meta, trusted_app_hash, Path(path)
        shutil.rmtree(self.path, ignore_errors=True)
        self.store = open_store(str(self.path))
        self.next_index = 0
        self.last_key: bytes | None = None
        self.digest = state_digest.combine()
        self.bookkeeping: dict[bytes, bytes] = {}
        self.finished = False

    @staticmethod
    def check_offer(snapshot: abci.Snapshot) -> tuple[int, Metadata | None]:
        """(OfferSnapshot result, metadata) for a snapshot offered by a peer."""
        if snapshot.format != FORMAT:
            return Offer.REJECT_FORMAT, None
        try:
            meta = Metadata.from_bytes(snapshot.metadata)
        except (ValueError, KeyError, TypeError):
            return Offer.REJECT, None
        if (hashlib.sha256(snapshot.metadata).digest() != snapshot.hash or meta.height != snapshot.height
                or len(meta.chunk_hashes) != snapshot.chunks or meta.format != FORMAT or not meta.chunk_hashes):
            return Offer.REJECT, None
        return Offer.ACCEPT, meta

    def apply(self, req: abci.RequestApplySnapshotChunk) -> abci.ResponseApplySnapshotChunk:
        if req.index != self.next_index:  # CometBFT applies chunks in order; anything else: fetch again
            return Apply(result=Apply.RETRY, refetch_chunks=[self.next_index])
        if hashlib.sha256(req.chunk).digest() != self.meta.chunk_hashes[req.index]:
            log.warning("snapshot %d chunk %d from %s does not match its hash", self.meta.height, req.index, req.sender)
            return Apply(result=Apply.RETRY, refetch_chunks=[req.index],
                         reject_senders=[req.sender] if req.sender else [])
        try:
            items = decode_chunk(req.chunk)
        except ValueError:
            return Apply(result=Apply.REJECT_SNAPSHOT)  # hashed as announced, so the snapshot itself is bad
        changes: dict[bytes, bytes | None] = {}
        for key, value in items:
            # Strictly increasing keys: a key given twice would count twice in the digest
            # but once in the store.
            if self.last_key is not None and key <= self.last_key:
                return Apply(result=Apply.REJECT_SNAPSHOT)
            self.last_key = key
            changes[key] = value
            if not state_digest.is_state_key(key):
                self.bookkeeping[key] = value
        self.store.write(changes)
        self.digest = state_digest.combine(self.digest, state_digest.of_items(items))
        self.next_index += 1
        if self.next_index < len(self.meta.chunk_hashes):
            return Apply(result=Apply.ACCEPT)
        return self._verify()

    def _verify(self) -> abci.ResponseApplySnapshotChunk:
        from aitbc.abci_app.app import CHAIN_KEY, DIGEST_KEY, HASH_KEY, HEIGHT_KEY

        book = self.bookkeeping
        proven = state_digest.app_hash(book.get(CHAIN_KEY, b""), self.digest)
        facts = {
            "height": book.get(HEIGHT_KEY) == str(self.meta.height).encode(),
            "digest": book.get(DIGEST_KEY) == self.digest,
            "stored app hash": book.get(HASH_KEY) == proven,
            "trusted app hash": proven == self.trusted_app_hash,
        }
        wrong = [name for name, ok in facts.items() if not ok]
        if wrong:
            log.error("snapshot %d refused: its state does not prove the %s", self.meta.height, ", ".join(wrong))
            return Apply(result=Apply.REJECT_SNAPSHOT)
        self.store.close()
        self.finished = True
        log.info("snapshot %d restored: %d keys, app hash %s", self.meta.height, self.meta.keys, proven.hex())
        return Apply(result=Apply.ACCEPT)

    def discard(self) -> None:
        try:
            self.store.close()
        finally:
            shutil.rmtree(self.path, ignore_errors=True)
