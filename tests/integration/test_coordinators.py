"""Two coordinators on one chain (issue 12), every part real: cometbft + the app, the
genesis coordinator A, a second coordinator B that registers on chain with the CLI and
runs as its own process with its own key, B's miner daemon on a real Ollama (aitbc-tiny),
and the `aitbc` CLI as a user runs it.

- a client submits through B and gets its result, paid on chain by a job that names B;
- `aitbc query coordinators` lists A (genesis) and B (url, bond, open jobs);
- a job naming B cannot be assigned by A: the chain refuses (UNAUTHORIZED), and A, restarted
  while that job is open, leaves it alone (its recovery fails only jobs naming A);
- B unregisters while a job naming it is open: it is leaving (no new job may name it,
  COORDINATOR_LEAVING); once that job closes, B's bond comes back.
"""

# ruff: noqa: F811  (imported fixtures are redefined as test parameters)

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from aitbc import tx as txlib
from aitbc.api.coordinator_client import ApiError, sign_job
from aitbc.codes import Code
from aitbc.explorer.chain import coordinators as explorer_coordinators
from aitbc.keyring import Keyring
from aitbc.cli.context import Context
from aitbc.cli.main import cli as root
from aitbc.ops.factories import KEYS, key, submit_fields
from aitbc.ops.harness import CLIENT_API_KEY, ChainStack, CoordinatorProcess, MinerProcess, wait_for
from aitbc.ops.ollama_server import TINY_MODEL_NAME
from tests.integration.ollama_fixtures import (  # noqa: F401 (fixtures)
    ollama_server, tiny_model, tiny_model_path,
)

pytestmark = pytest.mark.integration

KEY_B = key("coordinator-b")   # not funded at genesis: alice pays for its bond
BOND = 150_000_000             # 150 AITBC, above the default min_coordinator_bond (100)


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[ChainStack]:
    """Pending jobs wait 300 s before the chain refunds them: the job held open below closes by
    its client's cancel, never by a timeout racing a slow restart."""
    stack = ChainStack(tmp_path / "chain", pending_timeout_s=300, job_timeout_s=120)
    try:
        yield stack.start()
    finally:
        stack.stop()


@pytest.fixture
def aitbc(tmp_path: Path, chain: ChainStack):
    """`aitbc ARGS` with the node, a home whose keyring holds alice and B's key, and B's client API key."""
    home = tmp_path / "home"
    keyring = Keyring(home / "keys")
    keyring.add("alice", KEYS["alice"])
    keyring.add("coordb", KEY_B)

    def invoke(*args: str, url: str = ""):
        env = {"AITBC_HOME": str(home), "AITBC_NODE": chain.url, "AITBC_URL": url, "AITBC_API_KEY": CLIENT_API_KEY}
        return CliRunner().invoke(root, list(args), env=env, obj=Context(), catch_exceptions=False)

    return invoke


def _ok(result) -> str:
    """The command's stdout; it must have succeeded."""
    assert result.exit_code == 0, result.output
    return result.stdout


def _balance(chain: ChainStack, address: str) -> int:
    return int(chain.rpc.query(f"/account/{address}")["balance"])


