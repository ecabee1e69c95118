"""Checks of a miner's completion: the ComputeProof it signed must match the result."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from aitbc import jobspec, tx as txlib
from aitbc.errors import DecodeError
from aitbc.pb.aitbc_pb import tx_pb2
from aitbc.coordinator.errors import InvalidRequest
from aitbc.api.coordinator_models import JobComplete


@dataclass(frozen=True)
class VerifiedProof:
    data: bytes        # the ComputeProof bytes, as signed
    signature: bytes
    proof: tx_pb2.ComputeProof


def verify_completion(body: JobComplete, job_id: str, chain_id: str, signer: str,
                      miner_public_key: bytes) -> VerifiedProof:
    """Raise InvalidRequest unless the proof is the signer's, for this job and this result."""
    if body.job_id != job_id:
        raise InvalidRequest(f"body job_id {body.job_id} does not match the URL's job {job_id}")
    try:
        data = base64.b64decode(body.proof.data, validate=True)
        signature = bytes.fromhex(body.proof.signature)
    except (binascii.Error, ValueError):
        raise InvalidRequest("proof.data must be base64 and proof.signature hex") from None
    try:
        proof = txlib.decode_proof(data)
    except DecodeError as err:
        raise InvalidRequest(f"invalid proof: {err.log}") from None
    result_hash = jobspec.result_hash(body.result)
    problems = []
    if proof.chain_id != chain_id:
        problems.append(f"proof is for chain {proof.chain_id!r}, not {chain_id!r}")
    if proof.job_id != job_id:
        problems.append(f"proof is for job {proof.job_id}, not {job_id}")
    if proof.miner != signer:
        problems.append(f"proof names miner {proof.miner}, but the request is signed by {signer}")
    if proof.result_hash != result_hash:
        problems.append("proof result_hash is not the sha256 of the result (UTF-8)")
    if body.proof.hash.lower() != result_hash.hex():
        problems.append("proof.hash is not the sha256 of the result (UTF-8)")
    if problems:
        raise InvalidRequest("invalid proof: " + "; ".join(problems))
    if not txlib.verify_proof(miner_public_key, data, signature):
        raise InvalidRequest("invalid proof: the signature is not the miner's signature of proof.data")
    return VerifiedProof(data, signature, proof)
