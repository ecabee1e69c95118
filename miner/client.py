"""Typed async client of the miner API, used by the coordinator.

Requests are signed with the coordinator's chain key (aitbc.signed_http);
a miner accepts assignments only from the coordinator named in genesis.
Everything this client raises is a `MinerError`.
"""

from __future__ import annotations

import httpx
from pydantic import ValidationError

from aitbc.crypto import PrivateKey
from aitbc.signed_http import sign_request
from miner.models import AssignAccepted, JobAssignment, MinerHealth

ASSIGN_PATH = "/v1/jobs/assign"


class MinerError(Exception):
    """Base of everything MinerClient raises."""


class MinerUnavailable(MinerError):
    """No usable answer: connection refused, timeout, or a 5xx. Worth retrying later."""


class MinerRejected(MinerError):
    """The miner refused the request (4xx): at capacity (429), wrong model or chain (400), auth (401/403)."""

    def __init__(self, status: int, detail: str):
        super().__init__(f"miner refused ({status}): {detail}")
        self.status, self.detail = status, detail

    @property
    def retryable(self) -> bool:
        """At capacity: the same miner may take the job a little later."""
        return self.status == 429


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    return str(body.get("detail", body)) if isinstance(body, dict) else str(body)


class MinerClient:
    def __init__(self, coordinator_key: PrivateKey, timeout: float = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None):
        self.key = coordinator_key
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport)

    async def __aenter__(self) -> MinerClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def assign(self, endpoint: str, assignment: JobAssignment) -> AssignAccepted:
        """Push a job to the miner at `endpoint`. Raises MinerUnavailable, MinerRejected, MinerError.

        Safe to repeat: a miner answers a job it already has with `accepted` again.
        """
        url = endpoint.rstrip("/") + ASSIGN_PATH
        body = assignment.model_dump_json().encode()
        headers = {"Content-Type": "application/json",
                   **sign_request(self.key, "POST", httpx.URL(url).path, body)}
        response = await self._send("POST", url, content=body, headers=headers)
        return self._parse(response, AssignAccepted)

    async def health(self, endpoint: str) -> MinerHealth:
        response = await self._send("GET", endpoint.rstrip("/") + "/health")
        return self._parse(response, MinerHealth)

    async def _send(self, method: str, url: str, **kwargs) -> httpx.Response:
        try:
            response = await self._http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise MinerUnavailable(f"miner at {url} unreachable: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500:
            raise MinerUnavailable(f"miner at {url} failed ({response.status_code}): {_detail(response)}")
        if response.status_code >= 400:
            raise MinerRejected(response.status_code, _detail(response))
        return response

    @staticmethod
    def _parse(response: httpx.Response, model):
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            raise MinerError(f"unexpected answer from miner at {response.request.url}: {exc}") from None

    async def aclose(self) -> None:
        await self._http.aclose()
