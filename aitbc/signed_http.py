"""Requests signed by a chain key: how miners and the coordinator prove who they are.

No shared secret: the sender signs ``METHOD\\nPATH\\nTIMESTAMP\\nsha256(body)``
with its ed25519 key and sends the public key; the receiver checks the
signature, the clock skew, and that the key's address is the one it expects
(a registered miner, or the coordinator named in genesis).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Mapping

from aitbc import crypto

H_PUBLIC_KEY = "X-Aitbc-Public-Key"
H_TIMESTAMP = "X-Aitbc-Timestamp"
H_SIGNATURE = "X-Aitbc-Signature"
H_MINER = "X-Miner-Key"  # the flowchart's header: the miner's address
MAX_SKEW_S = 60


class SignatureRejected(Exception):
    """The request's signature headers are missing, stale or wrong."""


@dataclass(frozen=True)
class Signer:
    address: str
    public_key: bytes


def _message(method: str, path: str, timestamp: str, body: bytes) -> bytes:
    return f"{method.upper()}\n{path}\n{timestamp}\n{hashlib.sha256(body).hexdigest()}".encode()


def sign_request(key: crypto.PrivateKey, method: str, path: str, body: bytes, now: float | None = None) -> dict[str, str]:
    """Headers that prove `key` sent this request."""
    timestamp = str(int(now if now is not None else time.time()))
    return {
        H_PUBLIC_KEY: key.public_key.hex(),
        H_TIMESTAMP: timestamp,
        H_SIGNATURE: key.sign(_message(method, path, timestamp, body)).hex(),
        H_MINER: key.address,
    }


def verify_request(headers: Mapping[str, str], method: str, path: str, body: bytes,
                   now: float | None = None) -> Signer:
    """The signer of a request. Raises SignatureRejected."""
    try:
        public_key = bytes.fromhex(headers[H_PUBLIC_KEY])
        timestamp = headers[H_TIMESTAMP]
        signature = bytes.fromhex(headers[H_SIGNATURE])
    except (KeyError, ValueError):
        raise SignatureRejected(f"missing or malformed {H_PUBLIC_KEY}/{H_TIMESTAMP}/{H_SIGNATURE} headers") from None
    if not timestamp.isdigit() or abs(int(timestamp) - (now if now is not None else time.time())) > MAX_SKEW_S:
        raise SignatureRejected(f"request timestamp is more than {MAX_SKEW_S} s off; check the clock")
    if not crypto.verify(public_key, _message(method, path, timestamp, body), signature):
        raise SignatureRejected("request signature does not match its body and public key")
    address = crypto.address_of(public_key)
    claimed = headers.get(H_MINER)
    if claimed and claimed != address:
        raise SignatureRejected(f"{H_MINER} {claimed} is not the address of the signing key")
    return Signer(address, public_key)
