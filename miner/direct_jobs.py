"""Direct jobs: the chain assigns them, the prompt comes sealed in the client's tx, and the
miner reports to the chain itself (docs/direct-jobs.md, "What a miner does").

For a job assigned to this miner: read the `submit_job` tx, open the job key sealed
to this miner, open the prompt, check it against the job's prompt hash and length,
run it through the runner (the same Ollama call and proof as a coordinator's job),
seal the result under the job key and send `record_receipt`. What it cannot run
(a key or prompt that does not open, a model it does not serve, Ollama gone) it
declines, which costs no strike and lets the chain assign the next candidate; a
run that fails otherwise, or a result too large to seal, is failed (`fail_job`).

For a spot check seated on this miner: wait until the client has shared the job key
with it (`shared_keys`), open the prompt the same way, re-run it and send
`record_check`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import time
from typing import Any

from pydantic import ValidationError

from aitbc import jobspec, sealing, tx as txlib
from aitbc.api.coordinator_models import JobComplete, JobOptions
from aitbc.api.miner_models import JobAssignment, JobData
from aitbc.crypto import PrivateKey
from aitbc.errors import TxError
from aitbc.miner.metrics import MinerMetrics
from aitbc.miner.own_txs import OwnTxs, fetch_tx
from aitbc.pb.aitbc_pb import tx_pb2
from aitbc.miner.runner import AssignmentRejected, JobRecord, JobRunner, describe_failure
from aitbc.rpc import ChainError, QueryFailed

log = logging.getLogger("miner.direct")

SHARED_KEY_POLL_S = 1.0     # a checker waits this long between looks for the client's shared key
DECLINE_ON = {"model_not_found", "ollama_unavailable", "timeout"}  # cannot run here; another miner may
SHUTDOWN_DECLINE_S = 3.0    # a stopping miner gives its running jobs back, if the node answers this soon


class Decline(Exception):
    """A direct job this miner cannot run; the message is the decline_job reason."""


def is_direct(job: dict[str, Any]) -> bool:
    return bool(job.get("candidates"))


def shared_key_for(job: dict[str, Any], address: str) -> bytes | None:
    """The job key the client sealed to `address` for a spot check (`shared_keys`: "<addr>:<hex>")."""
    for entry in job.get("shared_keys") or ():
        owner, _, sealed = entry.partition(":")
        if owner == address:
            try:
                return bytes.fromhex(sealed)
            except ValueError:
                return None
    return None


def assignment_of(job: dict[str, Any], prompt: str, chain_id: str, check: bool = False) -> JobAssignment:
    """The job as the runner takes it: the chain's model and options (the seed as the chain fixed it),
    with the opened prompt. Raises Decline for options this miner cannot run."""
    try:
        options = JobOptions(temperature=jobspec.temperature_of(int(job["temperature_milli"])),
                             seed=int(job["seed"]), num_predict=int(job["num_predict"]))
    except ValidationError as exc:
        raise Decline(f"options not runnable: {exc.errors()[0]['loc'][0]} "
                      f"{exc.errors()[0]['msg']}") from None
    return JobAssignment(job_id=job["id"], job_data=JobData(type=job["job_type"], prompt=prompt, model=job["model"],
                                                            options=options),
                         reward=int(job["max_reward"]), chain_id=chain_id, check=check)


class DirectJobs:
    """Runs the direct jobs and checks the chain watch finds; each at most once per process."""

    def __init__(self, key: PrivateKey, chain: Any, chain_id: str, runner: JobRunner, txs: OwnTxs,
                 metrics: MinerMetrics, report_retry_s: float = 300.0):
        self.key, self.chain, self.chain_id = key, chain, chain_id
        self.runner, self.txs, self.metrics = runner, txs, metrics
        self.report_retry_s = report_retry_s  # how long a finished result is retried while the node is away

    @property
    def address(self) -> str:
        return self.key.address

    def take(self, job: dict[str, Any]) -> bool:
        """Start a direct job assigned to this miner, unless it runs or ran already."""
        if not (is_direct(job) and job.get("status") == "assigned" and job.get("miner") == self.address):
            return False
        started = self.runner.launch(job["id"], job["model"], False, lambda record: self._serve(job, record))
        if started:
            log.info("direct job taken", extra={"job_id": job["id"], "model": job["model"],
                                                "client": job.get("client")})
        return started

    def check(self, job: dict[str, Any]) -> bool:
        """Start the re-run of a direct job whose spot check is seated on this miner."""
        if not (is_direct(job) and job.get("status") == "verifying" and job.get("checker") == self.address):
            return False
        started = self.runner.launch(job["id"], job["model"], True, lambda record: self._recheck(job, record))
        if started:
            log.info("direct check taken", extra={"job_id": job["id"], "model": job["model"],
                                                  "miner": job.get("miner")})
        return started

    # --- the assigned miner -------------------------------------------------------------

    async def _serve(self, job: dict[str, Any], record: JobRecord) -> None:
        job_id = job["id"]
        if await self._answered_in_mempool(job_id):
            # This miner (before a restart) already answered it; the answer is on its way into a block.
            self.runner.finish(record, "reported")
            log.info("direct job already answered; not run again", extra={"job_id": job_id})
            return
        try:
            job_key, prompt = await self._open(job, self._sealed_key_from_tx)
            assignment = assignment_of(job, prompt, self.chain_id)
            self._runnable(assignment)
            complete = await self.runner.execute(assignment)
        except Decline as why:
            await self._give_back(record, job_id, str(why))
            return
        except asyncio.CancelledError:
            # Stopping: give the job back at once rather than let it expire (a strike) on us.
            self.runner.finish(record, "failed")
            self.metrics.jobs_failed.labels("shutdown").inc()
            try:
                await asyncio.wait_for(self.txs.send("decline_job", job_id, job_id=job_id,
                                                     reason="the miner shut down before the job finished"),
                                       SHUTDOWN_DECLINE_S)
            except (ChainError, TimeoutError):
                pass
            raise
        except Exception as exc:  # noqa: BLE001 - every failure must reach the chain
            reason, error = describe_failure(exc, job["model"], self.runner.generation_timeout_s)
            if reason == "internal":
                log.exception("direct job crashed", extra={"job_id": job_id})
            if reason in DECLINE_ON:
                await self._give_back(record, job_id, error)
            else:
                await self._fail(record, job_id, reason, error)
            return
        await self._deliver(record, assignment, complete, job_key)

    async def _deliver(self, record: JobRecord, a: JobAssignment, complete: JobComplete, job_key: bytes) -> None:
        size = len(complete.result.encode())
        if size > sealing.MAX_RESULT_BYTES:
            await self._fail(record, a.job_id, "result_too_large",
                             f"the result has {size} bytes; a direct job's sealed result holds at most "
                             f"{sealing.MAX_RESULT_BYTES} (ask for fewer tokens)")
            return
        self.runner.completed(record, a, complete)
        sealed = sealing.seal_text(job_key, complete.result)
        deadline = time.monotonic() + self.report_retry_s
        delay = 1.0
        while True:  # a result is money: keep trying while the node is away, as the outbox does
            try:
                result = await self.txs.send("record_receipt", a.job_id, proof=base64.b64decode(complete.proof.data),
                                             miner_signature=bytes.fromhex(complete.proof.signature),
                                             sealed_result=sealed)
                break
            except ChainError as exc:
                if time.monotonic() + delay > deadline:
                    log.error("record_receipt not sent", extra={"job_id": a.job_id, "error": str(exc)})
                    return
                log.warning("record_receipt not sent; retrying", extra={"job_id": a.job_id, "error": str(exc),
                                                                        "retry_in_s": delay})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        if not result.ok:  # e.g. the job expired meanwhile: nothing left to do but say so
            log.error("record_receipt refused", extra={"job_id": a.job_id, "code": result.code_name,
                                                       "detail": result.log})

    async def _give_back(self, record: JobRecord, job_id: str, reason: str) -> None:
        self.runner.finish(record, "declined")
        self.metrics.assignments_rejected.labels("declined").inc()
        log.warning("direct job declined", extra={"job_id": job_id, "reason": reason})
        await self._send_or_log("decline_job", job_id, reason)

    async def _fail(self, record: JobRecord, job_id: str, reason: str, error: str) -> None:
        self.runner.finish(record, "failed")
        self.metrics.jobs_failed.labels(reason).inc()
        log.error("direct job failed", extra={"job_id": job_id, "reason": reason, "error": error})
        await self._send_or_log("fail_job", job_id, error)

    async def _send_or_log(self, kind: str, job_id: str, reason: str) -> None:
        try:
            await self.txs.send(kind, job_id, job_id=job_id, reason=reason[:512])
        except ChainError as exc:  # the chain expires the job in the end
            log.error(f"{kind} not sent", extra={"job_id": job_id, "error": str(exc)})

    async def _answered_in_mempool(self, job_id: str) -> bool:
        """Whether a receipt, decline or failure of `job_id` signed by this miner waits in the node's
        mempool (its first 100 txs): what a restart right after answering would otherwise run again."""
        try:
            pending = await self.chain.call("unconfirmed_txs", limit="100")
        except ChainError:
            return False
        for raw in (pending or {}).get("txs") or []:
            try:
                envelope = tx_pb2.Tx.FromString(base64.b64decode(raw))
                if envelope.public_key != self.key.public_key:
                    continue
                body = tx_pb2.TxBody.FromString(envelope.body)
                kind = body.WhichOneof("msg")
                about = txlib.decode_proof(body.record_receipt.proof).job_id if kind == "record_receipt" \
                    else getattr(body, kind).job_id if kind in ("decline_job", "fail_job") else ""
            except Exception:  # noqa: BLE001 - a tx we cannot read is not our answer
                continue
            if about == job_id:
                return True
        return False

    def _runnable(self, a: JobAssignment) -> None:
        try:
            self.runner.runnable(a)
        except AssignmentRejected as exc:
            raise Decline(exc.detail) from None

    # --- opening the prompt -------------------------------------------------------------

    async def _open(self, job: dict[str, Any], sealed_key_of) -> tuple[bytes, str]:
        """(job key, prompt) of a direct job; Raises Decline when either does not open or the prompt
        is not the one the job names."""
        submit_tx = job.get("submit_tx") or ""
        try:
            submit = await fetch_tx(self.chain, submit_tx, int(job.get("submitted_height") or 0))
        except (ChainError, TxError, ValueError, KeyError) as exc:
            raise Decline(f"cannot read the job's submit_job tx {submit_tx or '(none)'}: {exc}") from None
        msg = submit.msg
        if submit.kind != "submit_job" or not msg.HasField("direct"):
            raise Decline(f"tx {submit_tx} is not a direct submit_job")
        sealed_key = sealed_key_of(job, msg)
        try:
            job_key = sealing.open_job_key(sealed_key, self.key)
            prompt = sealing.open_text(job_key, msg.direct.sealed_prompt)
        except sealing.SealingError as exc:
            raise Decline(f"sealed prompt does not open: {exc}") from None
        if hashlib.sha256(prompt.encode()).hexdigest() != job["prompt_hash"]:
            raise Decline("the opened prompt does not match the job's prompt_hash")
        if len(prompt.encode()) != int(job.get("prompt_bytes", 0)):
            raise Decline(f"the opened prompt has {len(prompt.encode())} bytes; the job says {job.get('prompt_bytes')}")
        return job_key, prompt

    def _sealed_key_from_tx(self, job: dict[str, Any], msg: Any) -> bytes:
        for candidate in msg.direct.miners:
            if candidate.miner == self.address:
                return candidate.sealed_key
        raise Decline("this miner is not among the job's candidates")

    # --- the checker ---------------------------------------------------------------------

    async def _recheck(self, job: dict[str, Any], record: JobRecord) -> None:
        job_id = job["id"]
        try:
            job = await self._wait_for_shared_key(job)
            if job is None:
                self.runner.finish(record, "failed")
                log.warning("direct check dropped: no longer seated here, or no key shared in time",
                            extra={"job_id": job_id})
                return
            _, prompt = await self._open(job, lambda j, _msg: shared_key_for(j, self.address) or b"")
            assignment = assignment_of(job, prompt, self.chain_id, check=True)
            self._runnable(assignment)
            complete = await self.runner.execute(assignment)
        except Decline as why:
            # A checker cannot decline: the check escalates or lapses without this re-run.
            self.runner.finish(record, "failed")
            log.error("direct check not run", extra={"job_id": job_id, "reason": str(why)})
            return
        except Exception as exc:  # noqa: BLE001 - logged; the check window closes without it
            reason, error = describe_failure(exc, job["model"], self.runner.generation_timeout_s)
            self.runner.finish(record, "failed")
            self.metrics.jobs_failed.labels(reason).inc()
            log.error("direct check failed", extra={"job_id": job_id, "reason": reason, "error": error})
            return
        self.runner.completed(record, assignment, complete)
        try:
            result = await self.txs.send("record_check", job_id, proof=base64.b64decode(complete.proof.data),
                                         miner_signature=bytes.fromhex(complete.proof.signature))
        except ChainError as exc:
            log.error("record_check not sent", extra={"job_id": job_id, "error": str(exc)})
            return
        if not result.ok:
            log.error("record_check refused", extra={"job_id": job_id, "code": result.code_name,
                                                     "detail": result.log})

    async def _wait_for_shared_key(self, job: dict[str, Any]) -> dict[str, Any] | None:
        """The job once the client has shared its key with this miner; None once this miner is no
        longer its checker (the check was decided, lapsed or moved on)."""
        while True:
            if not (job.get("status") == "verifying" and job.get("checker") == self.address):
                return None
            if shared_key_for(job, self.address) is not None:
                return job
            await asyncio.sleep(SHARED_KEY_POLL_S)
            try:
                job = await self.chain.query(f"/job/{job['id']}")
            except QueryFailed:
                return None
            except ChainError as exc:  # the node is restarting: look again
                log.warning("cannot read job while waiting for its key", extra={"job_id": job["id"],
                                                                                "error": str(exc)})
