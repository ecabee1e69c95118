"""Pushing an assignment to a miner, through the miner's own typed client
(miner/client.py: signed with the coordinator's chain key).

Unreachable, 5xx and 429 (at capacity) are retried with exponential backoff,
3 tries in all; any other refusal is final.
"""

from __future__ import annotations

import asyncio

from coordinator.errors import MinerUnreachable
from miner.client import MinerClient, MinerError, MinerRejected, MinerUnavailable
from miner.models import AssignAccepted, JobAssignment

TRIES = 3


class MinerDeclined(Exception):
    """The miner answered but refused the assignment (4xx or accepted=false)."""


async def push_assignment(client: MinerClient, endpoint: str, assignment: JobAssignment,
                          backoff_s: float = 0.5) -> AssignAccepted:
    """Deliver `assignment`. Raises MinerUnreachable after 3 tries, MinerDeclined on a refusal."""
    last = ""
    for attempt in range(TRIES):
        if attempt:
            await asyncio.sleep(backoff_s * 2 ** (attempt - 1))
        try:
            accepted = await client.assign(endpoint, assignment)
        except MinerRejected as exc:
            if not exc.retryable or attempt == TRIES - 1:
                # A miner that stays at capacity is busy, not gone: a refusal, not an outage.
                raise MinerDeclined(str(exc)) from None
            last = str(exc)
            continue
        except MinerUnavailable as exc:
            last = str(exc)
            continue
        except MinerError as exc:
            raise MinerDeclined(str(exc)) from None
        if not accepted.accepted:
            raise MinerDeclined("the miner answered accepted=false")
        return accepted
    raise MinerUnreachable(f"{endpoint} did not take the assignment after {TRIES} tries ({last})")
