"""Running assigned jobs on Ollama: capacity, idempotency, measuring, proof, reports.

A coordinator's job is accepted synchronously (or refused with a reason) and then
runs in a background task: report "running", generate, measure, sign the proof,
hand the completion (or the failure) to the outbox, which delivers it. A direct
job (miner/direct_jobs.py) runs through the same `execute` and the same record of
jobs (`launch`), and reports to the chain instead.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Protocol

import httpx

from aitbc import jobspec
from aitbc.api.retry import async_retrying
from aitbc.crypto import PrivateKey
from aitbc.api.coordinator_models import JobComplete, StatusUpdate
from aitbc.miner import proof as prooflib
from aitbc.miner.coordinator_link import CoordinatorLink, Outcome
from aitbc.miner.gpu import GpuSampler
from aitbc.miner.metrics import MinerMetrics
from aitbc.api.miner_models import AssignAccepted, JobAssignment
from aitbc.miner.ollama_client import (
    GenerateResult, GenerationAborted, ModelInfo, ModelNotFound, OllamaError, OllamaUnavailable, TextSink,
)
from aitbc.miner.outbox import Outbox, Report
from aitbc.miner.text_stream import ChunkForwarder, finishing

log = logging.getLogger("miner.jobs")
KEEP_FINISHED = 1000        # job ids remembered for idempotent re-assignment


class Generator(Protocol):
    async def generate(self, model: str, prompt: str, options: dict[str, Any] | None = None,
                       timeout: float | None = None, *, on_text: TextSink | None = None) -> GenerateResult: ...

    async def chat(self, model: str, messages: list[dict[str, str]], options: dict[str, Any] | None = None,
                   timeout: float | None = None, *, on_text: TextSink | None = None) -> GenerateResult: ...

    async def show(self, model: str) -> ModelInfo: ...


DIGEST_TTL_S = 30.0  # a model re-created under the same name gets a new digest
# What a failure report needs to reach the chain before the job's deadline (miner -> coordinator
# or node -> a block): a share of the job timeout, and never less than a few blocks.
REPORT_MARGIN_SHARE = 0.1
REPORT_MARGIN_MIN_S = 5.0


def tamper(result: str) -> str:
    """A wrong answer that looks like an answer (for the TEST ONLY fault switch)."""
    return result[::-1] + " (unverified)"


class AssignmentRejected(Exception):
    """An assignment this miner refuses; `status` is the HTTP answer."""

    status = 400
    reason = "rejected"

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class WrongChain(AssignmentRejected):
    reason = "wrong_chain"


class ModelNotOffered(AssignmentRejected):
    reason = "model_not_offered"


class UnsupportedJobType(AssignmentRejected):
    reason = "job_type"


class AtCapacity(AssignmentRejected):
    status = 429
    reason = "at_capacity"


class NotAssignedOnChain(AssignmentRejected):
    """The chain does not show this job as assigned to (or re-run by) this miner."""

    status = 409
    reason = "not_assigned_on_chain"


class NotYetOnChain(AssignmentRejected):
    """The chain does not show the assignment yet (still in the mempool?): the coordinator
    may retry, as with any 503, instead of failing the job over a slow block."""

    status = 503
    reason = "not_on_chain_yet"


class ChainUnreachable(AssignmentRejected):
    """The miner cannot ask the chain whether the job is its own; the coordinator may retry."""

    status = 503
    reason = "chain_unreachable"


def base_name(model: str) -> str:
    """Ollama treats "name" and "name:latest" as one model."""
    return model.removesuffix(":latest")


@dataclass
class JobRecord:
    job_id: str
    model: str
    status: str = "running"    # running -> completed | failed
    task: asyncio.Task | None = field(default=None, repr=False)


def record_key(job_id: str, check: bool) -> str:
    """A job and its spot-check re-run are two runs: a miner that held a job once (its
    assignment then failed on chain) may be drawn as the checker of the same job later."""
    return f"{job_id}#check" if check else job_id


def _record_key(assignment: JobAssignment) -> str:
    return record_key(assignment.job_id, assignment.check)


class JobRunner:
    def __init__(self, key: PrivateKey, chain_id: str, models: list[str], capacity: int, ollama: Generator,
                 link: CoordinatorLink, outbox: Outbox, metrics: MinerMetrics, ollama_timeout_s: float = 300.0,
                 num_thread: int | None = None, tamper_share: float = 0.0, inflate_time_x: float = 1.0,
                 job_timeout_s: float | None = None):
        self.key, self.chain_id, self.models, self.capacity = key, chain_id, list(models), capacity
        # TEST ONLY fault switch: this share of results is altered before signing, so
        # tests can show that spot checks catch and slash a cheating miner. Off by default.
        self.tamper_share = tamper_share
        # TEST ONLY: claim this multiple of the measured compute time, to show that
        # metering bounds the pay and that re-runs catch the claim. 1 = honest.
        self.inflate_time_x = inflate_time_x
        self._digests: dict[str, tuple[float, str]] = {}
        self._digest_lookups: dict[str, asyncio.Task] = {}  # by model, while Ollama is asked
        self.ollama, self.link, self.outbox, self.metrics = ollama, link, outbox, metrics
        self.num_thread = num_thread
        self.generation_timeout_s = generation_limit(ollama_timeout_s, job_timeout_s)
        self._offered = {base_name(m) for m in models}
        self._jobs: OrderedDict[str, JobRecord] = OrderedDict()
        metrics.capacity.set(capacity)

    @property
    def active_jobs(self) -> int:
        return sum(1 for r in self._jobs.values() if r.status == "running")

    def knows(self, assignment: JobAssignment) -> bool:
        """Whether this assignment was accepted before (running, finished, or its report pending)."""
        key = _record_key(assignment)
        return key in self._jobs or (not assignment.check and assignment.job_id in self.outbox)

    def assign(self, assignment: JobAssignment) -> AssignAccepted:
        """Accept a job and start it. Raises AssignmentRejected."""
        job_id, data = assignment.job_id, assignment.job_data
        if self.knows(assignment):
            known = self._jobs.get(_record_key(assignment))
            # The coordinator asked again: a timeout, a restart, or the chain turned down its first
            # assignment (two jobs in one block for a full miner) and the job came back to us. The
            # same answer, and this run's report again even if the coordinator took it once: it let
            # the result go when the assignment failed (or kept another miner's instead since), and
            # nobody else holds this miner's signed proof.
            # (A check's re-run only gets its pending report pushed: the outbox keys reports by job id.)
            if assignment.check:
                self.outbox.kick(job_id)
                resent = job_id in self.outbox
            else:
                resent = self.outbox.resend(job_id)
            log.info("assignment repeated", extra={"job_id": job_id, "status": known.status if known else "reported",
                                                   "report_resent": resent})
            return AssignAccepted(job_id=job_id, accepted=True, active_jobs=self.active_jobs)
        self.precheck(assignment)
        record = JobRecord(job_id, data.model)
        self._jobs[_record_key(assignment)] = record
        self._forget_old()
        record.task = asyncio.create_task(self._run(assignment, record), name=f"job-{job_id}")
        self.metrics.jobs_accepted.inc()
        self.metrics.active_jobs.set(self.active_jobs)
        log.info("assignment accepted", extra={"job_id": job_id, "model": data.model, "reward": assignment.reward,
                                                "active_jobs": self.active_jobs, "capacity": self.capacity})
        return AssignAccepted(job_id=job_id, accepted=True, active_jobs=self.active_jobs)

    def launch(self, job_id: str, model: str, check: bool, work: Callable[[JobRecord], Awaitable[None]]) -> bool:
        """Run `work(record)` in a task for a job the chain gave this miner, unless this run is
        known already (False). No capacity check: the chain counts this miner's slots."""
        key = record_key(job_id, check)
        if key in self._jobs:
            return False
        record = JobRecord(job_id, model)
        self._jobs[key] = record
        self._forget_old()
        record.task = asyncio.create_task(work(record), name=f"{'check' if check else 'job'}-{job_id}")
        record.task.add_done_callback(lambda task: self._crashed(task, record))
        self.metrics.jobs_accepted.inc()
        self.metrics.active_jobs.set(self.active_jobs)
        return True

    def _crashed(self, task: asyncio.Task, record: JobRecord) -> None:
        """A launched run that raised: logged, and its record closed (the chain expires the job)."""
        if task.cancelled() or task.exception() is None:
            return
        if record.status == "running":
            self.finish(record, "failed")
        log.error("job crashed", extra={"job_id": record.job_id, "error": repr(task.exception())},
                  exc_info=task.exception())

    def precheck(self, assignment: JobAssignment) -> None:
        """The refusals that need no chain: chain id, job type, model, capacity. Raises AssignmentRejected."""
        try:
            self._check(assignment)
        except AssignmentRejected as exc:
            self.metrics.assignments_rejected.labels(exc.reason).inc()
            log.warning("assignment rejected", extra={"job_id": assignment.job_id, "model": assignment.job_data.model,
                                                      "reason": exc.reason, "detail": exc.detail})
            raise

    def runnable(self, a: JobAssignment) -> None:
        """What this miner can run at all: chain id, job type, model (the chain counts slots for the
        jobs it assigns). Raises AssignmentRejected."""
        self._check(a, capacity=False)

    def _check(self, a: JobAssignment, capacity: bool = True) -> None:
        if a.chain_id != self.chain_id:
            raise WrongChain(f"assignment is for chain {a.chain_id!r}; this miner is on {self.chain_id!r}")
        if a.job_data.type not in jobspec.JOB_TYPES:
            raise UnsupportedJobType(f"job type {a.job_data.type!r} is not supported; only "
                                     f"{', '.join(jobspec.JOB_TYPES)}")
        if a.job_data.type == "chat":
            try:
                jobspec.parse_chat_prompt(a.job_data.prompt)
            except ValueError as exc:
                raise AssignmentRejected(f"chat prompt: {exc}") from None
        if base_name(a.job_data.model) not in self._offered:
            raise ModelNotOffered(f"model {a.job_data.model!r} is not served by this miner; it serves "
                                  f"{', '.join(self.models)}")
        if capacity and self.active_jobs >= self.capacity:
            raise AtCapacity(f"miner at capacity: {self.active_jobs} of {self.capacity} job(s) running; "
                             "try another miner or later")

    def _forget_old(self) -> None:
        while len(self._jobs) > KEEP_FINISHED:
            oldest = next(iter(self._jobs))
            if self._jobs[oldest].status == "running":
                break
            self._jobs.popitem(last=False)

    def _options(self, a: JobAssignment) -> dict[str, Any]:
        o = a.job_data.options
        options: dict[str, Any] = {"temperature": o.temperature, "seed": o.seed, "num_predict": o.num_predict}
        if self.num_thread:
            options["num_thread"] = self.num_thread
        return options

    async def _run(self, a: JobAssignment, record: JobRecord) -> None:
        job_id, model = a.job_id, a.job_data.model
        started_at = datetime.now(timezone.utc)
        running = asyncio.create_task(self._report_running(job_id, started_at))
        log.info("job running", extra={"job_id": job_id, "model": model})
        # The client follows the text live; a spot check's re-run is for the coordinator only.
        chunks = None if a.check else ChunkForwarder(self.link, job_id)
        try:
            result, measurement = await self._generate(a, chunks.add if chunks else None)
        except asyncio.CancelledError:
            # Miner shutting down: say so now rather than leave the client waiting for the deadline.
            running.cancel()
            if chunks:
                await chunks.abort()
            self.finish(record, "failed")
            self.metrics.jobs_failed.labels("shutdown").inc()
            log.warning("job cancelled: miner shutting down", extra={"job_id": job_id, "model": model})
            self._report_failure(job_id, started_at, "the miner shut down before the job finished")
            raise
        except Exception as exc:  # noqa: BLE001 - every failure must reach the coordinator
            if chunks:
                await chunks.abort()
            reason, error = describe_failure(exc, model, self.generation_timeout_s)
            if reason == "internal":
                log.exception("job crashed", extra={"job_id": job_id})
            self.finish(record, "failed")
            self.metrics.jobs_failed.labels(reason).inc()
            log.error("job failed", extra={"job_id": job_id, "model": model, "reason": reason, "error": error})
            try:
                await running  # keep the order the coordinator sees: running, then failed
            finally:  # even if the miner is stopping meanwhile
                self._report_failure(job_id, started_at, error)
            return
        if chunks:
            chunks.close()  # the last chunk goes as the completion is made: either brings the end of the text
        complete = await self.prove(a, result, measurement)
        self.completed(record, a, complete)
        try:
            await running
        finally:  # a finished result must not be lost to a shutdown in between
            self.outbox.add(Report(job_id, "complete", f"/v1/jobs/{job_id}/complete",
                                   complete.model_dump(mode="json"), time.time()))

    async def execute(self, a: JobAssignment, on_text: TextSink | None = None) -> JobComplete:
        """Run the job on Ollama and sign its proof: what every path to a result shares.
        Raises what the generation raises (see `describe_failure`)."""
        result, measurement = await self._generate(a, on_text)
        return await self.prove(a, result, measurement)

    async def prove(self, a: JobAssignment, result: str, measurement: prooflib.Measurement) -> JobComplete:
        """The signed completion of a run (the TEST ONLY fault switches applied first)."""
        job_id = a.job_id
        if self.tamper_share and random.random() < self.tamper_share:
            result = tamper(result)
            log.warning("TEST FAULT: result tampered before signing", extra={"job_id": job_id})
        if self.inflate_time_x != 1.0:
            measurement = replace(measurement, compute_time_ms=int(measurement.compute_time_ms * self.inflate_time_x))
            log.warning("TEST FAULT: compute time inflated before signing", extra={"job_id": job_id})
        o = a.job_data.options
        spec = prooflib.RunSpec(a.job_data.model, await self._digest(a.job_data.model), a.job_data.prompt,
                                o.temperature, o.seed, o.num_predict)
        return prooflib.completion(self.key, self.chain_id, job_id, spec, result, measurement)

    def completed(self, record: JobRecord, a: JobAssignment, complete: JobComplete) -> None:
        """Book a finished run: its record, the metrics, one log line."""
        self.finish(record, "completed")
        m = complete.metrics
        self.metrics.jobs_completed.inc()
        self.metrics.tokens_generated.inc(m.tokens_generated)
        log.info("job completed", extra={"job_id": a.job_id, "model": a.job_data.model, "check": a.check,
                                         "compute_time_ms": round(m.compute_time * 1000),
                                         "tokens_generated": m.tokens_generated, "prompt_tokens": m.prompt_tokens,
                                         "result_hash": complete.proof.hash, "result_chars": len(complete.result),
                                         "gpu_utilization": m.gpu_utilization})

    async def _generate(self, a: JobAssignment, on_text: TextSink | None = None) -> tuple[str, prooflib.Measurement]:
        """Run the job on Ollama: an inference job's prompt through /api/generate, a chat job's
        messages through /api/chat, streamed to `on_text`. The result is the streamed text."""
        model, options = a.job_data.model, self._options(a)
        self._prefetch_digest(model)  # the proof needs it right after the generation
        outcome = "error"
        start = time.monotonic()
        try:
            async with GpuSampler() as gpu:
                if a.job_data.type == "chat":
                    messages, stop = jobspec.parse_chat_prompt(a.job_data.prompt)
                    answer = await self.ollama.chat(model, messages, {**options, "stop": stop} if stop else options,
                                                    timeout=self.generation_timeout_s, on_text=on_text)
                else:
                    answer = await self.ollama.generate(model, a.job_data.prompt, options,
                                                        timeout=self.generation_timeout_s, on_text=on_text)
            outcome = "ok"
        finally:
            wall_s = time.monotonic() - start
            self.metrics.ollama_latency.labels(model, outcome).observe(wall_s)
        log.info("ollama call", extra={
            "job_id": a.job_id, "model": model, "options": options, "wall_ms": round(wall_s * 1000, 1),
            "total_duration_ms": answer.total_duration / 1e6, "load_duration_ms": answer.load_duration / 1e6,
            "prompt_eval_ms": answer.prompt_eval_duration / 1e6, "eval_ms": answer.eval_duration / 1e6,
            "prompt_eval_count": answer.prompt_eval_count, "eval_count": answer.eval_count,
            "done_reason": answer.done_reason})
        # Ollama's own total is what the inference cost; wall time also counts HTTP and queueing.
        compute_ms = answer.total_duration // 1_000_000 if answer.total_duration else round(wall_s * 1000)
        return answer.response, prooflib.Measurement(
            compute_time_ms=compute_ms, tokens_generated=answer.eval_count, prompt_tokens=answer.prompt_eval_count,
            gpu_utilization=gpu.utilization, ollama_total_duration_ns=answer.total_duration or None)

    def _fresh_digest(self, model: str) -> str | None:
        cached = self._digests.get(model)
        return cached[1] if cached and time.monotonic() - cached[0] < DIGEST_TTL_S else None

    def _prefetch_digest(self, model: str) -> None:
        """Ask Ollama for the model's digest while it generates, when the cached one is stale, so
        that the signed proof does not wait for it after the generation."""
        if self._fresh_digest(model) is None and model not in self._digest_lookups:
            lookup = self._digest_lookups[model] = asyncio.create_task(self._look_up_digest(model),
                                                                       name=f"digest-{model}")
            lookup.add_done_callback(lambda done: self._digest_lookups.get(model) is done
                                     and self._digest_lookups.pop(model))

    async def _digest(self, model: str) -> str:
        """sha256 of the model's weights, cached briefly; '' when Ollama cannot say."""
        fresh = self._fresh_digest(model)
        if fresh is not None:
            return fresh
        lookup = self._digest_lookups.get(model)
        if lookup is not None:
            return await asyncio.shield(lookup)  # a job cancelled meanwhile leaves it to the others
        return await self._look_up_digest(model)

    async def _look_up_digest(self, model: str) -> str:
        try:
            digest = (await self.ollama.show(model)).model_digest
        except Exception as exc:  # noqa: BLE001 - a result without digest is still a result
            log.warning("model digest unknown", extra={"model": model, "error": str(exc)})
            return ""
        self._digests[model] = (time.monotonic(), digest)
        return digest

    def _report_failure(self, job_id: str, started_at: datetime, error: str) -> None:
        body = StatusUpdate(status="failed", started_at=started_at, error=error)
        self.outbox.add(Report(job_id, "failed", f"/v1/jobs/{job_id}/status", body.model_dump(mode="json"),
                               time.time()))

    def finish(self, record: JobRecord, status: str) -> None:
        record.status = status
        self.metrics.active_jobs.set(self.active_jobs)

    async def _report_running(self, job_id: str, started_at: datetime) -> None:
        # "running" is informative: the one retry policy, not the outbox's long retries of a result.
        body = StatusUpdate(status="running", started_at=started_at)
        answer = await async_retrying(on_result=lambda a: a.outcome is Outcome.RETRY, backoff_s=0.5)(
            self.link.post, f"/v1/jobs/{job_id}/status", body)
        if answer.outcome is Outcome.REFUSED:
            log.warning("running report refused", extra={"job_id": job_id, "http_status": answer.status,
                                                         "detail": answer.detail})
        elif answer.outcome is Outcome.RETRY:
            log.warning("running report not delivered", extra={"job_id": job_id, "detail": answer.detail})

    async def close(self) -> None:
        """Cancel running jobs (the chain refunds them at their deadline)."""
        tasks = [r.task for r in self._jobs.values() if r.task is not None and not r.task.done()]
        tasks += [task for task in self._digest_lookups.values() if not task.done()]
        tasks += finishing()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # each logged its own failure


