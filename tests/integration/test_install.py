"""The package as a user installs it: a wheel built from this checkout, installed into a
fresh virtualenv outside it, runs a chain in an empty directory.

Nothing of the checkout is importable in that venv (no PYTHONPATH, cwd elsewhere), so
this catches what an editable install hides: missing package data, generated protobuf
code that only exists in the source tree, imports of top-level folder names.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from aitbc.ops import procs

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _run(cmd: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600):
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{cmd} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)], cwd=out)
    (built,) = out.glob("aitbc-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel) -> Path:
    """A fresh virtualenv with only the wheel (and its declared dependencies) installed."""
    where = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", str(where)], cwd=where)
    _run([str(where / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)], cwd=where)
    return where


def test_the_wheel_installs_one_namespace_with_its_generated_code_and_data(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.startswith("aitbc-0")}
    assert tops == {"aitbc"}, f"generic top-level names would land in site-packages: {tops}"
    assert "aitbc/pb/tendermint/abci/types_pb2.py" in names and "aitbc/pb/aitbc_pb/tx_pb2.py" in names
    assert "aitbc/ops/cometbft-config/single-node.toml" in names
    assert not [n for n in names if n.endswith(".pth")]
    generated = zipfile.ZipFile(wheel).read("aitbc/pb/tendermint/abci/types_pb2.py").decode()
    assert "from tendermint." not in generated and "from aitbc.pb.tendermint." in generated


def test_a_fresh_venv_runs_a_node_a_transfer_and_a_query_in_an_empty_directory(venv, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {"PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}", "HOME": os.environ["HOME"],
           "AITBC_HOME": str(tmp_path / "home")}
    for name in ("AITBC_TOOLS", "AITBC_COMETBFT", "AITBC_ED25519_LIB"):  # where set-up cached cometbft and the app's library
        if name in os.environ:
            env[name] = os.environ[name]
    located = _run([str(venv / "bin" / "python"), "-c", "import aitbc, aitbc.pb; print(aitbc.__file__)"],
                   cwd=empty, env=env).stdout
    assert str(venv) in located and str(ROOT) not in located

    aitbc = str(venv / "bin" / "aitbc")
    rpc, p2p, abci = (procs.free_port() for _ in range(3))
    env["AITBC_NODE"] = f"http://127.0.0.1:{rpc}"
    _run([aitbc, "node", "init", "--rpc-port", str(rpc), "--p2p-port", str(p2p), "--abci-port", str(abci)],
         cwd=empty, env=env, timeout=60)
    node = subprocess.Popen([aitbc, "node", "start"], cwd=empty, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _run([aitbc, "node", "status", "--wait", "60"], cwd=empty, env=env, timeout=90)
        before = json.loads(_run([aitbc, "query", "account", "bob", "--json"], cwd=empty, env=env).stdout)
        _run([aitbc, "tx", "transfer", "bob", "2.5", "--from", "alice"], cwd=empty, env=env, timeout=60)
        after = json.loads(_run([aitbc, "query", "account", "bob", "--json"], cwd=empty, env=env).stdout)
        assert after["balance"] - before["balance"] == 2_500_000
        assert node.poll() is None, node.stderr.read() if node.stderr else ""
    finally:
        os.killpg(node.pid, signal.SIGINT)
        try:
            node.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(node.pid, signal.SIGKILL)
            node.wait(timeout=10)
    assert not list(empty.iterdir()), "the CLI wrote into the working directory instead of $AITBC_HOME"
