"""The evidence of a `dispute_result`: a client shows that its direct job's sealed result is not
the result the receipt commits to (the money side is `jobs.dispute_result`).

The chain cannot open a sealed result, and a spot check re-runs the prompt against the
result *hash* only: a miner that ran the job, committed the right hash and sealed garbage
(or sealed under another key) passes every check while its client pays for nothing it can
read. The client can prove it by revealing the job key with the sealed prompt and the sealed
result as they are on chain (the job keeps both hashes):

1. the key must open the sealed prompt to UTF-8 text whose sha256 is the job's prompt hash.
   XSalsa20-Poly1305 does not commit to its key, so this is what shows the key is the one the
   miner opened the prompt with: a second key opening the same ciphertext to the same
   plaintext would need a keystream collision and a Poly1305 forgery;
2. the result is proven unreadable when the sealed result does not open with that key to
   UTF-8 text whose sha256 is the receipt's result hash: the check the client itself makes
   (aitbc.cli.direct_jobs.open_result), made by the chain. An honest miner always passes it.
"""

from __future__ import annotations

from aitbc import sealing
from aitbc.abci_app.records import Job
from aitbc.errors import BadJobStatus, InvalidField, ResultMatches
from aitbc.tx import sha256


def _hash(data: bytes) -> str:
    return sha256(data).hex()


def prove_unreadable(job: Job, msg) -> None:
    """Returns when `msg` (a DisputeResult) proves `job`'s sealed result unreadable. Raises
    BadJobStatus (a job from before disputes), InvalidField (values that are not the job's on-chain
    ones, a key that is not the job's), ResultMatches (the result opens and matches: no cheat)."""
    if not job.sealed_prompt_hash or not job.sealed_result_hash:
        raise BadJobStatus(job.id, "from before disputes (its sealed values' hashes were not kept)",
                           "dispute the result of")
    if _hash(msg.sealed_prompt) != job.sealed_prompt_hash:
        raise InvalidField("sealed_prompt", f"is not the sealed prompt of job {job.id} (its submit_job tx "
                           f"{job.submit_tx})")
    if _hash(msg.sealed_result) != job.sealed_result_hash:
        raise InvalidField("sealed_result", f"is not the sealed result of job {job.id} (its record_receipt tx "
                           f"{job.receipt_tx})")
    try:
        prompt = sealing.open_text(msg.job_key, msg.sealed_prompt)
    except sealing.SealingError:
        raise InvalidField("job_key", f"does not open the sealed prompt of job {job.id}") from None
    if _hash(prompt.encode()) != job.prompt_hash:
        raise InvalidField("job_key", f"opens the sealed prompt of job {job.id} to another prompt than its prompt hash")
    try:
        result = sealing.open_text(msg.job_key, msg.sealed_result)
    except sealing.SealingError:
        return  # sealed under another key, or not sealed at all
    if _hash(result.encode()) == job.result_hash:
        raise ResultMatches(job.id)
