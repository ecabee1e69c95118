"""Wire models of the coordinator's HTTP API (request and response bodies; errors are
aitbc.api.problems.Problem).

Amounts travel as integer uaitbc; times as ISO-8601 UTC strings; hashes as
lower-case hex; the client's signed tx as base64.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aitbc import jobspec
from aitbc.jobspec import JobStatus

MAX_PROMPT_CHARS = 8_000


class JobOptions(BaseModel):
    """Generation options; recorded on chain (temperature as milli-units)."""

    model_config = ConfigDict(extra="forbid")
    temperature: float = Field(jobspec.DEFAULT_TEMPERATURE, ge=0, le=jobspec.MAX_TEMPERATURE)
    seed: int = Field(0, ge=0, le=jobspec.MAX_SEED)
    num_predict: int = Field(jobspec.DEFAULT_NUM_PREDICT, ge=1, le=jobspec.MAX_NUM_PREDICT)


class JobCreate(BaseModel):
    """POST /v1/jobs. `signed_tx` is the client's submit_job tx (base64), built
    by `aitbc submit`: it locks max_reward in escrow; the coordinator checks that
    it matches this prompt, model and options before broadcasting it.
    `type` is one of jobspec.JOB_TYPES; a "chat" job's prompt is jobspec.chat_prompt(messages, stop)."""

    model_config = ConfigDict(extra="forbid")
    type: str = "inference"
    prompt: str
    model: str
    options: JobOptions = JobOptions()
    signed_tx: str
    client_key: str | None = None   # the flowchart sends it; ignored (X-Api-Key authenticates)
    timestamp: str | None = None    # the flowchart sends it; ignored


class JobSubmitted(BaseModel):
    job_id: str
    status: JobStatus
    submitted_at: datetime
    tx_hash: str


class JobPublic(BaseModel):
    """GET /v1/jobs/{id}. `result` is there once the coordinator checked the miner's signed proof
    and the chain's CheckTx accepted its receipt; `receipt_pending` stays true until that
    receipt is in a block (then `receipt_id`, `amount_paid`, `block_height`). What each step
    guarantees: docs/verification.md, "When the client gets the result"."""

    job_id: str
    status: JobStatus
    type: str
    model: str
    client: str
    miner: str | None = None
    result: str | None = None
    result_hash: str | None = None
    receipt_pending: bool = False            # result released, its record_receipt tx not yet in a block
    released_at: datetime | None = None      # when the result was released
    receipt_id: str | None = None
    max_reward: int
    amount_paid: int | None = None
    refund: int | None = None
    compute_time: float | None = None       # seconds, as reported by the miner
    tokens_generated: int | None = None
    error: str | None = None
    submitted_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    block_height: int | None = None          # of the receipt
    tx_hash: str
    fee: int = 0                             # burned by the client's submit_job tx (not part of the cost)


class JobList(BaseModel):
    jobs: list[JobPublic]


class StatusUpdate(BaseModel):
    """POST /v1/jobs/{id}/status from the assigned miner (signed request)."""

    model_config = ConfigDict(extra="forbid")
    status: Literal["running", "failed"]
    started_at: datetime | None = None
    error: str | None = None


class Metrics(BaseModel):
    compute_time: float = Field(ge=0)           # seconds of inference
    tokens_generated: int = Field(ge=0)
    prompt_tokens: int = Field(0, ge=0)
    gpu_utilization: float | None = None         # null without a visible GPU
    ollama_total_duration_ns: int | None = None


class Proof(BaseModel):
    hash: str            # sha256 hex of the UTF-8 result
    data: str            # base64 of the ComputeProof protobuf the miner signed
    signature: str       # hex ed25519 signature (aitbc.tx.sign_proof)


class JobComplete(BaseModel):
    """POST /v1/jobs/{id}/complete from the assigned miner (signed request)."""

    model_config = ConfigDict(extra="forbid")
    job_id: str
    result: str
    metrics: Metrics
    proof: Proof


MAX_CHUNK_CHARS = 64_000


class ChunkCreate(BaseModel):
    """POST /v1/jobs/{id}/chunks from the assigned miner (signed request): the next piece of
    the text it is generating. `seq` counts from 0 without gaps; the pieces in order begin the
    result its proof will commit to (the completion, which may come before the last piece,
    holds all of it)."""

    model_config = ConfigDict(extra="forbid")
    seq: int = Field(ge=0)
    text: str = Field(max_length=MAX_CHUNK_CHARS)


class ChunkAccepted(BaseModel):
    job_id: str
    next_seq: int


# GET /v1/jobs/{id}/stream is text/event-stream; each event's data is one of these
# (`done` carries a JobPublic). Streamed text is unverified until the `result` event.
StreamKind = Literal["token", "replace", "result", "done"]


