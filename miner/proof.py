"""The miner's signed compute proof and the completion report that carries it.

The proof is the exact ComputeProof protobuf the chain's record_receipt checks
(signature by the assigned miner over "aitbc/proof/v1\\n" + proof bytes), so
the coordinator forwards `proof.data` and `proof.signature` unchanged.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from aitbc import jobspec, tx as txlib
from aitbc.crypto import PrivateKey
from aitbc.pb.aitbc_pb import tx_pb2
from aitbc.api.coordinator_models import JobComplete, Metrics, Proof


@dataclass(frozen=True)
class Measurement:
    """What one inference cost, as the miner measured it."""

    compute_time_ms: int
    tokens_generated: int
    prompt_tokens: int
    gpu_utilization: float | None = None
    ollama_total_duration_ns: int | None = None




@dataclass(frozen=True)
class RunSpec:
    """What was run, as the proof attests: the receipt commits to it and a re-run is compared by it."""

    model: str
    model_digest: str
    prompt: str
    temperature: float
    seed: int
    num_predict: int

    def options(self) -> tx_pb2.JobOptions:
        return jobspec.chain_options(self.temperature, self.seed, self.num_predict)


def build_proof(chain_id: str, job_id: str, miner: str, spec: RunSpec, result: str,
                measurement: Measurement) -> tx_pb2.ComputeProof:
    return tx_pb2.ComputeProof(
        chain_id=chain_id, job_id=job_id, miner=miner, model=spec.model, result_hash=jobspec.result_hash(result),
        compute_time_ms=measurement.compute_time_ms,
        # uint32 on the wire: clamp instead of failing a finished job on an absurd count.
        tokens_generated=min(measurement.tokens_generated, 2**32 - 1),
        prompt_tokens=min(measurement.prompt_tokens, 2**32 - 1),
        model_digest=spec.model_digest, prompt_hash=jobspec.prompt_hash(spec.prompt),
        options=spec.options(),
    )


def completion(key: PrivateKey, chain_id: str, job_id: str, spec: RunSpec, result: str,
               measurement: Measurement) -> JobComplete:
    """The signed JobComplete body for POST /v1/jobs/{id}/complete."""
    proof = build_proof(chain_id, job_id, key.address, spec, result, measurement)
    data, signature = txlib.sign_proof(key, proof)
    return JobComplete(
        job_id=job_id,
        result=result,
        metrics=Metrics(
            compute_time=measurement.compute_time_ms / 1000,
            tokens_generated=measurement.tokens_generated,
            prompt_tokens=measurement.prompt_tokens,
            gpu_utilization=measurement.gpu_utilization,
            ollama_total_duration_ns=measurement.ollama_total_duration_ns,
        ),
        proof=Proof(hash=proof.result_hash.hex(), data=base64.b64encode(data).decode(), signature=signature.hex()),
    )
