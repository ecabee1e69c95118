"""The gateway's logic, without HTTP: one request, one job, one answer checked against its receipt.

Used by the HTTP app (app.py) and by `aitbc chat`. Every answer it returns
has been compared with the receipt on chain: the sha256 of the text is the
receipt's result hash, and the receipt's prompt hash is this prompt's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from aitbc.gateway.backend import Finished, FinishedJob, JobBackend, ModelOffer, Proven, Replaced, Tokens
from aitbc.gateway.chain import ChainView, check_receipt
from aitbc.gateway.errors import ModelNotFound, UpstreamError
from aitbc.gateway.mapping import JobSpec
from aitbc.gateway.openai_models import FinishReason, Usage
from aitbc import jobspec

OFFERS_TTL_S = 5.0   # the model list is asked for on every request; miners change slowly


@dataclass(frozen=True)
class Answer:
    """A completed job's text and what the chain says about it."""

    job_id: str
    text: str
    receipt_id: str
    result_hash: str
    finish_reason: FinishReason
    usage: Usage
    cost: int       # uaitbc paid to the miner (the receipt's amount_paid)
    fee: int        # uaitbc burned by the submit tx

    def facts(self) -> dict[str, object]:
        """The `aitbc` field of a response: job, receipt, result hash and cost."""
        return {"job_id": self.job_id, "receipt_id": self.receipt_id, "result_hash": self.result_hash,
                "cost": self.cost, "fee": self.fee}


@dataclass(frozen=True)
class Delta:
    """More text of a streamed answer."""

    text: str


@dataclass(frozen=True)
class Rewrite:
    """The streamed text so far was not the proven result; this is the whole of it."""

    text: str


class Gateway:
    def __init__(self, backend: JobBackend, chain: ChainView, timeout: float = 300.0):
        self.backend, self.chain, self.timeout = backend, chain, timeout
        self._offers: tuple[float, list[ModelOffer]] | None = None
        self._offers_lock = threading.Lock()

    def close(self) -> None:
        close = getattr(self.backend, "close", None)
        if close:
            close()
        self.chain.close()

    def models(self, fresh: bool = False) -> list[ModelOffer]:
        """The models staked miners offer (cached for a few seconds)."""
        with self._offers_lock:
            if fresh or self._offers is None or time.monotonic() - self._offers[0] > OFFERS_TTL_S:
                self._offers = (time.monotonic(), self.backend.offers())
            return self._offers[1]

    def check_model(self, model: str) -> None:
        """Raises ModelNotFound when no staked miner offers `model` (a job for it would only expire)."""
        offers = self.models()
        if not any(o.model == model for o in offers):
            offers = self.models(fresh=True)   # a miner may have just come
        if any(o.model == model for o in offers):
            return
        offered = ", ".join(o.model for o in offers) or "none"
        raise ModelNotFound(f"The model '{model}' is not offered by any staked miner (offered: {offered})",
                            param="model")

    def submit(self, spec: JobSpec) -> str:
        """Check the model, then sign and submit the job; its id."""
        self.check_model(spec.model)
        return self.backend.submit(spec)

    def complete(self, spec: JobSpec) -> Answer:
        """Run the job to its end and return the answer its receipt pays for."""
        job = self.backend.wait(self.submit(spec), self.timeout)
        return self.settle(spec, job, job.result or "")

    def follow(self, spec: JobSpec, job_id: str) -> Iterator[Delta | Rewrite | Answer]:
        """A submitted job's text as it is generated, then its checked Answer."""
        text = ""
        for event in self.backend.follow(job_id):
            if isinstance(event, Tokens):
                text += event.text
                yield Delta(event.text)
            elif isinstance(event, Replaced):
                if event.text.startswith(text):
                    yield Delta(event.text[len(text):])
                else:
                    yield Rewrite(event.text)
                text = event.text
            elif isinstance(event, Proven):
                if event.result_hash != jobspec.result_hash(text).hex():
                    raise UpstreamError(f"the text streamed for job {job_id} is not the result its miner proved",
                                        code="result_mismatch", job_id=job_id)
            elif isinstance(event, Finished):
                yield self.settle(spec, event.job, text)
                return
        raise UpstreamError(f"the stream of job {job_id} ended before the job did", job_id=job_id)

    def settle(self, spec: JobSpec, job: FinishedJob, text: str) -> Answer:
        """The Answer of a final job, once its receipt on chain is checked against `text`."""
        if job.status != jobspec.JobStatus.COMPLETED:
            reason = f": {job.error}" if job.error else ""
            raise UpstreamError(f"job {job.job_id} {job.status}{reason}", code=f"job_{job.status}",
                                job_id=job.job_id)
        receipt = self.chain.receipt(job.job_id)
        check_receipt(receipt, job.job_id, spec.prompt, text)
        generated, prompt_tokens = int(receipt["tokens_generated"]), int(receipt["prompt_tokens"])
        return Answer(
            job_id=job.job_id, text=text, receipt_id=receipt["id"], result_hash=receipt["result_hash"],
            finish_reason="length" if generated >= spec.num_predict else "stop",
            usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=generated,
                        total_tokens=prompt_tokens + generated),
            cost=int(receipt["amount_paid"]), fee=job.fee,
        )
