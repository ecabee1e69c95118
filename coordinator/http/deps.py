"""Typed FastAPI dependencies: the runtime, the calling client, the signing miner."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from aitbc.signed_http import SignatureRejected, Signer, verify_request
from aitbc.coordinator.apikeys import Principal
from aitbc.coordinator.core import Coordinator
from aitbc.coordinator.errors import RateLimited, Unauthenticated
from aitbc.coordinator.ratelimit import RateLimiter
from aitbc.coordinator.settings import CoordinatorSettings


# Async on purpose, like every dependency here: FastAPI runs a plain `def` dependency in its
# thread pool, a thread hand-off per request for a one-line lookup (docs/benchmarks.md, intake).
async def get_coordinator(request: Request) -> Coordinator:
    return request.app.state.coordinator


async def get_settings(request: Request) -> CoordinatorSettings:
    return request.app.state.coordinator.settings


CoordDep = Annotated[Coordinator, Depends(get_coordinator)]
SettingsDep = Annotated[CoordinatorSettings, Depends(get_settings)]


def client_ip(request: Request, settings: CoordinatorSettings) -> str:
    """The caller's IP: the TCP peer, or the last X-Forwarded-For hop when the peer is one
    of `trusted_proxies` (only a proxy we run may say who its client is)."""
    peer = request.client.host if request.client else "unknown"
    if peer in settings.trusted_proxies:
        hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
        if hops:
            return hops[-1]
    return peer


def limit_ip(coord: Coordinator, request: Request) -> None:
    """One token from the caller IP's bucket; else 429. For open routes and failed logins,
    which no key's bucket covers."""
    wait = coord.ip_limiter.acquire(client_ip(request, coord.settings))
    if wait > 0:
        raise RateLimited(RateLimiter.retry_after(wait))


async def open_route(request: Request, coord: CoordDep) -> None:
    """Dependency of the routes anyone may call: rate-limited per client IP."""
    limit_ip(coord, request)


async def require_api_key(request: Request, coord: CoordDep,
                          x_api_key: Annotated[str | None, Header(description="client or admin API key")] = None
                          ) -> Principal:
    """The caller behind X-Api-Key, within its rate limit; else 401 or 429.
    Async on purpose: it runs on the event loop, so the buckets need no lock."""
    return authenticate_client(request, coord, x_api_key)


def authenticate_client(request: Request, coord: Coordinator, x_api_key: str | None) -> Principal:
    """require_api_key's rule, for routes that read their arguments themselves (direct_route.py).

    A failed authentication costs a token of the caller IP's bucket, so guessing
    keys is limited too. Call it on the event loop only (the buckets have no lock).
    """
    try:
        principal = coord.keys.authenticate(x_api_key)
    except Unauthenticated:
        limit_ip(coord, request)
        raise
    wait = coord.limiter.acquire(principal.key_hash)
    if wait > 0:
        raise RateLimited(RateLimiter.retry_after(wait))
    return principal


async def require_miner(request: Request, coord: CoordDep) -> Signer:
    """The miner whose chain key signed this request for this coordinator, once
    (aitbc.signed_http); else 401 (or 429 when the caller IP keeps failing)."""
    return authenticate_miner(request, coord, await request.body())


def authenticate_miner(request: Request, coord: Coordinator, body: bytes) -> Signer:
    """require_miner's rule, for routes that read their arguments themselves (direct_route.py).
    Call it on the event loop only (the replay cache and the buckets have no lock)."""
    try:
        return verify_request(request.headers, request.method, request.url.path, body,
                              target=coord.key.address, replay=coord.replay)
    except SignatureRejected as exc:
        limit_ip(coord, request)
        raise Unauthenticated(f"miner request signature rejected: {exc}") from None


PrincipalDep = Annotated[Principal, Depends(require_api_key)]
MinerDep = Annotated[Signer, Depends(require_miner)]
OpenRoute = Depends(open_route)
