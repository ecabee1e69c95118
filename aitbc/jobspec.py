"""The job vocabulary shared by the chain, the services and the CLI.

One owner for the words every component must agree on: the job statuses and
their named sets, the generation options and how they are encoded on chain,
and the prompt and result hashes. Statuses are a `str` enum, so the strings
stored in LevelDB and SQLite and sent on the wire stay plain "pending",
"completed", ... and compare equal to the members.
"""

from __future__ import annotations

import hashlib
import json
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


# Job types. A chat job's prompt is its messages (and stop sequences) in one
# canonical JSON text, so the prompt hash, spot checks and receipt verification
# treat it like any other prompt.
JOB_TYPES: tuple[str, ...] = ("inference", "chat")
"""What a job can be: "inference" runs Ollama's /api/generate, "chat" its /api/chat."""

CHAT_ROLES: tuple[str, ...] = ("system", "user", "assistant")


def chat_prompt(messages: list[dict[str, str]], stop: list[str] | None = None) -> str:
    """The canonical prompt text of a chat job: {"messages": [{"role", "content"}...], "stop": [...]}
    as compact JSON with sorted keys and UTF-8 kept as is. Raises ValueError on a bad message."""
    text = _canonical({"messages": [{"role": m["role"], "content": m["content"]} for m in messages],
                       "stop": list(stop or [])})
    parse_chat_prompt(text)  # one set of rules for building and for checking
    return text


def parse_chat_prompt(text: str) -> tuple[list[dict[str, str]], list[str]]:
    """(messages, stop) of a chat job's prompt. Raises ValueError unless `text` is valid and
    exactly the canonical form `chat_prompt` builds (else two texts would mean one chat)."""
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"chat prompt is not JSON: {exc}") from None
    if not isinstance(body, dict) or set(body) != {"messages", "stop"}:
        raise ValueError('chat prompt must be an object with exactly "messages" and "stop"')
    messages, stop = body["messages"], body["stop"]
    if not isinstance(messages, list) or not messages:
        raise ValueError("chat prompt needs at least one message")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or set(m) != {"role", "content"}:
            raise ValueError(f'message {i} must have exactly "role" and "content"')
        if m["role"] not in CHAT_ROLES:
            raise ValueError(f"message {i} has role {m['role']!r}; expected one of {', '.join(CHAT_ROLES)}")
        if not isinstance(m["content"], str):
            raise ValueError(f"message {i} content must be a string")
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
        raise ValueError("stop must be a list of non-empty strings")
    if _canonical(body) != text:
        raise ValueError("chat prompt is not in canonical form (jobspec.chat_prompt: sorted keys, "
                         "no spaces, UTF-8 unescaped)")
    return messages, stop


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