def test_a_second_coordinator_serves_its_own_clients(tmp_path, chain, coordinator, aitbc, ollama_server, tiny_model):
    a = coordinator  # the genesis coordinator, KEYS["coordinator"]
    b = CoordinatorProcess(tmp_path / "b", chain, key=KEY_B)  # its port is known before it starts
    miner = MinerProcess(tmp_path / "miners", "miner2", chain, b.url, ollama_server.url, model=TINY_MODEL_NAME)
    try:
        # B's key is funded, registers on chain with the CLI, then runs as a coordinator.
        _ok(aitbc("tx", "transfer", KEY_B.address, "200", "--from", "alice"))
        _ok(aitbc("tx", "register-coordinator", "--url", b.url, "--bond", "150", "--from", "coordb"))
        b.start()
        served = b.client().chain()
        assert (served.coordinator, served.job_coordinator, served.genesis_coordinator) == \
            (KEY_B.address, KEY_B.address, KEYS["coordinator"].address)
        miner.start()
        try:
            wait_for(lambda: any(m.online for m in b.client().miners()), 60, "B's miner online")
        except TimeoutError:
            raise AssertionError(miner.log_path.read_text()[-3000:]) from None

        # A client submits through B (aitbc submit names B in its submit_job) and gets the result.
        out = _ok(aitbc("submit", "inference", "--prompt", "why is the sky blue", "--model", TINY_MODEL_NAME,
                        "--num-predict", "16", "--seed", "42", "--temperature", "0", "--wait", "--timeout", "120",
                        url=b.url))
        lines = out.splitlines()
        assert lines[1] == "Status: completed" and lines[2].startswith("Result: "), out
        job_id = lines[0].split(": ")[1]
        job = chain.job(job_id)
        assert job["coordinator"] == KEY_B.address and job["status"] == "completed", job
        receipt = chain.rpc.query(f"/receipt/{job_id}")
        assert receipt["miner"] == KEYS["miner2"].address and re.fullmatch(r"Receipt: rcpt_[0-9a-f]{16}", lines[-4])
        # A does not take in a job signed for B (nothing is broadcast).
        for_b = sign_job(KEYS["alice"], served.chain_id, chain.next_nonce("alice"), "hello", TINY_MODEL_NAME,
                         1_000_000, coordinator=KEY_B.address)
        with a.client() as client_of_a, pytest.raises(ApiError) as not_for_a:
            client_of_a.submit_job(for_b)
        assert not_for_a.value.status == 400 and f"names coordinator {KEY_B.address}" in not_for_a.value.detail

        # A job naming B, sent straight to the node, stays pending: only B could assign it.
        fields = submit_fields(prompt="held open for B")
        held = txlib.job_id_for(KEYS["bob"].address, chain.next_nonce("bob"), served.chain_id)
        assert chain.send("bob", "submit_job", coordinator=KEY_B.address, **fields).ok
        assert chain.job(held)["coordinator"] == KEY_B.address and chain.job(held)["status"] == "pending"

        # Both coordinators are listed, B with its url, bond and the open job.
        table = _ok(aitbc("query", "coordinators")).splitlines()
        assert table[2].split() == [KEYS["coordinator"].address, "-", "-", "-", "genesis"], table
        assert table[3].split() == [KEY_B.address, b.url, "150", "AITBC", "1"], table
        listed = json.loads(_ok(aitbc("query", "coordinators", "--json")))
        assert [(c["address"], c["genesis"]) for c in listed] == \
            [(KEYS["coordinator"].address, True), (KEY_B.address, False)]
        assert [c["address"] for c in explorer_coordinators(chain.rpc)] == [c["address"] for c in listed]

        # A cannot assign B's job: the chain refuses it.
        refused = chain.send("coordinator", "assign_job", job_id=held, miner=KEYS["miner2"].address)
        assert refused.code == Code.UNAUTHORIZED, refused
        # A restarted while B's job is open leaves it alone (its recovery fails only jobs naming A).
        a.stop()
        a.start()
        recovered = wait_for(lambda: a.log_events("recovered")[1:], 60, "A's second recovery")
        assert recovered[-1]["unknown_on_chain"] == 0
        assert chain.job(held)["status"] == "pending"

        # B leaves while a job naming it is open: it is leaving, no new job may name it ...
        _ok(aitbc("tx", "unregister-coordinator", "--from", "coordb"))
        assert chain.job(held)["status"] == "pending"
        assert json.loads(_ok(aitbc("query", "coordinators", "--json")))[1]["leaving_height"] > 0
        refused = chain.send("bob", "submit_job", **submit_fields(), coordinator=KEY_B.address)
        assert refused.code == Code.COORDINATOR_LEAVING, refused
        # ... and once that job is closed (its client cancels it), B's bond comes back.
        before = _balance(chain, KEY_B.address)
        assert chain.send("bob", "cancel_job", job_id=held).ok
        assert _balance(chain, KEY_B.address) == before + BOND
        assert [c["address"] for c in json.loads(_ok(aitbc("query", "coordinators", "--json")))] == \
            [KEYS["coordinator"].address]
    finally:
        miner.stop()
        b.stop()
