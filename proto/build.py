"""Generate Python code for CometBFT's ABCI protos and our own.

CometBFT's ``.proto`` files are taken from the Go module cache of the very
version that set-up installed (``go mod download -json``), gogoproto from the
module that cometbft's go.mod names. The output is the package ``aitbc.pb``:
protoc writes absolute imports (``from tendermint.crypto import ...``), which
are rewritten to live under ``aitbc.pb`` so that no generic top-level module is
installed. Set-up writes it into the source tree (``aitbc/pb/``, git-ignored);
``setup.py`` writes it into the build when a wheel is built. A stamp of the
inputs makes repeated runs free.
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
PACKAGE = "aitbc.pb"
ROOTS = ("tendermint", "gogoproto", "aitbc_pb")
_IMPORT = re.compile(rf"^from ({'|'.join(ROOTS)})([. ])", re.M)
_MODULE_NAME = re.compile(rf"(BuildTopDescriptorsAndMessages\(DESCRIPTOR, ')(({'|'.join(ROOTS)})\.)")


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


def _nest(source: str) -> str:
    """Move one generated module's imports and registered name under ``aitbc.pb``."""
    return _MODULE_NAME.sub(rf"\1{PACKAGE}.\2", _IMPORT.sub(rf"from {PACKAGE}.\1\2", source))


def generate(out: Path, cometbft_version: str = "v0.38.25") -> None:
    """Write the ``aitbc.pb`` package into ``out`` (unless its stamp says it is current)."""
    out = out.resolve()
    cometbft = module_dir("github.com/cometbft/cometbft", cometbft_version)
    gogo = module_dir("github.com/cosmos/gogoproto", gogoproto_version(cometbft))
    tm_root, own_root = cometbft / "proto", HERE

    sources = sorted(p.relative_to(tm_root) for p in (tm_root / "tendermint").rglob("*.proto"))
    own = sorted(p.relative_to(own_root) for p in (own_root / "aitbc_pb").rglob("*.proto"))
    wanted = [str(p) for p in sources] + ["gogoproto/gogo.proto"] + [str(p) for p in own]

    digest = hashlib.sha256(cometbft_version.encode())
    digest.update(Path(__file__).read_bytes())
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
    for module in out.rglob("*_pb2.py"):
        module.write_text(_nest(module.read_text()))
        pkg = module.parent
        while pkg != out:
            (pkg / "__init__.py").touch()
            pkg = pkg.parent
    (out / "__init__.py").write_text('"""Generated protobuf code (CometBFT ABCI and ours); a build output."""\n')
    stamp.write_text(digest.hexdigest())
    print(f"[setup] generated protobuf code in {out}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cometbft-version", default="v0.38.25")
    parser.add_argument("--out", default=str(HERE.parent / "aitbc" / "pb"))
    args = parser.parse_args()
    generate(Path(args.out), args.cometbft_version)


if __name__ == "__main__":
    main()
