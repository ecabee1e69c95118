"""Wire models of the miner daemon's HTTP API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from aitbc.api.coordinator_models import JobOptions


class JobData(BaseModel):
    type: str = "inference"
    prompt: str
    model: str
    options: JobOptions = JobOptions()


class JobAssignment(BaseModel):
    """POST /v1/jobs/assign, sent by the coordinator and signed with its chain key
    (aitbc.signed_http); the miner accepts it only from the genesis coordinator."""

    model_config = ConfigDict(extra="forbid")
    job_id: str
    job_data: JobData
    reward: int               # max reward locked in escrow, uaitbc
    chain_id: str
    # A spot-check re-run of a job another miner answered (the chain drew this miner as
    # its checker). It runs even if this miner held the job once before, as the original.
    check: bool = False


class AssignAccepted(BaseModel):
    job_id: str
    accepted: bool
    active_jobs: int


class MinerHealth(BaseModel):
    status: str
    address: str
    models: list[str]
    capacity: int
    active_jobs: int
    ollama: str               # "ok" or the error
    # Added by the miner daemon; optional so older readers and writers still agree.
    chain_id: str | None = None
    coordinator: str | None = None    # "registered" or why not
    pending_reports: int = 0          # finished results the coordinator has not acknowledged
    chain_events: str | None = None   # the watch for direct jobs: "subscribed" or "connecting"
    standing: str | None = None       # "ok", or why the chain gives this miner no job (stake, jail)
