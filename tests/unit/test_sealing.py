"""aitbc.sealing: what a direct job seals, who can open it, and the sizes the chain checks."""

from __future__ import annotations

import pytest

from aitbc import sealing
from aitbc.crypto import PrivateKey

CLIENT, MINER, OTHER = PrivateKey(b"\x11" * 32), PrivateKey(b"\x22" * 32), PrivateKey(b"\x33" * 32)


def test_prompt_and_result_round_trip_under_the_job_key() -> None:
    key = sealing.job_key(CLIENT, "job_1")
    for text in ("why is the sky blue", "", "ünïcødé ✓ 漢字", "x" * sealing.MAX_PROMPT_BYTES):
        sealed = sealing.seal_text(key, text)
        assert len(sealed) == len(text.encode()) + sealing.BOX_OVERHEAD  # the chain's prompt_bytes check
        assert sealing.open_text(key, sealed) == text
    assert sealing.seal_text(key, "same") != sealing.seal_text(key, "same")  # a fresh nonce each time


def test_the_job_key_is_the_clients_alone_and_per_job() -> None:
    key = sealing.job_key(CLIENT, "job_1")
    assert key == sealing.job_key(CLIENT, "job_1") and len(key) == sealing.JOB_KEY_SIZE
    assert key != sealing.job_key(CLIENT, "job_2") and key != sealing.job_key(OTHER, "job_1")


def test_a_job_key_sealed_to_a_miner_opens_for_that_miner_only() -> None:
    key = sealing.job_key(CLIENT, "job_1")
    sealed = sealing.seal_job_key(key, sealing.encryption_public_key(MINER))
    assert len(sealed) == sealing.SEALED_KEY_SIZE
    assert sealing.open_job_key(sealed, MINER) == key
    with pytest.raises(sealing.SealingError, match="not sealed to this account"):
        sealing.open_job_key(sealed, OTHER)


def test_tampered_or_foreign_ciphertext_does_not_open() -> None:
    key = sealing.job_key(CLIENT, "job_1")
    sealed = bytearray(sealing.seal_text(key, "a result"))
    sealed[-1] ^= 1
    with pytest.raises(sealing.SealingError):
        sealing.open_text(key, bytes(sealed))
    with pytest.raises(sealing.SealingError):
        sealing.open_text(sealing.job_key(OTHER, "job_1"), sealing.seal_text(key, "a result"))
    with pytest.raises(sealing.SealingError):
        sealing.open_job_key(b"short", MINER)


def test_encryption_key_is_derived_not_the_signing_key() -> None:
    public = sealing.encryption_public_key(MINER)
    assert len(public) == sealing.ENCRYPTION_KEY_SIZE and public == sealing.encryption_public_key(MINER)
    assert public != MINER.public_key and public != sealing.encryption_public_key(OTHER)
    with pytest.raises(sealing.SealingError, match="32 bytes"):
        sealing.seal_job_key(sealing.job_key(CLIENT, "j"), public[:31])
