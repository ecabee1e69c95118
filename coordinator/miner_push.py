"""Pushing an assignment to a miner, through the miner's own typed client
(miner/client.py: signed with the coordinator's chain key for that miner).

Unreachable, 5xx and 429 (at capacity) are retried with exponential backoff,
3 tries in all; any other refusal is final. The errors raised carry a fixed
`code` ("miner_unreachable", "miner_declined: HTTP 403", ...) that is safe to
put on chain, and a `detail` for the coordinator's log only: the detail may
quote whatever the endpoint answered, and an endpoint is chosen by a miner.
"""

from __future__ import annotations

import asyncio

from aitbc.coordinator.errors import MinerUnreachable
from aitbc.api.miner_client import EndpointNotAllowed, MinerClient, MinerError, MinerRejected, MinerUnavailable
from aitbc.api.miner_models import AssignAccepted, JobAssignment

TRIES = 3


class MinerDeclined(Exception):
    """The miner answered but refused the assignment (4xx or accepted=false), or its
    endpoint may not be called. `code` is publishable, `str()` is for the log."""

    def __init__(self, detail: str, code: str = "miner_declined"):
        super().__init__(detail)
        self.detail, self.code = detail, code


async def push_assignment(client: MinerClient, endpoint: str, assignment: JobAssignment,
                          backoff_s: float = 0.5, miner: str | None = None) -> AssignAccepted:
    """Deliver `assignment` (to `miner`, else the job's miner per `client.target_of`).

    Raises MinerUnreachable after 3 tries, MinerDeclined on a refusal.
    """
    last: MinerUnavailable | None = None
    for attempt in range(TRIES):
        if attempt:
            await asyncio.sleep(backoff_s * 2 ** (attempt - 1))
        try:
            accepted = await client.assign(endpoint, assignment, miner)
        except MinerRejected as exc:
            if not exc.retryable or attempt == TRIES - 1:
                # A miner that stays at capacity is busy, not gone: a refusal, not an outage.
                raise MinerDeclined(str(exc), exc.code) from None
            continue
        except MinerUnavailable as exc:
            last = exc
            continue
        except EndpointNotAllowed as exc:
            raise MinerDeclined(f"endpoint {endpoint!r} refused: {exc}", exc.code) from None
        except MinerError as exc:
            raise MinerDeclined(str(exc), exc.code) from None
        if not accepted.accepted:
            raise MinerDeclined("the miner answered accepted=false")
        return accepted
    raise MinerUnreachable(f"{endpoint} did not take the assignment after {TRIES} tries ({last})",
                           code=last.code if last is not None else "miner_unreachable")
