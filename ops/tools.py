"""Where the external binaries are: env override, PATH, then set-up's cache."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from aitbc.ed25519_native import tools_dir

COMETBFT_VERSION = "v0.38.25"
OLLAMA_VERSION = "v0.11.4"


class ToolMissing(RuntimeError):
    pass


def cometbft() -> str:
    """Path of the cometbft binary of the pinned version."""
    cached = tools_dir() / f"cometbft-{COMETBFT_VERSION}" / "cometbft"
    for candidate in (os.environ.get("AITBC_COMETBFT"), str(cached)):
        if candidate and Path(candidate).is_file():
            return candidate
    found = shutil.which("cometbft")
    if found:
        return found
    raise ToolMissing("cometbft not found: run `make setup` (or set AITBC_COMETBFT)")
