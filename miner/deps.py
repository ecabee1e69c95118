"""Typed FastAPI dependencies of the miner's API: the daemon, and the signing coordinator."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from aitbc.miner.daemon import MinerDaemon, NotCoordinator
from aitbc.signed_http import SignatureRejected, verify_request

log = logging.getLogger("miner.api")


def get_daemon(request: Request) -> MinerDaemon:
    return request.app.state.daemon


DaemonDep = Annotated[MinerDaemon, Depends(get_daemon)]


async def require_coordinator(request: Request, daemon: DaemonDep) -> str:
    """The coordinator's address, if it signed this request for this miner, once; else 401/403."""
    body = await request.body()  # FastAPI has read and cached it: these are the signed bytes
    try:
        signer = verify_request(request.headers, request.method, request.url.path, body,
                                target=daemon.push_target, replay=daemon.replay)
    except SignatureRejected as exc:
        daemon.metrics.assignments_rejected.labels("unsigned").inc()
        log.warning("assignment refused: bad signature", extra={"detail": str(exc), "client": _peer(request)})
        raise HTTPException(401, f"unsigned or badly signed request: {exc}") from None
    try:
        daemon.authorize(signer.address)
    except NotCoordinator as exc:
        daemon.metrics.assignments_rejected.labels("not_coordinator").inc()
        log.warning("assignment refused: not the coordinator", extra={"signer": signer.address,
                                                                      "client": _peer(request)})
        raise HTTPException(403, str(exc)) from None
    return signer.address


def _peer(request: Request) -> str | None:
    return f"{request.client.host}:{request.client.port}" if request.client else None


CoordinatorDep = Annotated[str, Depends(require_coordinator)]
