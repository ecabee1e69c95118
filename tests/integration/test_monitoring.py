"""`aitbc testnet up --with-monitoring` for real: two validators, a coordinator, a miner on
the tiny model, and Debian's Prometheus scraping them all. promtool accepts the generated
config and every /metrics body; Prometheus finds every target up and has the app's
metrics; the explorer's network page renders against a real node, with Prometheus'
plots too; `aitbc testnet down` stops Prometheus with the rest."""

from __future__ import annotations

import shutil
import subprocess
import time
import warnings

import httpx
import pytest
from click.testing import CliRunner

from aitbc.cli.context import Context
from aitbc.cli.main import cli
from aitbc.explorer.web import ExplorerSettings, create_app
from aitbc.ops import monitoring, procs, testnet as tn
from aitbc.ops.harness.ollama import serve_model, tiny_model_file
from aitbc.ops.ollama_server import TINY_MODEL_NAME
from aitbc.rpc import ChainRPC

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not (shutil.which("prometheus") and shutil.which("promtool")),
                                 reason="Debian's prometheus (prometheus, promtool) is not installed: "
                                        "run scripts/setup.sh as root")]
OUR_JOBS = ("app", "coordinator", "miner")
LINT_ONLY = 3  # promtool check metrics: 1 = cannot parse, 3 = parsed, with lint complaints


def promtool(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["promtool", *args], input=stdin, capture_output=True, timeout=60)


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(1)
    raise AssertionError(f"{what}: not after {timeout:.0f} s")


@pytest.fixture
def ollama(tmp_path):
    server = serve_model(tmp_path / "ollama" / "models", tmp_path / "ollama.log", tiny_model_file(tmp_path))
    yield server
    server.stop()


def test_testnet_with_monitoring(tmp_path, ollama):
    directory = tmp_path / "net"
    runner = CliRunner(env={"AITBC_HOME": str(tmp_path / "home")})

    def run(*args: str):
        return runner.invoke(cli, ["testnet", *args, "--dir", str(directory)], obj=Context(), catch_exceptions=False)

    up = run("up", "--validators", "2", "--with-coordinator", "--miners", "1", "--ollama-url", ollama.url,
             "--miner-model", TINY_MODEL_NAME, "--with-monitoring", "--prometheus-port", str(procs.free_port()),
             "--timeout", "90")
    try:
        assert up.exit_code == 0, up.output
        net = tn.Testnet.load(directory)
        services = net.data["services"]
        assert services["coordinator"]["ok"] and services["miners"][0]["ok"], up.output
        prometheus = services["prometheus"]
        assert prometheus["ok"] and "prometheus" in up.stdout
        url = prometheus["url"]

        checked = promtool("check", "config", prometheus["config"])
        assert checked.returncode == 0, (checked.stdout + checked.stderr).decode()

        targets = monitoring.scrape_targets(net.data)
        assert {job: len(t) for job, t in targets.items()} == {"cometbft": 2, "app": 2, "coordinator": 1, "miner": 1}
        for job, static in targets.items():
            for entry in static:
                body = httpx.get(f"http://{entry['targets'][0]}/metrics", timeout=10).content
                verdict = promtool("check", "metrics", stdin=body)
                complaints = (verdict.stdout + verdict.stderr).decode()
                if job in OUR_JOBS:
                    assert verdict.returncode == 0, f"{job}: {complaints}"
                else:  # cometbft's own names break some lint rules upstream; they must still parse
                    assert verdict.returncode in (0, LINT_ONLY) and "parsing error" not in complaints, complaints
                    assert b"cometbft_consensus_height" in body

        def all_up():
            health = monitoring.targets_health(url)
            return len(health) == 6 and set(health.values()) == {"up"} and health

        wait_for(all_up, 60, "every target up in Prometheus")
        heights = wait_for(lambda: monitoring.query(url, "aitbc_app_height"), 30, "aitbc_app_height in Prometheus")
        assert {r["metric"]["node"] for r in heights} == {"node0", "node1"}
        assert all(float(r["value"][1]) >= 2 for r in heights)

        node = net.node(0)
        rpc = ChainRPC(node.rpc)
        try:
            settings = ExplorerSettings(node=node.rpc, prometheus=url)
            page = TestClient(create_app(settings, rpc=rpc)).get("/network")
        finally:
            rpc.close()
        assert page.status_code == 200
        assert page.text.count("<svg") >= 3 and "From Prometheus" in page.text
        pid = prometheus["pid"]
    finally:
        down = run("down")
    assert down.exit_code == 0
    assert not tn.alive(pid, str(directory)) and not procs.port_open(int(url.rsplit(":", 1)[1]))
