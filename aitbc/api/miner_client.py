"""Typed async client of the miner API, used by the coordinator to push work.

Requests are signed with the coordinator's chain key (aitbc.signed_http) for
one miner (its address and endpoint), so a miner can refuse an assignment
meant for another; a miner accepts assignments only from the coordinator
named in genesis. Everything this client raises is a `MinerError`; their
messages may quote the miner's answer and are for logs, never for the chain.
"""

from __future__ import annotations

from typing import Awaitable, Callable

import httpx
from pydantic import ValidationError

from aitbc.api.miner_models import AssignAccepted, JobAssignment, MinerHealth
from aitbc.api.problems import read_problem
from aitbc.crypto import PrivateKey
from aitbc.endpoints import authority, host_port, parse_endpoint
from aitbc.signed_http import push_target, sign_request

ASSIGN_PATH = "/v1/jobs/assign"

Resolver = Callable[[str], Awaitable[list[str]]]


class MinerError(Exception):
    """Base of everything MinerClient raises. `code` is a fixed word safe to publish."""

    code = "miner_error"


class MinerUnavailable(MinerError):
    """No usable answer: connection refused, timeout, or a 5xx. Worth retrying later."""

    code = "miner_unreachable"

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status
        if status is not None:
            self.code = f"miner_error: HTTP {status}"


class MinerRejected(MinerError):
    """The miner refused the request (4xx): at capacity (429), wrong model or chain (400), auth (401/403)."""

    def __init__(self, status: int, detail: str):
        super().__init__(f"miner refused ({status}): {detail}")
        self.status, self.detail = status, detail
        self.code = f"miner_declined: HTTP {status}"

    @property
    def retryable(self) -> bool:
        """At capacity: the same miner may take the job a little later."""
        return self.status == 429


class EndpointNotAllowed(MinerError):
    """The endpoint is malformed or resolves to an address this coordinator does not call."""

    code = "miner_endpoint_refused"


class MinerClient:
    """`resolve(endpoint)` returns the checked addresses to connect to (coordinator/targets.py);
    `target_of(job_id)` names the miner an assignment is for (to sign it for that miner only)."""

    def __init__(self, coordinator_key: PrivateKey, timeout: float = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None, resolve: Resolver | None = None,
                 target_of: Callable[[str], Awaitable[str]] | None = None):
        self.key = coordinator_key
        self.resolve = resolve
        self.target_of = target_of
        # No redirects: a miner's 30x must not send the coordinator somewhere else.
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport, follow_redirects=False)

    async def __aenter__(self) -> MinerClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def assign(self, endpoint: str, assignment: JobAssignment, miner: str | None = None) -> AssignAccepted:
        """Push a job to `miner` at `endpoint`. Raises MinerUnavailable, MinerRejected, EndpointNotAllowed,
        MinerError.

        Safe to repeat: a miner answers a job it already has with `accepted` again.
        """
        try:
            endpoint = parse_endpoint(endpoint)
        except ValueError as exc:
            raise EndpointNotAllowed(str(exc)) from None
        if miner is None:
            if self.target_of is None:
                raise MinerError("no miner address to sign the assignment for")
            try:
                miner = await self.target_of(assignment.job_id)
            except LookupError as exc:
                raise MinerError(str(exc)) from None
        url = endpoint + ASSIGN_PATH
        body = assignment.model_dump_json().encode()
        headers = {"Content-Type": "application/json",
                   **sign_request(self.key, "POST", ASSIGN_PATH, body, target=push_target(miner, authority(endpoint)))}
        url, extensions = await self._pinned(endpoint, url, headers)
        response = await self._send("POST", url, content=body, headers=headers, extensions=extensions)
        return self._parse(response, AssignAccepted)

    async def _pinned(self, endpoint: str, url: str, headers: dict[str, str]) -> tuple[str, dict]:
        """Connect to the address the resolver checked, not to a second DNS answer."""
        if self.resolve is None:
            return url, {}
        try:
            addresses = await self.resolve(endpoint)
        except ValueError as exc:
            raise EndpointNotAllowed(str(exc)) from None
        host, port = host_port(endpoint)
        ip = addresses[0]
        if ip == host:
            return url, {}
        scheme, netloc = endpoint.split("://", 1)
        headers["Host"] = netloc  # the name the miner knows itself by; TLS checks it via SNI
        literal = f"[{ip}]" if ":" in ip else ip
        pinned = f"{scheme}://{literal}:{port}{url[len(endpoint):]}"
        return pinned, ({"sni_hostname": host} if scheme == "https" else {})

    async def health(self, endpoint: str) -> MinerHealth:
        response = await self._send("GET", endpoint.rstrip("/") + "/health")
        return self._parse(response, MinerHealth)

    async def _send(self, method: str, url: str, **kwargs) -> httpx.Response:
        try:
            response = await self._http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise MinerUnavailable(f"miner at {url} unreachable: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500:
            detail = read_problem(response).detail
            raise MinerUnavailable(f"miner at {url} failed ({response.status_code}): {detail}", response.status_code)
        if response.status_code >= 400:
            raise MinerRejected(response.status_code, read_problem(response).detail)
        if response.status_code >= 300:
            raise MinerRejected(response.status_code, "redirects are not followed")
        return response

    @staticmethod
    def _parse(response: httpx.Response, model):
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            raise MinerError(f"unexpected answer from miner at {response.request.url}: {exc}") from None

    async def aclose(self) -> None:
        await self._http.aclose()