class StreamToken(BaseModel):
    """`token`: more text. A late reader gets what came so far as one token; `seq` is then the
    last piece that text includes (a miner's chunk, or the coordinator's own number for the
    text that came with the completion)."""

    seq: int
    text: str


class StreamReplace(BaseModel):
    """`replace`: the text so far is void; this is the whole text instead (the verified result,
    when what was streamed differs from it)."""

    text: str


class StreamResult(BaseModel):
    """`result`: the coordinator checked the miner's signed proof; the text received so far
    hashes to `result_hash`."""

    result_hash: str
    tokens_generated: int
    prompt_tokens: int


class StreamEvent(BaseModel):
    """One server-sent event of GET /v1/jobs/{id}/stream, as CoordinatorClient.stream_job yields it."""

    kind: StreamKind
    data: dict[str, Any]

    def token(self) -> StreamToken:
        return StreamToken.model_validate(self.data)

    def replacement(self) -> StreamReplace:
        return StreamReplace.model_validate(self.data)

    def result(self) -> StreamResult:
        return StreamResult.model_validate(self.data)

    def job(self) -> JobPublic:
        return JobPublic.model_validate(self.data)


class ReceiptPublic(BaseModel):
    """GET /v1/jobs/{id}/receipt: the on-chain receipt."""

    receipt_id: str
    job_id: str
    client: str
    miner: str
    amount_paid: int
    refund: int
    result_hash: str
    compute_time_ms: int
    billed_ms: int = 0           # min(compute time, tokens x the job's ms-per-token ceiling): what is paid for
    price_per_second: int
    block_height: int
    timestamp: datetime

    @classmethod
    def from_chain(cls, receipt: dict[str, Any]) -> "ReceiptPublic":
        """The public view of a receipt as the chain's /receipt query returns it."""
        return cls(
            receipt_id=receipt["id"], job_id=receipt["job_id"], client=receipt["client"], miner=receipt["miner"],
            amount_paid=receipt["amount_paid"], refund=receipt["refund"], result_hash=receipt["result_hash"],
            compute_time_ms=receipt["compute_time_ms"], billed_ms=receipt.get("billed_ms", receipt["compute_time_ms"]),
            price_per_second=receipt["price_per_second"], block_height=receipt["block_height"],
            timestamp=datetime.fromtimestamp(receipt["block_time_ns"] / 1e9, tz=timezone.utc),
        )


MAX_JOBS_AT_ONCE = 1_000_000  # a miner's capacity or active jobs, as a miner may state them


class MinerRegister(BaseModel):
    """POST /v1/miners/register (signed by the miner's key; it must be registered on chain)."""

    model_config = ConfigDict(extra="forbid")
    endpoint: str                 # e.g. http://127.0.0.1:18001
    models: list[str]
    # Jobs at once; the chain caps it far lower (max_capacity). The bound keeps a signed but absurd
    # number a clear 400, not a store error (SQLite keeps int64).
    capacity: int = Field(ge=1, le=MAX_JOBS_AT_ONCE)


class MinerHeartbeat(BaseModel):
    """POST /v1/miners/heartbeat (signed)."""

    model_config = ConfigDict(extra="forbid")
    active_jobs: int = Field(ge=0, le=MAX_JOBS_AT_ONCE)
    models: list[str] | None = None


class MinerPublic(BaseModel):
    address: str
    endpoint: str
    models: list[str]
    capacity: int
    active_jobs: int
    stake: int
    completed: int
    failed: int
    last_seen: datetime | None
    online: bool


class JobCancel(BaseModel):
    """POST /v1/jobs/{id}/cancel: the client's own signed cancel_job tx (base64)."""

    model_config = ConfigDict(extra="forbid")
    signed_tx: str


class ChainPublic(BaseModel):
    """GET /v1/chain: what a client needs to build txs for this coordinator's chain.

    A submit_job tx is taken only when its `coordinator` is `job_coordinator`: "" for the
    genesis coordinator, else this coordinator's address (a coordinator registered on chain)."""

    chain_id: str
    coordinator: str             # this coordinator's address
    job_coordinator: str = ""    # what submit_job must name (older coordinators were all genesis: "")
    genesis_coordinator: str = ""  # the chain's genesis coordinator
    price_per_second: int        # uaitbc per compute second
    node: str                    # the CometBFT RPC the coordinator uses
    height: int | None = None
    pending_timeout_s: int | None = None
    job_timeout_s: int | None = None
    min_miner_stake: int | None = None


class AccountPublic(BaseModel):
    """GET /v1/accounts/{address}: committed balance, and the next nonce counting the mempool."""

    address: str
    exists: bool
    balance: int                 # uaitbc, as of the last block
    nonce: int                   # the nonce to sign the next tx with
    pending_balance: int         # balance once the txs in the mempool are in
