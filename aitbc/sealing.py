"""Sealed prompts and results of direct jobs (X25519 + XSalsa20-Poly1305, PyNaCl).

A direct job carries its prompt on chain, so the prompt and the result are sealed:
- every account has an X25519 *encryption key*, derived from its ed25519 seed
  under its own domain (key separation without a second secret to keep); a miner
  registers the public half on chain;
- the client derives a per-job *job key* from its seed and the job id, so it can
  always open its result again, with nothing stored;
- the prompt and the result travel in a SecretBox under the job key, and the job
  key travels in a SealedBox to each miner allowed to read it (the candidates,
  later a spot checker).

Anyone else sees only ciphertext: the chain checks the proof against the prompt
and result *hashes*, and the client checks the opened result against the receipt.
"""

from __future__ import annotations

import hashlib
import hmac

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey as X25519PrivateKey, PublicKey as X25519PublicKey, SealedBox
from nacl.secret import SecretBox

from aitbc.crypto import PrivateKey

ENCRYPTION_KEY_SIZE = 32
JOB_KEY_SIZE = SecretBox.KEY_SIZE
SEALED_KEY_SIZE = JOB_KEY_SIZE + 48      # SealedBox: ephemeral public key + MAC
BOX_OVERHEAD = SecretBox.NONCE_SIZE + SecretBox.MACBYTES
MAX_PROMPT_BYTES = 8 * 1024               # a direct job's prompt, before sealing
MAX_RESULT_BYTES = 12 * 1024              # a direct job's result, before sealing
MAX_CANDIDATES = 4


class SealingError(ValueError):
    """A sealed value that does not open with this key (wrong key, or tampered)."""


def encryption_private_key(key: PrivateKey) -> X25519PrivateKey:
    """The account's X25519 key: derived from its ed25519 seed, never the same bytes."""
    return X25519PrivateKey(hashlib.sha256(b"aitbc/x25519/v1\n" + key.seed).digest())


def encryption_public_key(key: PrivateKey) -> bytes:
    """What a miner registers on chain (`encryption_key`)."""
    return bytes(encryption_private_key(key).public_key)


def job_key(client: PrivateKey, job_id: str) -> bytes:
    """The job key of `client`'s job `job_id`: re-derivable by the client alone."""
    return hmac.new(client.seed, b"aitbc/job-key/v1\n" + job_id.encode(), hashlib.sha256).digest()


def seal_job_key(key: bytes, recipient_encryption_key: bytes) -> bytes:
    """The job key in a SealedBox only `recipient_encryption_key`'s owner can open."""
    if len(recipient_encryption_key) != ENCRYPTION_KEY_SIZE:
        raise SealingError("an encryption key is 32 bytes")
    return SealedBox(X25519PublicKey(recipient_encryption_key)).encrypt(key)


def open_job_key(sealed: bytes, own: PrivateKey) -> bytes:
    """Open a job key sealed to `own`'s encryption key. Raises SealingError."""
    try:
        key = SealedBox(encryption_private_key(own)).decrypt(sealed)
    except (CryptoError, ValueError, TypeError):
        raise SealingError("the job key is not sealed to this account's encryption key") from None
    if len(key) != JOB_KEY_SIZE:
        raise SealingError("a job key is 32 bytes")
    return key


def seal_text(key: bytes, text: str) -> bytes:
    """`text` (UTF-8) in a SecretBox under the job key, with a random nonce."""
    return bytes(SecretBox(key).encrypt(text.encode()))


def open_text(key: bytes, sealed: bytes) -> str:
    """Open what `seal_text` sealed. Raises SealingError."""
    try:
        return SecretBox(key).decrypt(sealed).decode()
    except (CryptoError, ValueError, TypeError, UnicodeDecodeError):
        raise SealingError("the sealed text does not open with this job key") from None
