"""Generate Python code for CometBFT's ABCI protos and our own.

CometBFT's ``.proto`` files are taken from the Go module cache of the very
version that set-up installed (``go mod download -json``), gogoproto from the
module that cometbft's go.mod names. Output goes to ``gen/`` (git-ignored);
a stamp of the inputs makes repeated runs free.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def module_dir(module: str, version: str) -> Path:
    """Download (or find) a Go module and return its directory in the module cache."""
    out = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        check=True, capture_output=True, text=True, cwd="/",
    )
    return Path(json.loads(out.stdout)["Dir"])


def gogoproto_version(cometbft_dir: Path) -> str:
    match = re.search(r"github\.com/cosmos/gogoproto (v\S+)", (cometbft_dir / "go.mod").read_text())
    if not match:
        sys.exit("cannot find github.com/cosmos/gogoproto in cometbft's go.mod")
    return match.group(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cometbft-version", default="v0.38.25")
    parser.add_argument("--out", default="gen")
    args = parser.parse_args()
    out = Path(args.out).resolve()

    cometbft = module_dir("github.com/cometbft/cometbft", args.cometbft_version)
    gogo = module_dir("github.com/cosmos/gogoproto", gogoproto_version(cometbft))
    tm_root, own_root = cometbft / "proto", HERE

    sources = sorted(p.relative_to(tm_root) for p in (tm_root / "tendermint").rglob("*.proto"))
    own = sorted(p.relative_to(own_root) for p in (own_root / "aitbc_pb").rglob("*.proto"))
    wanted = [str(p) for p in sources] + ["gogoproto/gogo.proto"] + [str(p) for p in own]

    digest = hashlib.sha256(args.cometbft_version.encode())
    for rel in own:
        digest.update((own_root / rel).read_bytes())
    stamp = out / ".stamp"
    if stamp.exists() and stamp.read_text() == digest.hexdigest():
        return

    import grpc_tools
    from grpc_tools import protoc

    google_protos = Path(grpc_tools.__file__).parent / "_proto"
    out.mkdir(parents=True, exist_ok=True)
    argv = ["protoc", f"-I{tm_root}", f"-I{gogo}", f"-I{own_root}", f"-I{google_protos}",
            f"--python_out={out}", *wanted]
    if protoc.main(argv) != 0:
        sys.exit("protoc failed")
    for pkg in {p.parent for p in out.rglob("*_pb2.py")}:
        while pkg != out:
            (pkg / "__init__.py").touch()
            pkg = pkg.parent
    stamp.write_text(digest.hexdigest())
    print(f"[setup] generated protobuf code in {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
