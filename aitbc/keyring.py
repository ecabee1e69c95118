"""Local keys: one JSON file per named key under $AITBC_HOME/keys.

Development keys are stored unencrypted (files 0600 from creation, folder 0700); this is a keyring for
test chains and operators' machines, not a wallet for real funds.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from aitbc.crypto import PrivateKey

NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}\Z")


class KeyError_(LookupError):
    pass


def private_dir(directory: Path) -> Path:
    """`directory` (and missing parents) created 0700; an existing one is narrowed to 0700."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)  # mkdir's mode is masked by the umask and ignored for an existing folder
    return directory


def write_secret(path: Path, text: str) -> None:
    """Write `text` to `path` atomically, readable by the owner only from the first byte.

    The temp file is created 0600 by os.open (O_EXCL: never an existing file someone
    else prepared), so no other user can open it between the write and a chmod.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
        private_dir(self.directory)
        write_secret(path, json.dumps({"name": name, "address": key.address, "public_key": key.public_key.hex(),
                                       "private_key": key.seed.hex()}, indent=2))
        return key

    def get(self, name_or_address: str) -> PrivateKey:
        """A key by name, or by address among the stored keys."""
        if NAME_RE.match(name_or_address) and self._path(name_or_address).exists():
            if self.directory.stat().st_mode & 0o077:
                private_dir(self.directory)  # as in list()
            return PrivateKey.from_hex(json.loads(self._path(name_or_address).read_text())["private_key"])
        for entry in self.list():
            if entry["address"] == name_or_address:
                return self.get(entry["name"])
        raise KeyError_(f"no key {name_or_address!r} in {self.directory} (see `aitbc keys list`)")

    def list(self) -> list[dict[str, str]]:
        if not self.directory.exists():
            return []
        if self.directory.stat().st_mode & 0o077:
            private_dir(self.directory)  # a folder made 0755 by an older aitbc is narrowed on first use
        entries = []
        for path in sorted(self.directory.glob("*.json")):
            data = json.loads(path.read_text())
            entries.append({"name": data["name"], "address": data["address"], "public_key": data["public_key"]})
        return entries
