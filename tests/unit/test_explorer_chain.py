"""explorer.chain: search classification, tx decoding and what each view gathers."""

from __future__ import annotations

import pytest

from aitbc import tx as txlib
from aitbc.explorer import chain
from aitbc.ops.factories import KEYS, Signer, receipt_fields, submit_fields
from tests.unit.test_explorer_fakes import addr, scenario


@pytest.mark.parametrize("query, expected", [
    ("42", ("block", "42")),
    (" 7 ", ("block", "7")),
    ("ab" * 32, ("tx", "AB" * 32)),
    ("job_0123456789abcdef", ("job", "job_0123456789abcdef")),
    ("rcpt_0123456789abcdef", ("receipt", "rcpt_0123456789abcdef")),
    ("aitbc" + "0" * 40, ("account", "aitbc" + "0" * 40)),
    ("job.model='aitbc-tiny'", ("query", "job.model='aitbc-tiny'")),
    ("transfer.amount EXISTS", ("query", "transfer.amount EXISTS")),
])
def test_classify(query, expected):
    assert chain.classify(query) == expected


@pytest.mark.parametrize("query", ["", "hello", "job_xyz", "aitbc123", "-1"])
def test_classify_rejects_what_it_cannot_look_up(query):
    with pytest.raises(chain.NotFound):
        chain.classify(query)


def test_decode_tx_shows_type_signer_fields_and_hex_bytes():
    raw = Signer().tx("alice", "submit_job", **submit_fields())
    out = chain.decode_tx(raw)
    assert (out["type"], out["sender"], out["nonce"]) == ("submit_job", KEYS["alice"].address, 0)
    assert out["hash"] == txlib.tx_hash(raw)
    assert out["msg"]["model"] == "aitbc-tiny" and out["msg"]["max_reward"] == "1000000"
    assert out["msg"]["prompt_hash"] == submit_fields()["prompt_hash"].hex()  # hex, not base64


def test_decode_tx_opens_the_receipt_proof():
    out = chain.decode_tx(Signer().tx("coordinator", "record_receipt", **receipt_fields("job_0123456789abcdef")))
    proof = out["msg"]["proof"]
    assert proof["job_id"] == "job_0123456789abcdef" and proof["miner"] == KEYS["miner1"].address
    assert len(proof["result_hash"]) == 64 and len(out["msg"]["miner_signature"]) == 128


def test_decode_tx_reports_garbage_instead_of_failing():
    out = chain.decode_tx(b"not a transaction")
    assert out["type"] == "undecodable" and "protobuf" in out["error"] and out["size"] == 17


def test_latest_blocks_newest_first_across_pages_of_twenty():
    node, _ = scenario()
    node.empty_blocks(30)
    data = chain.latest_blocks(node, limit=25)
    heights = [b["height"] for b in data["blocks"]]
    assert heights == list(range(data["height"], data["height"] - 25, -1))
    assert data["chain_id"] == "aitbc-test"


def test_block_pairs_each_tx_with_its_result():
    node, ids = scenario()
    height = node.tx(ids["transfer_tx"])["height"]
    data = chain.block(node, int(height))
    ok, broke = data["txs"]
    assert (ok["tx"]["type"], ok["code"], ok["tx"]["memo"]) == ("transfer", 0, "<script>alert(1)</script>")
    assert (broke["code"], broke["code_name"]) == (8, "INSUFFICIENT_FUNDS") and "insufficient" in broke["log"]
    with pytest.raises(chain.NotFound):
        chain.block(node, 10_000)


def test_job_lifecycle_in_order_with_receipt():
    node, ids = scenario()
    data = chain.job(node, ids["job"])
    assert [e["tx"]["type"] for e in data["txs"]] == ["submit_job", "assign_job", "record_receipt"]
    assert data["receipt"]["id"] == ids["receipt"] and data["block_events"] == []
    with pytest.raises(chain.NotFound):
        chain.job(node, "job_0000000000000000")


def test_expired_job_shows_the_block_event():
    node, ids = scenario()
    data = chain.job(node, ids["expired"])
    assert [e["attributes"]["status"] for e in data["block_events"]] == ["expired"]
    assert data["receipt"] is None


def test_receipt_by_receipt_id_or_job_id():
    node, ids = scenario()
    for ident in (ids["receipt"], ids["job"]):
        data = chain.receipt(node, ident)
        assert data["receipt"]["id"] == ids["receipt"] and data["tx"]["hash"] == ids["record_tx"]


def test_account_history_merges_sent_and_received_newest_first():
    node, ids = scenario()
    data = chain.account(node, addr("alice"))
    kinds = [e["tx"]["type"] for e in data["history"]]
    # bob's transfer (received), the receipt (as client), her submit (sent); no duplicates
    assert kinds == ["transfer", "record_receipt", "submit_job"]
    assert data["account"]["balance"] == 1_004_250_000 and data["miner"] is None
    assert chain.account(node, ids["miner"])["miner"]["completed"] == 1


def test_tx_not_found_and_bad_hash():
    node, ids = scenario()
    assert chain.tx(node, ids["record_tx"].lower())["tx"]["type"] == "record_receipt"
    with pytest.raises(chain.NotFound):
        chain.tx(node, "00" * 32)
    with pytest.raises(chain.NotFound):
        chain.tx(node, "xyz")


def test_tx_search_pages_through_results():
    node, _ = scenario()
    signer = Signer()
    for _ in range(3):
        node.add_block([(signer.tx("bob", "transfer", to=addr("alice"), amount=1), 0, "", [
            {"type": "message", "attributes": {"sender": addr("bob"), "action": "transfer"}}])] * 80)
    query = f"message.sender='{addr('bob')}'"
    everything = chain.tx_search(node, query, limit=1000)
    assert everything["total"] == len(everything["txs"]) == 2 + 240  # scenario's two, then three pages' worth
    assert len(chain.tx_search(node, query, limit=150)["txs"]) == 150
