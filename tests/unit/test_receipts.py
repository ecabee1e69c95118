"""Offline receipt verification catches each kind of tampering."""

from __future__ import annotations

import copy
import hashlib

from aitbc.abci_app import state as st
from aitbc.receipts import verify_offline
from aitbc.ops.factories import CHAIN_ID, KEYS, Chain, Signer, receipt_fields, register_fields, submit_fields


def bundle() -> dict:
    chain, signer = Chain(), Signer()
    chain.block([signer.tx("miner1", "register_miner", **register_fields())])
    job_id = signer.next_job_id("alice")
    chain.block([signer.tx("alice", "submit_job", **submit_fields())])
    chain.block([signer.tx("coordinator", "assign_job", job_id=job_id, miner=KEYS["miner1"].address)])
    chain.block([signer.tx("coordinator", "record_receipt", **receipt_fields(job_id))])
    from dataclasses import asdict
    job = chain.job(job_id)
    return {"chain_id": CHAIN_ID, "receipt": asdict(st.get_receipt(chain.view(), job.receipt_id)), "job": asdict(job),
            "miner_public_key": KEYS["miner1"].public_key.hex(), "result": "an answer",
            "prompt": "What is machine learning?"}


def failed(findings) -> list[str]:
    return [f.check for f in findings if not f.ok]


def test_genuine_receipt_verifies():
    findings = verify_offline(bundle())
    assert failed(findings) == [] and len(findings) >= 11


def test_tampering_is_caught():
    b = bundle(); b["result"] = "another answer"
    assert failed(verify_offline(b)) == ["result text hashes to the result hash"]
    b = bundle(); b["receipt"]["amount_paid"] += 1
    assert failed(verify_offline(b)) == ["payment = billed time x price, capped at the escrow"]
    b = bundle(); b["receipt"]["result_hash"] = hashlib.sha256(b"x").hexdigest(); b["result"] = "x"
    assert failed(verify_offline(b)) == ["signed result hash equals the receipt's"]
    b = bundle(); b["miner_public_key"] = KEYS["miner2"].public_key.hex()
    assert set(failed(verify_offline(b))) == {"miner key matches the miner's address",
                                             "miner's signature over the proof"}
    b = bundle(); b["receipt"]["seed"] = 7
    assert failed(verify_offline(b)) == ["signed options equals the receipt's"]


def test_a_bundle_from_another_chain_fails_offline_and_names_both_chains():
    b = bundle(); b["chain_id"] = "aitbc-other"
    findings = [f for f in verify_offline(b) if not f.ok]
    assert [f.check for f in findings] == ["bundle's chain id equals the signed proof's"]
    assert "'aitbc-other'" in findings[0].detail and repr(CHAIN_ID) in findings[0].detail


def test_chain_of_a_bundle():
    from aitbc.receipts import chain_of

    b = bundle()
    assert chain_of(b) == CHAIN_ID
    del b["chain_id"]
    assert chain_of(b) == CHAIN_ID  # from the miner's signed proof
