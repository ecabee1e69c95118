"""The job vocabulary shared by the chain, the services and the CLI.

One owner for the words every component must agree on: the job statuses and
their named sets, the generation options and how they are encoded on chain,
and the prompt and result hashes. Statuses are a `str` enum, so the strings
stored in LevelDB and SQLite and sent on the wire stay plain "pending",
"completed", ... and compare equal to the members.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum

from aitbc.pb.aitbc_pb import tx_pb2


class JobStatus(StrEnum):
    """Every status a job can have, on chain or in the coordinator."""

    PENDING = "pending"        # submitted, escrow locked, no miner yet
    ASSIGNED = "assigned"      # a miner holds it
    RUNNING = "running"        # the miner reported it started (coordinator only; the chain never says it)
    VERIFYING = "verifying"    # result on chain, payment held while a spot check re-runs the job
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


ALL: tuple[JobStatus, ...] = tuple(JobStatus)
"""Every status: the choices the API and the CLI accept when listing jobs."""

FINAL: tuple[JobStatus, ...] = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.EXPIRED, JobStatus.CANCELLED)
"""Nothing more happens to the job."""

OPEN_ON_CHAIN: tuple[JobStatus, ...] = (JobStatus.PENDING, JobStatus.ASSIGNED, JobStatus.VERIFYING)
"""Statuses in which the chain still holds (part of) the job's escrow."""

OPEN_IN_SERVICE: tuple[JobStatus, ...] = (JobStatus.PENDING, JobStatus.ASSIGNED, JobStatus.RUNNING)
"""The coordinator's unfinished work: jobs it still has to assign, push or watch run.
A verifying job's result is already in; the chain settles it without the coordinator."""


# Generation options. The chain stores temperature as an integer of thousandths
# (no floats in state); the bounds are the API's and the chain's stateless check's.
DEFAULT_TEMPERATURE = 0.7
MAX_TEMPERATURE = 10
MAX_TEMPERATURE_MILLI = MAX_TEMPERATURE * 1000
DEFAULT_NUM_PREDICT = 128
MAX_NUM_PREDICT = 4096
MAX_SEED = 2**63 - 1


def temperature_milli(temperature: float) -> int:
    """A temperature as the chain records it: thousandths, rounded to nearest."""
    return round(temperature * 1000)


def temperature_of(milli: int) -> float:
    """The temperature a chain record's `temperature_milli` stands for."""
    return milli / 1000


def chain_options(temperature: float, seed: int, num_predict: int) -> tx_pb2.JobOptions:
    """The generation options as the protobuf `JobOptions` of a submit tx or proof."""
    return tx_pb2.JobOptions(temperature_milli=temperature_milli(temperature), seed=seed, num_predict=num_predict)


def prompt_hash(prompt: str) -> bytes:
    """The sha256 of the UTF-8 prompt: all of the prompt that goes on chain."""
    return hashlib.sha256(prompt.encode("utf-8")).digest()


def result_hash(result: str) -> bytes:
    """The sha256 of the UTF-8 result, as the proof commits to it (hex on the wire: `.hex()`)."""
    return hashlib.sha256(result.encode("utf-8")).digest()
