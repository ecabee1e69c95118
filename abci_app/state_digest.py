"""A digest of the whole state that each block updates from its changes alone.

The app hash must commit to the state itself, not only to the history of
changes, or a node restored from a snapshot could not check what it was sent
against the header's app hash. Rehashing every key each block is out of the
question, so the digest is a homomorphic multiset hash (AdHash, Bellare and
Micciancio): each (key, value) pair is expanded with SHAKE-256 to a 4096-bit
number, and the digest is their sum mod 2**4096. Writing a key subtracts its
old pair and adds the new one; summing the whole state in any order gives the
same digest. At 4096 bits, Wagner's generalized-birthday attack on AdHash
costs about 2**128.

Keys under `BOOKKEEPING_PREFIX` (height, hashes, time) are not state and stay out.
"""

from __future__ import annotations

import hashlib
from typing import Iterable, Protocol

BOOKKEEPING_PREFIX = b"_app/"
BITS = 4096
SIZE = BITS // 8  # bytes
_MASK = (1 << BITS) - 1


class Readable(Protocol):
    def get(self, key: bytes) -> bytes | None: ...


def _element(key: bytes, value: bytes) -> int:
    item = hashlib.shake_256(len(key).to_bytes(4, "big") + key + value)
    return int.from_bytes(item.digest(SIZE), "big")


def is_state_key(key: bytes) -> bool:
    return not key.startswith(BOOKKEEPING_PREFIX)


def updated(packed: bytes | None, old: Readable, changes: dict[bytes, bytes | None]) -> bytes:
    """The digest after `changes` (None = delete) on top of the state `old` whose digest is `packed`."""
    total = int.from_bytes(packed, "big") if packed else 0
    for key, value in changes.items():
        if not is_state_key(key):
            continue
        before = old.get(key)
        if before == value:
            continue
        if before is not None:
            total -= _element(key, before)
        if value is not None:
            total += _element(key, value)
    return (total & _MASK).to_bytes(SIZE, "big")


def of_items(items: Iterable[tuple[bytes, bytes]]) -> bytes:
    """The digest of a whole state given as (key, value) pairs; bookkeeping keys are skipped."""
    total = sum(_element(key, value) for key, value in items if is_state_key(key))
    return (total & _MASK).to_bytes(SIZE, "big")


def app_hash(chain: bytes, digest: bytes) -> bytes:
    """The app hash: the chain of block changes bound to the digest of the state they produced."""
    return hashlib.sha256(b"aitbc/app-hash/v2" + chain + hashlib.sha256(digest).digest()).digest()


def combine(*digests: bytes) -> bytes:
    """The digest of the union of disjoint states, from their digests."""
    total = sum(int.from_bytes(d, "big") for d in digests)
    return (total & _MASK).to_bytes(SIZE, "big")
