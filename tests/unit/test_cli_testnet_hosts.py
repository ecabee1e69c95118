"""`aitbc testnet init --hosts` and `aitbc node join`: the homes they write (no process started)."""

from __future__ import annotations

import json
import tomllib

import pytest
from click.testing import CliRunner

from aitbc.cli.context import Context
from aitbc.cli.main import cli
from aitbc.ops import hosts as hostnet


def run(*args: str):
    return CliRunner().invoke(cli, list(args), obj=Context(), catch_exceptions=False)


def config(home) -> dict:
    return tomllib.loads((home / "cometbft" / "config" / "config.toml").read_text())


def test_host_entries_and_port_scheme():
    specs = hostnet.parse_hosts("10.0.0.1, node2.example.org:27000,10.0.0.1:26700")
    assert [(s.host, s.p2p, s.ports.rpc, s.ports.abci) for s in specs] == [
        ("10.0.0.1", 26656, 26657, 26658), ("node2.example.org", 27000, 27001, 27002),
        ("10.0.0.1", 26700, 26701, 26702)]
    for bad in ("", "10.0.0.1,10.0.0.1", "10.0.0.1,10.0.0.1:26657", "10.0.0.1,10.0.0.1:26660", "host:x", "::1",
                "a b"):
        with pytest.raises(hostnet.HostsError):
            hostnet.parse_hosts(bad)
    with pytest.raises(hostnet.HostsError):
        hostnet.parse_peers("abc@10.0.0.1:26656")


def test_init_writes_one_ready_home_per_host(tmp_path, monkeypatch):
    monkeypatch.setenv("AITBC_HOME", str(tmp_path / "aitbc"))
    out = run("--json", "testnet", "init", "--hosts", "10.0.0.1,10.0.0.2,10.0.0.3:27000", "--out",
              str(tmp_path / "net"), "--chain-id", "multi", "--fund", "aitbc1extra")
    assert out.exit_code == 0, out.output
    nodes = json.loads(out.stdout)["nodes"]
    assert json.loads((tmp_path / "net" / "hosts.json").read_text())["nodes"] == nodes
    genesis = {(tmp_path / "net" / f"node{i}" / "cometbft" / "config" / "genesis.json").read_bytes() for i in range(3)}
    assert len(genesis) == 1
    parsed = json.loads(genesis.pop())
    assert parsed["chain_id"] == "multi" and len(parsed["validators"]) == 3
    assert "aitbc1extra" in {a["address"] for a in parsed["app_state"]["accounts"]}
    home = tmp_path / "net" / "node2"
    cfg = config(home)
    assert cfg["rpc"]["laddr"] == "tcp://0.0.0.0:27001" and cfg["p2p"]["laddr"] == "tcp://0.0.0.0:27000"
    assert cfg["proxy_app"] == "tcp://127.0.0.1:27002"
    assert cfg["p2p"]["external_address"] == "10.0.0.3:27000"
    assert cfg["p2p"]["persistent_peers"].split(",") == [nodes[0]["peer"], nodes[1]["peer"]]
    assert nodes[0]["peer"].endswith("@10.0.0.1:26656") and cfg["p2p"]["allow_duplicate_ip"] is False
    assert json.loads((home / "node.json").read_text())["ports"]["rpc"] == 27001  # what `aitbc node start` reads
    # Metrics on P+3 (cometbft) and P+4 (the app), on the listen address: a Prometheus elsewhere scrapes them.
    assert cfg["instrumentation"]["prometheus"] is True
    assert cfg["instrumentation"]["prometheus_listen_addr"] == "0.0.0.0:27003"
    from aitbc.ops import nodehome
    app = nodehome.app_command("python", home, nodehome.read_ports(home))
    assert app[app.index("--metrics-address") + 1] == "0.0.0.0:27004"
    again = run("testnet", "init", "--hosts", "10.0.0.1", "--out", str(tmp_path / "net"))
    assert again.exit_code != 0 and "--force" in again.output


def test_join_writes_a_full_node_home(tmp_path, monkeypatch):
    monkeypatch.setenv("AITBC_HOME", str(tmp_path / "aitbc"))
    assert run("testnet", "init", "--hosts", "10.0.0.1,10.0.0.2", "--out", str(tmp_path / "net")).exit_code == 0
    nodes = json.loads((tmp_path / "net" / "hosts.json").read_text())["nodes"]
    genesis = tmp_path / "net" / "node0" / "cometbft" / "config" / "genesis.json"
    peers = ",".join(n["peer"] for n in nodes)
    out = run("--json", "node", "join", "--home", str(tmp_path / "joined"), "--genesis", str(genesis),
              "--peers", peers, "--host", "10.0.0.5:26700")
    assert out.exit_code == 0, out.output
    joined = tmp_path / "joined"
    assert (joined / "cometbft" / "config" / "genesis.json").read_bytes() == genesis.read_bytes()
    cfg = config(joined)
    assert cfg["p2p"]["persistent_peers"] == peers and cfg["p2p"]["external_address"] == "10.0.0.5:26700"
    assert cfg["statesync"]["enable"] is False
    assert json.loads((joined / "node.json").read_text())["chain_id"] == "aitbc-net"
    bad = run("node", "join", "--home", str(tmp_path / "j2"), "--genesis", str(genesis), "--peers", "x@y:1")
    assert bad.exit_code == 2
    nosync = run("node", "join", "--home", str(tmp_path / "j3"), "--genesis", str(genesis), "--peers", peers,
                 "--state-sync")
    assert nosync.exit_code == 2 and "--rpc-servers" in nosync.output
