"""API keys: stored as peppered SHA-256 hashes, never in clear; roles client and admin."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from coordinator.errors import Unauthenticated
from coordinator.store import Store

ROLES = ("client", "admin")
PEPPER_META_KEY = "api_key_pepper"
HEADER = "X-Api-Key"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the hash identifies the key (and so owns its jobs)."""

    key_hash: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def new_key(role: str) -> str:
    """A fresh random key; the prefix tells people what it is for."""
    return f"aitbc_{role[:3]}_{secrets.token_urlsafe(24)}"


def hash_key(key: str, pepper: str) -> str:
    return hashlib.sha256(pepper.encode() + b"\x00" + key.encode()).hexdigest()


class ApiKeys:
    def __init__(self, store: Store, pepper: str | None = None):
        self.store = store
        # One pepper per deployment: from settings, else made once and kept in the store.
        self.pepper = pepper or store.set_meta_if_absent(PEPPER_META_KEY, secrets.token_hex(16))

    def add(self, key: str, role: str, label: str = "") -> str:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        key_hash = hash_key(key, self.pepper)
        self.store.add_api_key(key_hash, role, label)
        return key_hash

    def create(self, role: str, label: str = "") -> str:
        key = new_key(role)
        self.add(key, role, label)
        return key

    def authenticate(self, key: str | None) -> Principal:
        """The caller behind `key`. Raises Unauthenticated."""
        if not key:
            raise Unauthenticated(f"missing {HEADER} header: pass your API key (aitbc --api-key or AITBC_API_KEY)")
        candidate = hash_key(key, self.pepper)
        found: Principal | None = None
        # Compare against every stored hash in constant time, so timing tells nothing.
        for stored_hash, role in self.store.api_keys():
            if hmac.compare_digest(stored_hash, candidate):
                found = Principal(stored_hash, role)
        if found is None:
            raise Unauthenticated(f"the {HEADER} given is not a known API key")
        return found
