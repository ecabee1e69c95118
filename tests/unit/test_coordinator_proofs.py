"""A miner's completion: the signed ComputeProof must match job, miner and result."""

import base64
import hashlib

import pytest

from aitbc import tx as txlib
from aitbc.pb.aitbc_pb import tx_pb2
from aitbc.coordinator.errors import InvalidRequest
from aitbc.api.coordinator_models import JobComplete
from aitbc.coordinator.proofs import verify_completion
from aitbc.ops.factories import CHAIN_ID, KEYS

MINER = KEYS["miner1"]
JOB = "job_0123456789abcdef"


def completion(result: str = "forty-two", signer=MINER, **proof_fields) -> JobComplete:
    fields = {"chain_id": CHAIN_ID, "job_id": JOB, "miner": signer.address, "model": "m",
              "result_hash": hashlib.sha256(result.encode()).digest(), "compute_time_ms": 1500,
              "tokens_generated": 3, **proof_fields}
    data, signature = txlib.sign_proof(signer, tx_pb2.ComputeProof(**fields))
    return JobComplete(job_id=JOB, result=result, metrics={"compute_time": 1.5, "tokens_generated": 3},
                       proof={"hash": hashlib.sha256(result.encode()).hexdigest(),
                              "data": base64.b64encode(data).decode(), "signature": signature.hex()})


def check(body: JobComplete, job_id: str = JOB):
    return verify_completion(body, job_id, CHAIN_ID, MINER.address, MINER.public_key)


def test_a_good_proof_passes():
    verified = check(completion())
    assert verified.proof.job_id == JOB
    assert txlib.verify_proof(MINER.public_key, verified.data, verified.signature)


@pytest.mark.parametrize("body, message", [
    (completion(chain_id="other"), "proof is for chain 'other'"),
    (completion(job_id="job_other"), "proof is for job job_other"),
    (completion(result_hash=b"\x00" * 32), "result_hash is not the sha256"),
    (completion(miner=KEYS["miner2"].address), "proof names miner"),
])
def test_mismatches_are_named(body, message):
    with pytest.raises(InvalidRequest, match=message):
        check(body)


def test_signature_by_another_key_is_refused():
    body = completion(signer=KEYS["miner2"], miner=MINER.address)
    with pytest.raises(InvalidRequest, match="signature is not the miner's"):
        check(body)


def test_result_changed_after_signing_is_refused():
    body = completion()
    body.result = "forty-three"
    with pytest.raises(InvalidRequest, match="sha256"):
        check(body)


def test_url_and_body_must_name_the_same_job():
    with pytest.raises(InvalidRequest, match="does not match the URL"):
        check(completion(), job_id="job_x")


def test_garbage_proof_bytes():
    body = completion()
    body.proof.data = "!!!"
    with pytest.raises(InvalidRequest, match="base64"):
        check(body)
