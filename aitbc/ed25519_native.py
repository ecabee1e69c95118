"""The chain's ed25519 rule (ZIP-215, small-order keys refused), from the small Go
library in native/ed25519.

`make setup` builds it (curve25519-voi through cgo) into the per-user tool cache; this
module finds it there, or at $AITBC_ED25519_LIB. ctypes releases the GIL for each call,
so batches checked from several threads run on several cores.
"""

from __future__ import annotations

import array
import ctypes
import os
from collections.abc import Sequence
from pathlib import Path

# Keep in step with native/ed25519/ed25519.go (`version`, which says when to bump it) and
# ED25519_VERSION in scripts/setup.sh.
LIBRARY_VERSION = 1
LIBRARY_NAME = "libaitbc_ed25519.so"


def tools_dir() -> Path:
    """The per-user cache that set-up builds external tools into."""
    return Path(os.environ.get("AITBC_TOOLS") or Path.home() / ".cache" / "aitbc" / "tools")


def library_path() -> Path:
    """Where the library is expected: $AITBC_ED25519_LIB, else set-up's cache."""
    override = os.environ.get("AITBC_ED25519_LIB")
    if override:
        return Path(override)
    return tools_dir() / f"aitbc-ed25519-v{LIBRARY_VERSION}" / LIBRARY_NAME


class LibraryError(OSError):
    """The library is there but unusable: not a shared library, or not the version expected."""


class NativeVerifier:
    """Batches of (public key, message, signature) checked under the chain's rule."""

    def __init__(self, path: Path):
        try:
            lib = ctypes.CDLL(str(path))
            found = lib.aitbc_ed25519_version()
        except (OSError, AttributeError) as err:
            raise LibraryError(f"{path} is not a usable libaitbc_ed25519 ({err})") from None
        if found != LIBRARY_VERSION:
            raise LibraryError(f"{path} is version {found}, this code needs version {LIBRARY_VERSION}")
        self._batch = lib.aitbc_ed25519_verify_batch
        self._batch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                                ctypes.c_void_p, ctypes.c_char_p]
        self._batch.restype = ctypes.c_int

    def verify_many(self, items: Sequence[tuple[bytes, bytes, bytes]]) -> list[bool]:
        """Whether each signature is valid. Raises ValueError for a key or signature of the
        wrong size (crypto.verify_many answers those False without asking)."""
        if not items:
            return []
        keys, messages, signatures = zip(*items)
        if any(len(k) != 32 for k in keys) or any(len(s) != 64 for s in signatures):
            raise ValueError("ed25519 public keys are 32 bytes and signatures 64")
        lengths = array.array("I", map(len, messages))
        out = ctypes.create_string_buffer(len(items))
        self._batch(len(items), b"".join(keys), b"".join(signatures), b"".join(messages),
                    lengths.buffer_info()[0], out)
        return [b == 1 for b in out.raw]


def load() -> NativeVerifier | None:
    """The library, or None where there is none. Raises LibraryError for one that is unusable."""
    path = library_path()
    if not path.is_file():
        return None
    return NativeVerifier(path)
