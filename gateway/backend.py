"""The one interface between the gateway and the way a job reaches a miner.

Today the only backend is the coordinator (coordinator_backend.py); direct
jobs (a client assigning a miner itself) will be a second one. The gateway's
logic (core.py) only uses what is here: the models on offer, submit a job it
signed, wait for its end, follow its tokens. Receipts are not a backend's
business: the gateway reads them from the chain itself (chain.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from aitbc.gateway.mapping import JobSpec


@dataclass(frozen=True)
class ModelOffer:
    """A model staked miners offer: the cheapest one's price (uaitbc per second) and how many offer it."""

    model: str
    price_per_second: int
    miners: int
    online: int


@dataclass(frozen=True)
class FinishedJob:
    """A job that reached a final status (completed, failed, expired or cancelled)."""

    job_id: str
    status: str
    result: str | None = None
    receipt_id: str | None = None
    error: str | None = None
    fee: int = 0                 # burned by the submit tx; not part of the cost


# What following a job yields, in order: Tokens..., maybe Replaced, Proven, then Finished.
@dataclass(frozen=True)
class Tokens:
    text: str


@dataclass(frozen=True)
class Replaced:
    """The miner streamed something other than its proven result: the whole text is this."""

    text: str


@dataclass(frozen=True)
class Proven:
    """The miner's proof was checked: the result it commits to."""

    result_hash: str
    tokens_generated: int
    prompt_tokens: int


@dataclass(frozen=True)
class Finished:
    job: FinishedJob


JobEvent = Tokens | Replaced | Proven | Finished


class JobBackend(Protocol):
    """How jobs signed by the gateway's key reach miners. Methods raise GatewayError."""

    def offers(self) -> list[ModelOffer]:
        """The models staked miners offer."""
        ...

    def submit(self, spec: JobSpec) -> str:
        """Sign the job's escrow with the gateway's key and submit it; returns the job id."""
        ...

    def wait(self, job_id: str, timeout: float) -> FinishedJob:
        """Block until the job is final (TimedOut after `timeout` seconds)."""
        ...

    def follow(self, job_id: str) -> Iterator[JobEvent]:
        """The job's tokens as they are generated, ending with Finished."""
        ...
