"""Files holding secrets are 0600 from creation, in 0700 folders."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from aitbc import keyring as keyring_mod
from aitbc.keyring import Keyring, write_secret
from aitbc.ops.testnet import STATE_FILE, Testnet


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_keys_are_0600_in_a_0700_folder_even_under_a_lax_umask(tmp_path):
    old = os.umask(0o000)  # the worst case: nothing masked
    try:
        ring = Keyring(tmp_path / "keys")
        ring.add("alice")
    finally:
        os.umask(old)
    assert mode(tmp_path / "keys") == 0o700
    assert mode(tmp_path / "keys" / "alice.json") == 0o600
    assert [p.name for p in (tmp_path / "keys").iterdir()] == ["alice.json"]  # no temp file left


def test_an_existing_open_keys_folder_is_narrowed(tmp_path):
    (tmp_path / "keys").mkdir(mode=0o755)
    (tmp_path / "keys").chmod(0o755)
    Keyring(tmp_path / "keys").add("bob")
    assert mode(tmp_path / "keys") == 0o700


def test_an_old_open_keys_folder_is_narrowed_when_read(tmp_path):
    Keyring(tmp_path / "keys").add("dave")
    (tmp_path / "keys").chmod(0o755)
    Keyring(tmp_path / "keys").get("dave")
    assert mode(tmp_path / "keys") == 0o700


def test_the_secret_is_never_readable_by_others_while_written(tmp_path, monkeypatch):
    seen = []
    real_fdopen = os.fdopen

    def spy(fd, *args, **kwargs):
        seen.append(stat.S_IMODE(os.fstat(fd).st_mode))  # the mode the temp file was created with
        return real_fdopen(fd, *args, **kwargs)

    monkeypatch.setattr(keyring_mod.os, "fdopen", spy)
    old = os.umask(0o000)
    try:
        write_secret(tmp_path / "s.json", "{}")
    finally:
        os.umask(old)
    assert seen == [0o600] and mode(tmp_path / "s.json") == 0o600


def test_testnet_json_with_api_keys_is_0600_in_a_0700_folder(tmp_path):
    directory = tmp_path / "net"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    net = Testnet(directory, {"chain_id": "x", "nodes": [], "services": {
        "coordinator": {"client_api_key": "secret", "admin_api_key": "secret2"}}})
    net.save()
    assert mode(directory / STATE_FILE) == 0o600 and mode(directory) == 0o700


def test_an_old_open_testnet_json_is_narrowed_when_loaded(tmp_path):
    directory = tmp_path / "net"
    directory.mkdir()
    (directory / STATE_FILE).write_text('{"chain_id": "x", "nodes": [], "services": {}}')
    (directory / STATE_FILE).chmod(0o644)
    Testnet.load(directory)
    assert mode(directory / STATE_FILE) == 0o600 and mode(directory) == 0o700
