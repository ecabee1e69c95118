"""`aitbc tx register-coordinator / unregister-coordinator` and `aitbc query coordinators /
coordinator` over the fake node (issue 12): the txs they sign, the table, --json, the errors."""

from __future__ import annotations

import base64
import json

import pytest
from click.testing import CliRunner

from aitbc import tx as txlib
from aitbc.codes import Code
from aitbc.keyring import Keyring
from aitbc.cli.context import Context
from aitbc.cli.main import cli
from aitbc.ops.factories import KEYS
from tests.unit.test_explorer_fakes import GENESIS_COORDINATOR, FakeNode, addr, scenario

URL = "https://coord-b.example:18000"


def take_broadcasts(node: FakeNode) -> None:
    """Let the fake node take broadcast_tx_commit: it keeps each tx in `node.sent` and answers
    CheckTx with `node.code` / `node.log`."""
    node.sent, node.code, node.log = [], 0, ""

    def broadcast_tx_commit(tx: str) -> dict:
        raw = base64.b64decode(tx)
        node.sent.append(txlib.decode(raw))
        return {"hash": txlib.tx_hash(raw), "height": "7", "check_tx": {"code": node.code, "log": node.log},
                "tx_result": {"code": 0, "events": []}}

    node._broadcast_tx_commit = broadcast_tx_commit


@pytest.fixture
def run(tmp_path):
    node, _ = scenario()
    take_broadcasts(node)
    bob = addr("bob")
    record = {"address": bob, "url": URL, "bond": 250_000_000, "registered_height": 9, "open_jobs": 2, "genesis": False}
    node.answers.update({"/coordinators": [GENESIS_COORDINATOR, record], f"/coordinator/{bob}": record,
                         f"/nonce/{bob}": {"address": bob, "exists": True, "balance": 10**9, "nonce": 4}})
    keyring = Keyring(tmp_path / "keys")
    keyring.add("bob", KEYS["bob"])

    def invoke(*args: str):
        return CliRunner().invoke(cli, list(args), obj=Context(_rpc=node, _keyring=keyring))

    invoke.node = node
    return invoke


def test_register_coordinator_signs_url_and_bond(run):
    result = run("tx", "register-coordinator", "--url", URL, "--bond", "250", "--from", "bob")
    assert result.exit_code == 0, result.output
    sent = run.node.sent[-1]
    assert sent.kind == "register_coordinator" and sent.sender == addr("bob") and sent.nonce == 4
    assert (sent.msg.url, sent.msg.bond) == (URL, 250_000_000)


def test_unregister_coordinator_refused_says_why(run):
    run.node.code, run.node.log = int(Code.COORDINATOR_LEAVING), "already leaving"
    result = run("tx", "unregister-coordinator", "--from", "bob")
    assert result.exit_code == 4 and run.node.sent[-1].kind == "unregister_coordinator"
    assert "COORDINATOR_LEAVING (code 31): already leaving" in result.output


def test_query_coordinators_table(run):
    result = run("query", "coordinators")
    assert result.exit_code == 0, result.output
    header, _rule, genesis, bob = result.output.splitlines()
    assert header.split() == ["address", "url", "bond", "open", "jobs"]
    assert genesis.split() == [addr("coordinator"), "-", "-", "-", "genesis"]
    assert bob.split() == [addr("bob"), URL, "250", "AITBC", "2"]


def test_query_coordinators_marks_a_leaving_one(run):
    bob = addr("bob")
    leaving = {**run.node.answers[f"/coordinator/{bob}"], "leaving_height": 31}
    run.node.answers["/coordinators"] = [GENESIS_COORDINATOR, leaving]
    row = run("query", "coordinators").output.splitlines()[-1]
    assert row.split()[-4:] == ["leaving", "since", "height", "31"]


def test_query_coordinators_json_is_the_nodes_answer(run):
    data = json.loads(run("query", "coordinators", "--json").output)
    assert [(c["address"], c["genesis"]) for c in data] == [(addr("coordinator"), True), (addr("bob"), False)]
    assert data[1]["bond"] == 250_000_000 and data[1]["open_jobs"] == 2


def test_query_coordinator_by_key_name_and_address(run):
    lines = {k: v.strip() for k, v in (line.split(":", 1) for line in run("query", "coordinator", "bob").output
                                           .splitlines())}
    assert (lines["url"], lines["bond"], lines["open_jobs"], lines["genesis"]) == (URL, "250 AITBC", "2", "False")
    assert json.loads(run("query", "coordinator", addr("coordinator"), "--json").output) == GENESIS_COORDINATOR


def test_query_coordinator_that_is_none(run):
    result = run("query", "coordinator", addr("alice"))
    assert result.exit_code == 1 and f"/coordinator/{addr('alice')}" in result.output
