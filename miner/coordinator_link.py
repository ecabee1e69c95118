"""Signed requests from the miner to the coordinator, and what their answers mean.

Every request is signed with the miner's chain key (aitbc.signed_http) for the
coordinator at `url` (`target`, its address: the genesis coordinator or a registered
one, learnt from its GET /v1/chain), so the coordinator knows which registered miner
speaks without any shared secret, and no other receiver would take the request.
"""

from __future__ import annotations

import enum
import json
import logging
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import BaseModel

from aitbc.api.coordinator_models import ChainPublic
from aitbc.api.problems import read_problem
from aitbc.crypto import PrivateKey
from aitbc.signed_http import sign_request

log = logging.getLogger("miner.coordinator")

# Answers worth retrying: the coordinator is busy or restarting, not refusing.
RETRYABLE_STATUS = {408, 425, 429}


class Outcome(enum.Enum):
    ACK = "ack"              # 2xx: the coordinator has it
    RETRY = "retry"          # unreachable, 5xx, 429: try again later
    REFUSED = "refused"      # other 4xx: retrying the same body will not help


@dataclass(frozen=True)
class Answer:
    outcome: Outcome
    status: int | None       # None when no HTTP answer came back
    detail: str
    body: Any = None


class CoordinatorLink:
    """POSTs signed JSON to one coordinator; never raises on network or HTTP errors."""

    def __init__(self, url: str, key: PrivateKey, timeout: float = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None, target: str = ""):
        self.url = url.rstrip("/")
        self.key = key
        self.target = target  # the coordinator's address; the daemon sets it once it has read genesis
        self._prefix = httpx.URL(self.url).path.rstrip("/")  # signed path includes any mount prefix
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport)

    async def coordinator_address(self) -> str | None:
        """The address the coordinator at `url` says it signs with (GET /v1/chain); None when it
        does not answer."""
        try:
            response = await self._http.get(self.url + "/v1/chain")
            response.raise_for_status()
            return ChainPublic.model_validate(response.json()).coordinator
        except (httpx.HTTPError, ValueError):
            return None

    async def post(self, path: str, body: BaseModel | dict[str, Any]) -> Answer:
        data = (body.model_dump_json() if isinstance(body, BaseModel) else json.dumps(body)).encode()
        headers = {"Content-Type": "application/json",
                   **sign_request(self.key, "POST", self._prefix + path, data, target=self.target)}
        try:
            response = await self._http.post(self.url + path, content=data, headers=headers)
        except httpx.HTTPError as exc:
            return Answer(Outcome.RETRY, None, f"coordinator at {self.url} unreachable: {type(exc).__name__}: {exc}")
        if response.is_success:
            try:
                parsed = response.json()
            except ValueError:
                parsed = None
            return Answer(Outcome.ACK, response.status_code, "", parsed)
        outcome = Outcome.RETRY if response.status_code >= 500 or response.status_code in RETRYABLE_STATUS \
            else Outcome.REFUSED
        return Answer(outcome, response.status_code, read_problem(response).detail)

    async def aclose(self) -> None:
        await self._http.aclose()
