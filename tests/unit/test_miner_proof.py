"""The compute proof: what the chain's record_receipt verifies."""

from __future__ import annotations

import base64
import hashlib

import pytest

from aitbc import tx as txlib
from aitbc.coordinator.errors import InvalidRequest
from aitbc.coordinator.proofs import verify_completion
from aitbc.jobspec import result_hash
from aitbc.miner.proof import Measurement, RunSpec, build_proof, completion
from tests.unit.test_miner_fakes import CHAIN_ID, MINER, STRANGER

M = Measurement(compute_time_ms=12_500, tokens_generated=150, prompt_tokens=15)


def spec(model: str = "llama3.2") -> RunSpec:
    return RunSpec(model, "ab" * 32, "What is machine learning?", 0.7, 42, 500)


def test_proof_fields_and_result_hash() -> None:
    proof = build_proof(CHAIN_ID, "job_1", MINER.address, spec(), "Machine learning is…", M)
    assert proof.result_hash == hashlib.sha256("Machine learning is…".encode()).digest() == result_hash(
        "Machine learning is…")
    assert (proof.chain_id, proof.job_id, proof.miner, proof.model) == (CHAIN_ID, "job_1", MINER.address, "llama3.2")
    assert (proof.compute_time_ms, proof.tokens_generated, proof.prompt_tokens) == (12_500, 150, 15)
    # what was run: the receipt commits to it and a re-run is compared by it
    assert proof.model_digest == "ab" * 32
    assert proof.prompt_hash == hashlib.sha256(b"What is machine learning?").digest()
    assert (proof.options.temperature_milli, proof.options.seed, proof.options.num_predict) == (700, 42, 500)


def test_completion_signature_verifies_with_aitbc_tx() -> None:
    body = completion(MINER, CHAIN_ID, "job_1", spec(), "result text", M)
    data, signature = base64.b64decode(body.proof.data), bytes.fromhex(body.proof.signature)
    assert txlib.verify_proof(MINER.public_key, data, signature)
    assert not txlib.verify_proof(STRANGER.public_key, data, signature)
    assert txlib.decode_proof(data).result_hash.hex() == body.proof.hash == hashlib.sha256(b"result text").hexdigest()
    assert body.metrics.compute_time == 12.5 and body.metrics.tokens_generated == 150
    # The chain pays compute_time_ms x price / 1000: 12.5 s at 0.02 AITBC/s = 0.25 AITBC.
    assert txlib.decode_proof(data).compute_time_ms * 20_000 // 1000 == 250_000


def test_proof_is_accepted_by_record_receipt_validation() -> None:
    from aitbc.crypto import PrivateKey

    body = completion(MINER, CHAIN_ID, "job_1", spec("m"), "", M)  # empty result is still a valid proof
    coordinator = PrivateKey(b"\x09" * 32)
    raw = txlib.build(coordinator, CHAIN_ID, 0, "record_receipt", proof=base64.b64decode(body.proof.data),
                      miner_signature=bytes.fromhex(body.proof.signature))
    assert txlib.decode(raw).kind == "record_receipt"


def test_the_coordinator_accepts_the_completion_and_refuses_tampering() -> None:
    body = completion(MINER, CHAIN_ID, "job_1", spec("m"), "the answer", M)
    check = lambda b, key=MINER: verify_completion(b, "job_1", CHAIN_ID, key.address, key.public_key)  # noqa: E731
    assert check(body).proof.job_id == "job_1"
    with pytest.raises(InvalidRequest, match="result"):
        check(body.model_copy(update={"result": "another answer"}))
    with pytest.raises(InvalidRequest, match="signature"):
        verify_completion(body, "job_1", CHAIN_ID, MINER.address, STRANGER.public_key)
    with pytest.raises(InvalidRequest, match="job"):
        check(body.model_copy(update={"job_id": "job_2"}))
