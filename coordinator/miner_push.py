"""Pushing an assignment to a miner, through the miner's typed client
(aitbc/api/miner_client.py: signed with the coordinator's chain key for that miner).

Unreachable, 5xx and 429 (at capacity) are retried by the one retry policy
(aitbc/api/retry.py: a first try and 3 retries with exponential backoff); any
other refusal is final. The errors raised carry a fixed `code`
("miner_unreachable", "miner_declined: HTTP 403", ...) that is safe to put on
chain, and a `detail` for the coordinator's log only: the detail may quote
whatever the endpoint answered, and an endpoint is chosen by a miner.
"""

from __future__ import annotations

from aitbc.api.miner_client import EndpointNotAllowed, MinerClient, MinerError, MinerRejected, MinerUnavailable
from aitbc.api.miner_models import AssignAccepted, JobAssignment
from aitbc.api.retry import ATTEMPTS, async_retrying
from aitbc.coordinator.errors import MinerUnreachable


class MinerDeclined(Exception):
    """The miner answered but refused the assignment (4xx or accepted=false), or its
    endpoint may not be called. `code` is publishable, `str()` is for the log."""

    def __init__(self, detail: str, code: str = "miner_declined"):
        super().__init__(detail)
        self.detail, self.code = detail, code


def _worth_retrying(exc: BaseException) -> bool:
    """Unreachable, failing, or at capacity: the same miner may take the job a little later."""
    return isinstance(exc, MinerUnavailable) or (isinstance(exc, MinerRejected) and exc.retryable)


async def push_assignment(client: MinerClient, endpoint: str, assignment: JobAssignment,
                          backoff_s: float = 0.5, miner: str | None = None) -> AssignAccepted:
    """Deliver `assignment` (to `miner`, else the job's miner per `client.target_of`).

    Raises MinerUnreachable once the retries are spent, MinerDeclined on a refusal.
    """
    try:
        accepted = await async_retrying(on=_worth_retrying, backoff_s=backoff_s)(
            client.assign, endpoint, assignment, miner)
    except MinerRejected as exc:
        # A miner that stays at capacity is busy, not gone: a refusal, not an outage.
        raise MinerDeclined(str(exc), exc.code) from None
    except MinerUnavailable as exc:
        raise MinerUnreachable(f"{endpoint} did not take the assignment after {ATTEMPTS} tries ({exc})",
                               code=exc.code) from None
    except EndpointNotAllowed as exc:
        raise MinerDeclined(f"endpoint {endpoint!r} refused: {exc}", exc.code) from None
    except MinerError as exc:
        raise MinerDeclined(str(exc), exc.code) from None
    if not accepted.accepted:
        raise MinerDeclined("the miner answered accepted=false")
    return accepted
