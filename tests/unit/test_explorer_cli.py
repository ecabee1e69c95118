"""`aitbc explorer ...` over a fake node: decoded output, --json, exit codes."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from aitbc.cli.context import Context
from aitbc.cli.explorer import explorer
from aitbc.cli.tables import columns
from tests.unit.test_explorer_fakes import addr, scenario


@pytest.fixture
def run():
    node, ids = scenario()

    def invoke(*args: str):
        return CliRunner().invoke(explorer, list(args), obj=Context(_rpc=node), catch_exceptions=False)

    invoke.node, invoke.ids = node, ids
    return invoke


def test_blocks_table_and_json(run):
    result = run("blocks", "--limit", "3")
    assert result.exit_code == 0 and f"latest height {len(run.node.blocks)}" in result.output
    data = json.loads(run("blocks", "--limit", "3", "--json").output)
    assert len(data["blocks"]) == 3


def test_block_shows_decoded_txs_not_base64(run):
    height = run.node.tx(run.ids["transfer_tx"])["height"]
    out = run("block", height).output
    assert "type    transfer" in out and "memo    <script>alert(1)</script>" in out
    assert "INSUFFICIENT_FUNDS (code 8)" in out and f"signer  {addr('bob')}" in out


def test_tx_json_is_decoded(run):
    data = json.loads(run("tx", run.ids["record_tx"], "--json").output)
    assert data["tx"]["type"] == "record_receipt" and data["tx"]["msg"]["proof"]["job_id"] == run.ids["job"]
    assert {e["type"] for e in data["events"]} >= {"message", "receipt"}


def test_job_lifecycle_and_receipt(run):
    out = run("job", run.ids["job"]).output
    assert out.index("submit_job") < out.index("assign_job") < out.index("record_receipt")
    assert re.search(r"^  amount_paid: +0.25 AITBC$", out, re.M)
    job_part = out.split("\n\n")[0].splitlines()[1:]
    assert len({line.index(":") + len(line.split(":", 1)[1]) - len(line.split(":", 1)[1].lstrip())
                for line in job_part}) == 1  # values aligned in one column
    assert "_ns:" not in out or "UTC" in out
    assert not re.search(r"_ns: +\d{6,}$", out, re.M)  # times as dates, not raw nanoseconds
    assert not re.search(r"^  (checker|checkers|check_hashes|check_costs|check_paid|held_payment):", out, re.M)
    data = json.loads(run("job", run.ids["job"], "--json").output)
    assert [e["tx"]["type"] for e in data["txs"]] == ["submit_job", "assign_job", "record_receipt"]
    assert data["receipt"]["id"] == run.ids["receipt"]


def test_receipt_account_miners(run):
    assert run.ids["record_tx"] in run("receipt", run.ids["job"]).output
    out = run("account", addr("alice")).output
    assert "1004.25 AITBC" in out and "transfer" in out
    assert "100 AITBC" in run("miners").output


def test_search_query_and_direct_lookups(run):
    out = run("search", f"job.id='{run.ids['job']}'").output
    assert out.startswith("3 found") and "record_receipt" in out
    data = json.loads(run("search", run.ids["receipt"], "--json").output)
    assert data["kind"] == "receipt" and data["result"]["receipt"]["job_id"] == run.ids["job"]


def test_a_query_on_an_attribute_the_chain_does_not_index_says_so_on_stderr(run):
    result = CliRunner().invoke(explorer, ["search", "message.action='transfer'", "--json"],
                                obj=Context(_rpc=run.node), catch_exceptions=False)
    assert result.exit_code == 0 and json.loads(result.stdout)["unindexed"] == ["message.action"]
    assert result.stderr.startswith("note: not indexed: message.action") and "message.sender" in result.stderr
    quiet = CliRunner().invoke(explorer, ["search", f"job.id='{run.ids['job']}'"],
                               obj=Context(_rpc=run.node), catch_exceptions=False)
    assert quiet.exit_code == 0 and quiet.stderr == ""


def test_not_found_exits_1_and_node_down_exits_3(run):
    missing = run("job", "job_0000000000000000")
    assert missing.exit_code == 1 and "not found" in missing.output
    assert run("search", "what?").exit_code == 1
    run.node.down = True
    down = run("blocks")
    assert down.exit_code == 3 and "Is the node running?" in down.output


def test_node_option_points_at_another_node():
    result = CliRunner().invoke(explorer, ["blocks", "--node", "http://127.0.0.1:9"], obj=Context(),
                                catch_exceptions=False)
    assert result.exit_code == 3 and "127.0.0.1:9" in result.output


def test_columns_align():
    assert columns(["a", "bb"], [["123", "x"]]).splitlines() == ["a    bb", "---  --", "123  x"]


def test_search_shows_what_it_found_and_accepts_key_names(run, tmp_path, monkeypatch):
    out = run("search", run.ids["job"]).output
    assert "lifecycle" in out and "record_receipt" in out and "found (see" not in out
    from aitbc.keyring import Keyring
    from aitbc.ops.factories import KEYS

    monkeypatch.setenv("AITBC_HOME", str(tmp_path))
    Keyring(tmp_path / "keys").add("alice", KEYS["alice"])
    found = run("search", "alice")
    assert found.exit_code == 0 and f"account {addr('alice')}" in found.output
    missing = run("search", "nobody")
    assert missing.exit_code == 1 and "key name" in missing.output
