"""API keys: stored as peppered SHA-256 hashes, never in clear; roles client and admin."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from aitbc.coordinator.errors import Unauthenticated
from aitbc.coordinator.store import Store

log = logging.getLogger("coordinator")
ROLES = ("client", "admin")
PEPPER_META_KEY = "api_key_pepper"  # where versions before the pepper file kept it
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


def load_pepper(store: Store, path: Path) -> str:
    """The deployment's pepper from its own 0600 file, made once; moved there from the db
    where older versions kept it, so that a copy of the db alone cannot test guessed keys."""
    old = store.get_meta(PEPPER_META_KEY)
    if old is not None and not path.exists():
        _write_private(path, old)
        log.info("API key pepper moved out of the db", extra={"event": "pepper_migrated", "file": str(path)})
    if old is not None:
        store.delete_meta(PEPPER_META_KEY)
    if not path.exists():
        try:
            _write_private(path, secrets.token_hex(16))
        except FileExistsError:
            pass  # another process (add-key next to a running coordinator) made it first
    os.chmod(path, 0o600)
    pepper = path.read_text().strip()
    if not pepper:
        raise ValueError(f"API key pepper file {path} is empty; restore it (every key hash depends on it)")
    return pepper


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")


class ApiKeys:
    def __init__(self, store: Store, pepper: str | None = None):
        self.store = store
        # One pepper per deployment: from settings, else the file next to the db.
        self.pepper = pepper or load_pepper(store, store.path.parent / "pepper")
        # Keys found so far, by hash. Keys are only ever added, never removed or changed, so
        # one found stays valid: every request authenticates, and reading the table for each
        # was a fiftieth of the coordinator's CPU at intake. (A revocation must clear this.)
        self._found: dict[str, Principal] = {}

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
        found = self._found.get(candidate)
        if found is not None:
            return found
        # Compare against every stored hash in constant time, so timing tells nothing.
        for stored_hash, role in self.store.api_keys():
            if hmac.compare_digest(stored_hash, candidate):
                found = Principal(stored_hash, role)
        if found is None:
            raise Unauthenticated(f"the {HEADER} given is not a known API key")
        self._found[candidate] = found
        return found
