"""Local keys: one JSON file per named key under $AITBC_HOME/keys.

Development keys are stored unencrypted (mode 0600); this is a keyring for
test chains and operators' machines, not a wallet for real funds.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from aitbc.crypto import PrivateKey

NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class KeyError_(LookupError):
    pass


def aitbc_home() -> Path:
    return Path(os.environ.get("AITBC_HOME", Path.home() / ".aitbc"))


class Keyring:
    def __init__(self, directory: Path | None = None):
        self.directory = directory or aitbc_home() / "keys"

    def _path(self, name: str) -> Path:
        if not NAME_RE.match(name):
            raise KeyError_(f"bad key name {name!r}: use letters, digits, '.', '_' or '-'")
        return self.directory / f"{name}.json"

    def add(self, name: str, key: PrivateKey | None = None, overwrite: bool = False) -> PrivateKey:
        """Store `key` (or a new one) under `name`."""
        path = self._path(name)
        if path.exists() and not overwrite:
            raise KeyError_(f"key {name!r} already exists in {self.directory}")
        key = key or PrivateKey.generate()
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"name": name, "address": key.address, "public_key": key.public_key.hex(),
                                   "private_key": key.seed.hex()}, indent=2))
        tmp.chmod(0o600)
        tmp.replace(path)
        return key

    def get(self, name_or_address: str) -> PrivateKey:
        """A key by name, or by address among the stored keys."""
        if NAME_RE.match(name_or_address) and self._path(name_or_address).exists():
            return PrivateKey.from_hex(json.loads(self._path(name_or_address).read_text())["private_key"])
        for entry in self.list():
            if entry["address"] == name_or_address:
                return self.get(entry["name"])
        raise KeyError_(f"no key {name_or_address!r} in {self.directory} (see `aitbc keys list`)")

    def list(self) -> list[dict[str, str]]:
        if not self.directory.exists():
            return []
        entries = []
        for path in sorted(self.directory.glob("*.json")):
            data = json.loads(path.read_text())
            entries.append({"name": data["name"], "address": data["address"], "public_key": data["public_key"]})
        return entries
