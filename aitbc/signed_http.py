"""Requests signed by a chain key: how miners and the coordinator prove who they are.

No shared secret: the sender signs

    AITBC-REQUEST-1 METHOD PATH TIMESTAMP NONCE TARGET sha256(body)

(newline-separated) with its ed25519 key and sends the public key. The
receiver checks the signature, the clock skew, that TARGET names itself (so a
request signed for one receiver cannot be replayed to another), that it has
not seen NONCE within the skew window (so it cannot be replayed to the same
receiver either), and that the key's address is the one it expects (a
registered miner, or the coordinator named in genesis).

TARGET is the receiver's chain address; for pushes to a miner it is
"address@host:port" (`push_target`), naming the endpoint too.
"""

from __future__ import annotations

import hashlib
import heapq
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Mapping

from aitbc import crypto

H_PUBLIC_KEY = "X-Aitbc-Public-Key"
H_TIMESTAMP = "X-Aitbc-Timestamp"
H_SIGNATURE = "X-Aitbc-Signature"
H_NONCE = "X-Aitbc-Nonce"
H_TARGET = "X-Aitbc-Target"
H_MINER = "X-Miner-Key"  # the flowchart's header: the miner's address
MAX_SKEW_S = 60
DOMAIN = "AITBC-REQUEST-1"  # a signature over a request is never valid as anything else
NONCE_RE = re.compile(r"^[0-9a-f]{32}\Z")
MAX_TARGET_CHARS = 320


class SignatureRejected(Exception):
    """The request's signature headers are missing, stale, replayed, meant for another
    receiver, or wrong."""


@dataclass(frozen=True)
class Signer:
    address: str
    public_key: bytes


def push_target(address: str, authority: str) -> str:
    """The target of a push to the miner `address` at endpoint `authority` ("host:port")."""
    return f"{address}@{authority}"


def _message(method: str, path: str, timestamp: str, nonce: str, target: str, body: bytes) -> bytes:
    return "\n".join((DOMAIN, method.upper(), path, timestamp, nonce, target,
                      hashlib.sha256(body).hexdigest())).encode()


def sign_request(key: crypto.PrivateKey, method: str, path: str, body: bytes, now: float | None = None, *,
                 target: str, nonce: str | None = None) -> dict[str, str]:
    """Headers that prove `key` sent this request to `target` (the receiver's identity)."""
    timestamp = str(int(now if now is not None else time.time()))
    nonce = nonce or secrets.token_hex(16)
    return {
        H_PUBLIC_KEY: key.public_key.hex(),
        H_TIMESTAMP: timestamp,
        H_NONCE: nonce,
        H_TARGET: target,
        H_SIGNATURE: key.sign(_message(method, path, timestamp, nonce, target, body)).hex(),
        H_MINER: key.address,
    }


class ReplayCache:
    """Nonces seen inside the skew window, per receiver; bounded in memory.

    An entry lives until its request's timestamp leaves the window, after which
    the timestamp check alone refuses a replay. When `max_entries` nonces are
    all still inside the window the cache refuses new requests rather than
    forget one (forgetting would let that request be replayed).
    """

    def __init__(self, window_s: float = MAX_SKEW_S, max_entries: int = 100_000):
        self.window_s, self.max_entries = window_s, max_entries
        self._expiry: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self._lock = threading.Lock()  # the miner's handler may run in a thread pool

    def __len__(self) -> int:
        return len(self._expiry)

    def check_and_add(self, key: str, timestamp: float, now: float) -> None:
        """Remember `key`; raises SignatureRejected if it was seen or the cache is full."""
        with self._lock:
            while self._heap and self._heap[0][0] < now:
                expiry, old = heapq.heappop(self._heap)
                if self._expiry.get(old) == expiry:
                    del self._expiry[old]
            if key in self._expiry:
                raise SignatureRejected("request nonce already used: a replayed request")
            if len(self._expiry) >= self.max_entries:
                raise SignatureRejected("too many signed requests in the last minute; retry shortly")
            expiry = timestamp + self.window_s
            self._expiry[key] = expiry
            heapq.heappush(self._heap, (expiry, key))


def verify_request(headers: Mapping[str, str], method: str, path: str, body: bytes,
                   now: float | None = None, *, target: str | tuple[str, ...] | None,
                   replay: ReplayCache | None = None) -> Signer:
    """The signer of a request meant for `target` (one of them, if a tuple).

    `target=None` skips the target check: only for tools that watch traffic,
    never for a receiver. With `replay`, a nonce is accepted once per window.
    Raises SignatureRejected.
    """
    now = now if now is not None else time.time()
    try:
        public_key = bytes.fromhex(headers[H_PUBLIC_KEY])
        timestamp = headers[H_TIMESTAMP]
        nonce = headers[H_NONCE]
        claimed_target = headers[H_TARGET]
        signature = bytes.fromhex(headers[H_SIGNATURE])
    except (KeyError, ValueError):
        raise SignatureRejected(f"missing or malformed {H_PUBLIC_KEY}/{H_TIMESTAMP}/{H_NONCE}/{H_TARGET}/"
                                f"{H_SIGNATURE} headers") from None
    if not NONCE_RE.match(nonce) or len(claimed_target) > MAX_TARGET_CHARS:
        raise SignatureRejected(f"malformed {H_NONCE} or {H_TARGET} header")
    if not timestamp.isdigit() or abs(int(timestamp) - now) > MAX_SKEW_S:
        raise SignatureRejected(f"request timestamp is more than {MAX_SKEW_S} s off; check the clock")
    if not crypto.verify(public_key, _message(method, path, timestamp, nonce, claimed_target, body), signature):
        raise SignatureRejected("request signature does not match its body and public key")
    address = crypto.address_of(public_key)
    claimed = headers.get(H_MINER)
    if claimed and claimed != address:
        raise SignatureRejected(f"{H_MINER} {claimed} is not the address of the signing key")
    if target is not None:
        wanted = (target,) if isinstance(target, str) else target
        if claimed_target not in wanted:
            raise SignatureRejected(f"request was signed for {claimed_target!r}, not for this receiver "
                                    f"({' or '.join(wanted)})")
    if replay is not None:
        # Checked last: only a valid signature may take a place in the cache.
        replay.check_and_add(f"{address}:{nonce}", int(timestamp), now)
    return Signer(address, public_key)