def generation_limit(ollama_timeout_s: float, job_timeout_s: float | None) -> float:
    """Seconds one generation may take: the operator's Ollama timeout, but short enough that the
    failure is reported before the chain's job deadline. An assigned job that expires costs the
    miner stake and a strike; one it gives up in time costs nothing (through a coordinator) or a
    strike (a direct job). A generation stuck behind others in a busy Ollama must not outlive it."""
    if not job_timeout_s:
        return ollama_timeout_s
    margin = max(REPORT_MARGIN_MIN_S, job_timeout_s * REPORT_MARGIN_SHARE)
    return max(1.0, min(ollama_timeout_s, job_timeout_s - margin))


def describe_failure(exc: BaseException, model: str, timeout_s: float) -> tuple[str, str]:
    """(metric reason, message for the coordinator and the client) of a failed generation."""
    if isinstance(exc, ModelNotFound):
        return "model_not_found", f"model '{model}' not found on the miner's Ollama: {exc.message}"
    if isinstance(exc, OllamaUnavailable):
        if isinstance(exc.__cause__, (httpx.TimeoutException, TimeoutError)):
            return "timeout", f"Ollama did not answer within {timeout_s:g} s"
        return "ollama_unavailable", f"Ollama unavailable on the miner: {exc.reason}"
    if isinstance(exc, GenerationAborted):
        return "aborted", "Ollama aborted the generation before it finished (token repeat limit?)"
    if isinstance(exc, OllamaError):
        return "ollama_error", f"Ollama error: {exc}"
    return "internal", f"miner internal error: {type(exc).__name__}: {exc}"
