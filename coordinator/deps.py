"""Typed FastAPI dependencies: the runtime, the calling client, the signing miner."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from aitbc.signed_http import SignatureRejected, Signer, verify_request
from coordinator.apikeys import Principal
from coordinator.core import Coordinator
from coordinator.errors import RateLimited, Unauthenticated
from coordinator.ratelimit import RateLimiter
from coordinator.settings import CoordinatorSettings


def get_coordinator(request: Request) -> Coordinator:
    return request.app.state.coordinator


def get_settings(request: Request) -> CoordinatorSettings:
    return request.app.state.coordinator.settings


CoordDep = Annotated[Coordinator, Depends(get_coordinator)]
SettingsDep = Annotated[CoordinatorSettings, Depends(get_settings)]


async def require_api_key(coord: CoordDep,
                    x_api_key: Annotated[str | None, Header(description="client or admin API key")] = None
                    ) -> Principal:
    """The caller behind X-Api-Key, within its rate limit; else 401 or 429.

    Async on purpose: it runs on the event loop, so the buckets need no lock.
    """
    principal = coord.keys.authenticate(x_api_key)
    wait = coord.limiter.acquire(principal.key_hash)
    if wait > 0:
        raise RateLimited(RateLimiter.retry_after(wait))
    return principal


async def require_miner(request: Request) -> Signer:
    """The miner whose chain key signed this request (aitbc.signed_http); else 401."""
    body = await request.body()
    try:
        return verify_request(request.headers, request.method, request.url.path, body)
    except SignatureRejected as exc:
        raise Unauthenticated(f"miner request signature rejected: {exc}") from None


PrincipalDep = Annotated[Principal, Depends(require_api_key)]
MinerDep = Annotated[Signer, Depends(require_miner)]
