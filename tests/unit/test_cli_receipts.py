"""`aitbc receipt`: the bundle names its chain, verify says which chain and refuses a
mismatch offline; `aitbc receipt JOB_ID` reads the chain when there is no API key."""

from __future__ import annotations

import json

from click.testing import CliRunner

from aitbc.cli.context import Context
from aitbc.cli.main import cli
from aitbc.ops.factories import CHAIN_ID
from tests.unit.test_explorer_fakes import scenario
from tests.unit.test_receipts import bundle


def invoke(*args: str, rpc=None, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), obj=Context(_rpc=rpc), catch_exceptions=False,
                              env={"AITBC_API_KEY": "", "CLIENT_KEY": "", **(env or {})})


def test_offline_verify_reports_the_chain(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(bundle()))
    result = invoke("receipt", "verify", str(path), "--offline")
    assert result.exit_code == 0, result.output
    assert f"of chain {CHAIN_ID}: verified" in result.stdout
    assert json.loads(invoke("receipt", "verify", str(path), "--offline", "--json").stdout)["chain_id"] == CHAIN_ID


def test_offline_verify_fails_when_the_bundle_names_another_chain(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({**bundle(), "chain_id": "aitbc-other"}))
    result = invoke("receipt", "verify", str(path), "--offline")
    assert result.exit_code == 5
    assert f"✗ bundle's chain id equals the signed proof's  (the bundle says 'aitbc-other', the miner signed " \
           f"'{CHAIN_ID}')" in result.stdout


def test_receipt_without_an_api_key_is_read_from_the_chain():
    node, ids = scenario()
    receipt = node.answers[f"/receipt/{ids['job']}"]
    receipt["block_time_ns"] = 1_700_000_000 * 10**9
    for key in ("result_hash", "price_per_second"):
        receipt.setdefault(key, 0 if key == "price_per_second" else "ab" * 32)
    result = invoke("receipt", ids["job"], rpc=node)
    assert result.exit_code == 0, result.output
    assert f"Receipt: {ids['receipt']}" in result.stdout and "Paid: 0.25 AITBC" in result.stdout
    assert "Compute time: 12.5 seconds (claimed by the miner)" in result.stdout
    assert "Billed time: 12.5 seconds" in result.stdout


def test_receipt_falls_back_to_the_chain_when_the_coordinator_is_down():
    node, ids = scenario()
    node.answers[f"/receipt/{ids['job']}"].update(block_time_ns=1_700_000_000 * 10**9, result_hash="ab" * 32,
                                                 price_per_second=20_000)
    result = invoke("receipt", ids["job"], "--url", "http://127.0.0.1:9", "--api-key", "k", rpc=node)
    assert result.exit_code == 0, result.output
    assert "reading the receipt from the chain" in result.stderr and "Paid: 0.25 AITBC" in result.stdout
