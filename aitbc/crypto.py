"""Ed25519 keys and addresses.

An address is ``aitbc`` followed by the hex of the first 20 bytes of the
SHA-256 of the public key: short, checkable and derivable by anyone who has
the public key, which every transaction carries.
"""

from __future__ import annotations

import hashlib
import re

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

ADDRESS_PREFIX = "aitbc"
ADDRESS_RE = re.compile(r"^aitbc[0-9a-f]{40}$")
PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64


def address_of(public_key: bytes) -> str:
    """The account address that belongs to an ed25519 public key."""
    return ADDRESS_PREFIX + hashlib.sha256(public_key).digest()[:20].hex()


def is_address(text: str) -> bool:
    return bool(ADDRESS_RE.match(text))


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True when `signature` is `public_key`'s ed25519 signature of `message`."""
    if len(public_key) != PUBLIC_KEY_SIZE or len(signature) != SIGNATURE_SIZE:
        return False
    try:
        VerifyKey(public_key).verify(message, signature)
    except (BadSignatureError, ValueError):
        return False
    return True


class PrivateKey:
    """An ed25519 signing key with its address."""

    def __init__(self, seed: bytes):
        self._key = SigningKey(seed)
        self.public_key: bytes = bytes(self._key.verify_key)
        self.address: str = address_of(self.public_key)

    @classmethod
    def generate(cls) -> "PrivateKey":
        return cls(bytes(SigningKey.generate()))

    @classmethod
    def from_hex(cls, seed_hex: str) -> "PrivateKey":
        return cls(bytes.fromhex(seed_hex))

    @property
    def seed(self) -> bytes:
        return bytes(self._key)

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message).signature
