"""Ed25519 keys, addresses and the chain's signature rule.

An address is ``aitbc`` followed by the hex of the first 20 bytes of the
SHA-256 of the public key: short, checkable and derivable by anyone who has
the public key, which every transaction carries.

A signature is valid when ZIP-215 says so and its public key is not of small order
(native/ed25519/ed25519.go says why). Without the native library (a client installed
without `make setup`) `verify` falls back to libsodium's strict check, which accepts a
subset of that: every signature an honest signer makes, never one the chain refuses. The
app refuses to run without the library (`require_chain_rule`): nodes must agree on every
signature.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
from collections.abc import Sequence

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from aitbc import ed25519_native

log = logging.getLogger("aitbc.crypto")
ADDRESS_PREFIX = "aitbc"
ADDRESS_RE = re.compile(r"^aitbc[0-9a-f]{40}\Z")
PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64


def address_of(public_key: bytes) -> str:
    """The account address that belongs to an ed25519 public key."""
    return ADDRESS_PREFIX + hashlib.sha256(public_key).digest()[:20].hex()


def is_address(text: str) -> bool:
    return bool(ADDRESS_RE.match(text))


@functools.cache
def _loaded() -> tuple[ed25519_native.NativeVerifier | None, str]:
    # Loaded on first use: a process that only signs (the CLI) never starts the Go runtime.
    # An unusable library is remembered like a missing one: the process falls back (a client)
    # or refuses to start (the app) with the reason, rather than failing on every signature.
    try:
        native = ed25519_native.load()
    except ed25519_native.LibraryError as err:
        log.warning("%s; checking signatures with libsodium (stricter than the chain)", err)
        return None, str(err)
    return native, "" if native else f"the chain's ed25519 library is missing ({ed25519_native.library_path()})"


def _native() -> ed25519_native.NativeVerifier | None:
    return _loaded()[0]


def chain_rule_loaded() -> bool:
    """Whether signatures are checked under the chain's rule here (else libsodium's, stricter)."""
    return _native() is not None


class ChainRuleMissing(RuntimeError):
    """The native library that holds the chain's signature rule is not installed."""


def require_chain_rule() -> None:
    """Raise ChainRuleMissing unless signatures are checked under the chain's rule (ZIP-215)."""
    native, problem = _loaded()
    if native is None:
        raise ChainRuleMissing(f"{problem}: run `make setup`, or set AITBC_ED25519_LIB to a built "
                               "libaitbc_ed25519.so")


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True when `signature` is `public_key`'s ed25519 signature of `message`."""
    return verify_many([(public_key, message, signature)])[0]


def verify_many(items: Sequence[tuple[bytes, bytes, bytes]]) -> list[bool]:
    """`verify` of each (public key, message, signature), checked as one batch: about a third
    of the CPU per signature of one at a time when most are valid."""
    sized = [len(k) == PUBLIC_KEY_SIZE and len(s) == SIGNATURE_SIZE for k, _, s in items]
    checkable = [item for item, ok in zip(items, sized) if ok]
    native = _native()
    if native is not None:
        answers = iter(native.verify_many(checkable))
    else:
        answers = iter([libsodium_verify(*item) for item in checkable])
    return [ok and next(answers) for ok in sized]


def libsodium_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """libsodium's strict check (the fallback above; the benchmarks' CPU yardstick)."""
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
