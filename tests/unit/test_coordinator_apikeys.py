"""API keys: hashed with a pepper, roles, constant-time lookup."""

import pytest

from aitbc.coordinator.apikeys import ApiKeys, hash_key
from aitbc.coordinator.errors import Unauthenticated
from aitbc.coordinator.store import Store


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "c.db")
    yield s
    s.close()


def test_hash_depends_on_pepper_and_key():
    assert hash_key("k", "p1") != hash_key("k", "p2")
    assert hash_key("k1", "p") != hash_key("k2", "p")
    assert len(hash_key("k", "p")) == 64


def test_keys_are_stored_hashed_never_in_clear(store, tmp_path):
    keys = ApiKeys(store)
    key = keys.create("client", "alice's laptop")
    assert key.startswith("aitbc_cli_")
    raw = (tmp_path / "c.db").read_bytes()
    assert key.encode() not in raw
    assert keys.authenticate(key).role == "client"


def test_roles_and_unknown_or_missing_key(store):
    keys = ApiKeys(store, pepper="fixed")
    keys.add("admin-key", "admin")
    keys.add("client-key", "client")
    assert keys.authenticate("admin-key").is_admin
    assert not keys.authenticate("client-key").is_admin
    with pytest.raises(Unauthenticated, match="not a known API key"):
        keys.authenticate("nope")
    with pytest.raises(Unauthenticated, match="missing X-Api-Key"):
        keys.authenticate(None)
    with pytest.raises(ValueError):
        keys.add("x", "root")


def test_pepper_is_made_once_per_deployment(store):
    first = ApiKeys(store)
    key = first.create("admin")
    again = ApiKeys(store)  # a restart reads the same pepper back
    assert again.pepper == first.pepper
    assert again.authenticate(key).role == "admin"


def test_a_key_added_by_another_process_works_at_once(store, tmp_path):
    # The coordinator keeps the keys it found; `add-key` writes through its own connection.
    keys = ApiKeys(store, pepper="fixed")
    keys.add("first", "client")
    assert keys.authenticate("first").role == "client"
    with pytest.raises(Unauthenticated):
        keys.authenticate("second")
    other = Store(tmp_path / "c.db")
    try:
        ApiKeys(other, pepper="fixed").add("second", "admin")
    finally:
        other.close()
    assert keys.authenticate("second").is_admin
    assert keys.authenticate("first").role == "client"
