"""`aitbc testnet env` and `status` over a recorded testnet whose processes are not running."""

from __future__ import annotations

import subprocess

from click.testing import CliRunner

from aitbc.ops.testnet import Testnet
from aitbc.cli.context import Context
from aitbc.cli.main import cli


def recorded(directory, coordinator: bool = True) -> Testnet:
    services = {"coordinator": {"name": "coordinator", "pid": None, "ok": True, "url": "http://127.0.0.1:9",
                                "client_api_key": "k3y'with quote", "admin_api_key": "adm"}} if coordinator else {}
    net = Testnet(directory, {"chain_id": "aitbc-testnet", "services": services, "nodes": [
        {"index": 0, "home": str(directory / "node0"), "ports": {"rpc": 9, "p2p": 10, "abci": 11}, "node_id": "x",
         "validator": True}]})
    directory.mkdir()
    net.save()
    return net


def run(*args: str):
    return CliRunner().invoke(cli, list(args), obj=Context(), catch_exceptions=False)


def test_env_sets_node_url_and_key_for_eval(tmp_path):
    recorded(tmp_path / "net")
    out = run("testnet", "env", "--dir", str(tmp_path / "net"))
    assert out.exit_code == 0, out.output
    shell = subprocess.run(["bash", "-c", out.stdout + '\nprintf "%s|%s|%s" "$AITBC_NODE" "$AITBC_URL" "$AITBC_API_KEY"'],
                           capture_output=True, text=True)
    assert shell.stdout == "http://127.0.0.1:9|http://127.0.0.1:9|k3y'with quote"


def test_env_without_coordinator_sets_only_the_node(tmp_path):
    recorded(tmp_path / "net", coordinator=False)
    out = run("testnet", "env", "--dir", str(tmp_path / "net"))
    assert out.stdout.strip() == "export AITBC_NODE=http://127.0.0.1:9"


def test_status_of_a_stopped_testnet_says_down_and_exits_non_zero(tmp_path):
    recorded(tmp_path / "net", coordinator=False)
    out = run("testnet", "status", "--dir", str(tmp_path / "net"))
    assert out.exit_code == 1 and "is down" in out.stderr and "agree" not in out.stdout


def test_up_with_coordinator_prints_its_url_and_client_key(tmp_path, monkeypatch):
    import importlib
    from aitbc.ops import testnet as tn

    net = recorded(tmp_path / "net", coordinator=False)
    monkeypatch.setattr(importlib.import_module("aitbc.cli.testnet.up"), "_prepare", lambda *a, **k: net)
    monkeypatch.setattr(Testnet, "start", lambda self, *a, **k: None)
    monkeypatch.setattr(Testnet, "heights", lambda self: {0: 3})
    monkeypatch.setattr(Testnet, "wait_for_height", lambda self, *a, **k: None)
    monkeypatch.setattr(tn, "start_coordinator", lambda n: {"name": "coordinator", "ok": True, "pid": 1,
                                                             "url": "http://127.0.0.1:9", "client_api_key": "ck-1",
                                                             "log": "x"})
    out = run("testnet", "up", "--dir", str(tmp_path / "net"), "--with-coordinator")
    assert out.exit_code == 0, out.output
    assert "coordinator http://127.0.0.1:9  client API key ck-1" in out.stdout
    assert f'eval "$(aitbc testnet env --dir {tmp_path / "net"})"' in out.stdout
