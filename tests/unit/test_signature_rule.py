"""The chain's signature rule (aitbc/crypto.py, native/ed25519): ZIP-215 with small-order
public keys refused, the same answer for a signature alone and inside any batch."""

import hashlib
import os
import subprocess
import sys

import pytest

from aitbc import crypto

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
IDENTITY = (1).to_bytes(32, "little")  # the neutral point: small order


def _scalar(data: bytes) -> int:
    return int.from_bytes(hashlib.sha512(data).digest(), "little") % L


def _negated(point: bytes) -> bytes:
    """The encoding of R + T, T the point of order 2 (0, -1): (x, y) becomes (-x, -y)."""
    y = int.from_bytes(point, "little") & ((1 << 255) - 1)
    sign = point[31] >> 7
    return ((P - y) % P | ((sign ^ 1) << 255)).to_bytes(32, "little")


def mixed_order_r_signature(seed: bytes, message: bytes) -> tuple[bytes, bytes]:
    """(public key, signature) whose R carries a small-order component: it satisfies the
    cofactored equation that ZIP-215 checks and not the cofactorless one libsodium checks."""
    key = crypto.PrivateKey(seed)
    expanded = hashlib.sha512(seed).digest()
    a = int.from_bytes(expanded[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    honest = key.sign(message)
    r = _scalar(expanded[32:] + message)  # the nonce behind honest[:32] (RFC 8032)
    crafted_r = _negated(honest[:32])
    h = _scalar(crafted_r + key.public_key + message)
    s = (r + h * a) % L
    return key.public_key, crafted_r + s.to_bytes(32, "little")


@pytest.fixture(autouse=True)
def chain_rule():
    crypto.require_chain_rule()


def test_honest_and_tampered_signatures_alone_and_in_a_batch():
    keys = [crypto.PrivateKey(bytes([i]) * 32) for i in range(70)]
    items = [(k.public_key, b"tx %d" % i, k.sign(b"tx %d" % i)) for i, k in enumerate(keys)]
    bad_message = (items[3][0], b"another tx", items[3][2])
    flipped = (items[4][0], items[4][1], items[4][2][:-1] + bytes([items[4][2][-1] ^ 1]))
    wrong_sizes = [(b"\x01" * 31, b"m", bytes(64)), (items[5][0], b"m", bytes(63))]
    batch = items + [bad_message, flipped, *wrong_sizes]
    expected = [True] * len(items) + [False] * 4
    assert crypto.verify_many(batch) == expected
    assert [crypto.verify(*item) for item in batch] == expected
    assert crypto.verify_many([]) == []


def test_a_small_order_public_key_is_refused():
    # S = 0, R = A = the neutral point: the ZIP-215 equation holds for every message.
    signature = IDENTITY + bytes(32)
    assert not crypto.verify(IDENTITY, b"pay me", signature)
    assert not crypto.libsodium_verify(IDENTITY, b"pay me", signature)


def test_zip215_accepts_what_libsodium_refuses_and_batches_agree():
    public_key, signature = mixed_order_r_signature(bytes(range(32)), b"crafted")
    assert not crypto.libsodium_verify(public_key, b"crafted", signature)
    assert crypto.verify(public_key, b"crafted", signature)
    honest = crypto.PrivateKey(bytes(32))
    batch = [(public_key, b"crafted", signature), (public_key, b"other", signature)]
    batch += [(honest.public_key, b"m%d" % i, honest.sign(b"m%d" % i)) for i in range(40)]
    assert crypto.verify_many(batch) == [True, False] + [True] * 40
    assert crypto.verify_many(batch[:1] + batch[2:]) == [True] * 41


def test_a_non_canonical_s_is_refused():
    key = crypto.PrivateKey(bytes([9]) * 32)
    signature = key.sign(b"m")
    s = int.from_bytes(signature[32:], "little") + L  # the same scalar, not reduced
    assert not crypto.verify(key.public_key, b"m", signature[:32] + s.to_bytes(32, "little"))


def test_without_the_library_a_client_is_stricter_and_the_app_will_not_start(tmp_path):
    env = {**os.environ, "AITBC_ED25519_LIB": str(tmp_path / "missing.so")}
    public_key, signature = mixed_order_r_signature(bytes(range(32)), b"crafted")
    honest = crypto.PrivateKey(bytes(32))
    code = ("from aitbc import crypto; print(crypto.verify_many(["
            f"({public_key!r}, b'crafted', {signature!r}), ({honest.public_key!r}, b'm', {honest.sign(b'm')!r})]))")
    client = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert client.stdout.strip() == "[False, True]", client.stderr
    app = subprocess.run([sys.executable, "-m", "aitbc.abci_app", "--home", str(tmp_path / "home")],
                         env=env, capture_output=True, text=True, timeout=60)
    assert app.returncode == 2
    assert "the chain's ed25519 library is missing" in app.stderr and "make setup" in app.stderr
    assert not (tmp_path / "home" / "data").exists()  # nothing opened


def test_an_unusable_library_is_reported_once_and_treated_as_missing(tmp_path):
    not_a_library = tmp_path / "libaitbc_ed25519.so"
    not_a_library.write_text("not a shared library")
    env = {**os.environ, "AITBC_ED25519_LIB": str(not_a_library)}
    honest = crypto.PrivateKey(bytes(32))
    code = (f"from aitbc import crypto; print(crypto.verify({honest.public_key!r}, b'm', {honest.sign(b'm')!r}), "
            f"crypto.verify({honest.public_key!r}, b'n', {honest.sign(b'm')!r}), crypto.chain_rule_loaded())")
    client = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert client.stdout.split() == ["True", "False", "False"], client.stderr
    assert client.stderr.count("is not a usable libaitbc_ed25519") == 1
    app = subprocess.run([sys.executable, "-m", "aitbc.abci_app", "--home", str(tmp_path / "home")],
                         env=env, capture_output=True, text=True, timeout=60)
    assert app.returncode == 2 and "is not a usable libaitbc_ed25519" in app.stderr and "make setup" in app.stderr


def _not_a_point() -> bytes:
    """A 32-byte key that decodes to no curve point (no x for its y)."""
    d = -121665 * pow(121666, P - 2, P) % P
    for y in range(2, 100):
        u, v = (y * y - 1) % P, (d * y * y + 1) % P
        x2 = u * pow(v, P - 2, P) % P
        if pow(x2, (P - 1) // 2, P) == P - 1:  # not a square
            return y.to_bytes(32, "little")
    raise AssertionError("no such y below 100")


def test_a_signer_seen_before_gets_the_same_answers():
    # The library keeps the expanded keys of signers it saw sign validly (native/ed25519):
    # whatever it holds, every answer must be the one a first sight of the key gives.
    public_key, crafted = mixed_order_r_signature(bytes(range(32)), b"crafted")
    honest = crypto.PrivateKey(bytes([42]) * 32)
    signed = honest.sign(b"m")
    cases = [
        ((honest.public_key, b"m", signed), True),
        ((honest.public_key, b"n", signed), False),                                    # another message
        ((honest.public_key, b"m", signed[:-1] + bytes([signed[-1] ^ 1])), False),     # tampered
        ((public_key, b"crafted", crafted), True),                                     # ZIP-215 only
        ((public_key, b"other", crafted), False),
        ((IDENTITY, b"pay me", IDENTITY + bytes(32)), False),                          # small order
        ((_not_a_point(), b"m", signed), False),
    ]
    expected = [ok for _, ok in cases]
    items = [item for item, _ in cases]
    for _ in range(3):  # first sight, then with the keys kept
        assert [crypto.verify(*item) for item in items] == expected
        assert crypto.verify_many(items) == expected
        assert crypto.verify_many(items * 20) == expected * 20  # a batch past the library's precomputed size


def test_more_signers_than_the_library_keeps_are_all_checked():
    keys = [crypto.PrivateKey((i + 1).to_bytes(4, "big") * 8) for i in range(4500)]  # the library keeps 4096
    items = [(k.public_key, b"tx", k.sign(b"tx")) for k in keys]
    forged = [(k.public_key, b"tx", bytes(64)) for k in keys[::500]]
    for _ in range(2):
        assert crypto.verify_many(items + forged) == [True] * len(items) + [False] * len(forged)
