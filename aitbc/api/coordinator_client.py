"""A typed, synchronous httpx client of the coordinator's API (used by the CLI).

Errors: everything raised is a CoordinatorError. Transport failures are retried
by the one retry policy (aitbc/api/retry.py: 3 retries with exponential backoff),
then raised as CoordinatorUnavailable; an error answer becomes
ApiError(status, title, detail) from its problem body.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from aitbc import jobspec, tx as txlib
from aitbc.api.coordinator_models import (
    AccountPublic, ChainPublic, JobCancel, JobCreate, JobList, JobOptions, JobPublic, JobSubmitted, MinerPublic,
    ReceiptPublic, StreamEvent,
)
from aitbc.api.problems import read_problem
from aitbc.api.retry import ATTEMPTS, retrying
from aitbc.crypto import PrivateKey

T = TypeVar("T", bound=BaseModel)
API_KEY_HEADER = "X-Api-Key"
POLL_S = 0.25  # how often to ask a coordinator that cannot hold a request (job_updates)
HOLD_S = 25.0  # the longest one long poll asks to be held: under the 30-60 s idle timeouts of common proxies
HELD_READ_MARGIN_S = 10.0  # a held answer may come this much after its wait before it counts as lost


class CoordinatorError(Exception):
    """Base of everything this client raises."""


class CoordinatorUnavailable(CoordinatorError):
    """No answer from the coordinator after a first try and 3 retries."""


class ApiError(CoordinatorError):
    """The coordinator answered with an error (RFC 9457 problem details)."""

    def __init__(self, status: int, title: str, detail: str, headers: dict[str, str] | None = None):
        super().__init__(f"{title} (HTTP {status}): {detail}")
        self.status, self.title, self.detail = status, title, detail
        self.headers = headers or {}


class CoordinatorClient:
    def __init__(self, url: str, api_key: str | None = None, timeout: float = 30.0, backoff_s: float = 0.5,
                 transport: httpx.BaseTransport | None = None):
        self.url = url.rstrip("/")
        self.backoff_s = backoff_s
        headers = {API_KEY_HEADER: api_key} if api_key else {}
        self._http = httpx.Client(base_url=self.url, timeout=timeout, headers=headers, transport=transport)

    def __enter__(self) -> "CoordinatorClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- plumbing ---------------------------------------------------------------
    def _send(self, method: str, path: str, json: Any = None, params: dict[str, Any] | None = None,
              **options: Any) -> httpx.Response:
        policy = retrying(on=httpx.TransportError, backoff_s=self.backoff_s)
        try:
            response = policy(self._http.request, method, path, json=json, params=params, **options)
        except httpx.TransportError as exc:
            raise CoordinatorUnavailable(f"cannot reach the coordinator at {self.url} after {ATTEMPTS} tries: "
                                         f"{exc}") from exc
        if response.is_error:
            raise _api_error(response)
        return response

    def _request(self, method: str, path: str, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        return self._send(method, path, json, params).json()

    def _get(self, model: type[T], path: str, params: dict[str, Any] | None = None) -> T:
        return model.model_validate(self._request("GET", path, params=params))

    def _post(self, model: type[T], path: str, body: BaseModel) -> T:
        return model.model_validate(self._request("POST", path, json=body.model_dump(mode="json",
                                                                                     exclude_none=True)))

    # --- the API ---------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return self._request("GET", "/health")

    def ready(self) -> dict[str, Any]:
        return self._request("GET", "/ready")

    def chain(self) -> ChainPublic:
        return self._get(ChainPublic, "/v1/chain")

    def account(self, address: str) -> AccountPublic:
        return self._get(AccountPublic, f"/v1/accounts/{address}")

    def submit_job(self, job: JobCreate) -> JobSubmitted:
        # Safe to retry: the same signed tx is the same job, and the coordinator answers it again.
        return self._post(JobSubmitted, "/v1/jobs", job)

    def get_job(self, job_id: str) -> JobPublic:
        return self._get(JobPublic, f"/v1/jobs/{job_id}")

    def watch_job(self, job_id: str, etag: str | None = None, wait: float = 0.0) -> tuple[JobPublic | None, str | None]:
        """The job once it no longer matches `etag` (the ETag of an earlier answer), the
        coordinator holding the request up to `wait` seconds (GET /v1/jobs/{id}?wait=; it holds
        at most 60): (the job, its ETag), or (None, `etag`) when nothing changed in that time.
        The ETag is None from a coordinator that sends none, which answers at once: poll it."""
        headers = {"If-None-Match": etag} if etag else {}
        params = {"wait": round(wait, 3)} if etag and wait > 0 else None
        usual = self._http.timeout
        # A held answer is late by `wait`, not by a whole read timeout more.
        held = params["wait"] + min(usual.read, HELD_READ_MARGIN_S) if params and usual.read is not None \
            else usual.read
        response = self._send("GET", f"/v1/jobs/{job_id}", params=params, headers=headers,
                              timeout=httpx.Timeout(connect=usual.connect, read=held, write=usual.write,
                                                    pool=usual.pool))
        if response.status_code == 304:
            return None, response.headers.get("ETag", etag)
        new_etag = response.headers.get("ETag")
        if etag and new_etag == etag:
            return None, etag  # something between us answered for the coordinator: nothing new
        return JobPublic.model_validate(response.json()), new_etag

    def job_updates(self, job_id: str, timeout: float) -> Iterator[JobPublic]:
        """The job now, then again each time it changes (long polls of at most HOLD_S: `watch_job`),
        until it is final or `timeout` seconds have passed; the caller tells which by the last status."""
        deadline = time.monotonic() + timeout
        job, etag = self.watch_job(job_id)
        yield job
        while job.status not in jobspec.FINAL:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if etag is None:  # a coordinator that cannot hold a request
                time.sleep(min(POLL_S, remaining))
                job, etag = self.watch_job(job_id)
                yield job
                continue
            hold = min(remaining, HOLD_S)
            asked = time.monotonic()
            changed, etag = self.watch_job(job_id, etag, wait=hold)
            if changed is not None:
                job = changed
                yield job
            elif time.monotonic() - asked < hold / 2:
                # "Not modified" long before the wait was over: something on the way (a proxy,
                # a cache) does not hold requests. Poll it rather than ask in a tight loop.
                time.sleep(min(POLL_S, max(deadline - time.monotonic(), 0.0)))

    def list_jobs(self, status: str | None = None, limit: int = 50) -> JobList:
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        return self._get(JobList, "/v1/jobs", params)

    def cancel_job(self, job_id: str, signed_tx: str) -> JobPublic:
        return self._post(JobPublic, f"/v1/jobs/{job_id}/cancel", JobCancel(signed_tx=signed_tx))

    def receipt(self, job_or_receipt_id: str) -> ReceiptPublic:
        return self._get(ReceiptPublic, f"/v1/jobs/{job_or_receipt_id}/receipt")

    def miners(self) -> list[MinerPublic]:
        return [MinerPublic.model_validate(m) for m in self._request("GET", "/v1/miners")]

    def stream_job(self, job_id: str) -> Iterator[StreamEvent]:
        """The job's events as they happen (GET /v1/jobs/{id}/stream): `token`s, maybe a
        `replace`, `result` once the proof is checked, then `done` (a JobPublic), after which
        the iterator ends. Not retried and no reconnect: a broken stream raises
        CoordinatorUnavailable; follow up with get_job."""
        try:
            with self._http.stream("GET", f"/v1/jobs/{job_id}/stream",
                                   headers={"Accept": "text/event-stream"}) as response:
                if response.is_error:
                    response.read()
                    raise _api_error(response)
                for event in parse_sse(response.iter_lines()):
                    yield event
                    if event.kind == "done":
                        return
        except httpx.TransportError as exc:
            raise CoordinatorUnavailable(f"stream of job {job_id} from {self.url} broke: {exc}") from exc


def _api_error(response: httpx.Response) -> ApiError:
    problem = read_problem(response)
    return ApiError(problem.status, problem.title, problem.detail, dict(response.headers))


def parse_sse(lines: Iterable[str]) -> Iterator[StreamEvent]:
    """Server-sent events (the subset the coordinator sends: `event:` and one JSON `data:` line
    per event; `:` comments are keep-alives) -> StreamEvents. Unknown kinds are skipped."""
    kind, data = "message", []
    for line in lines:
        if not line:
            if data and kind in ("token", "replace", "result", "done"):
                yield StreamEvent(kind=kind, data=json.loads("\n".join(data)))
            kind, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                kind = value
            elif field == "data":
                data.append(value)


def sign_job(key: PrivateKey, chain_id: str, nonce: int, prompt: str, model: str, max_reward: int,
             options: JobOptions | None = None, job_type: str = "inference",
             max_price_per_second: int = 0, coordinator: str = "") -> JobCreate:
    """A JobCreate whose submit_job tx (signed by `key`) locks `max_reward` for exactly this prompt;
    `max_price_per_second` (uaitbc, 0 = none) caps the price of the miner it may be assigned to.
    `coordinator` names the only coordinator that may run it: the one the request goes to
    (its ChainPublic.job_coordinator; "" is the genesis coordinator)."""
    options = options or JobOptions()
    raw = txlib.build(key, chain_id, nonce, "submit_job", job_type=job_type, model=model,
                      prompt_hash=jobspec.prompt_hash(prompt), max_reward=max_reward,
                      max_price_per_second=max_price_per_second, prompt_bytes=len(prompt.encode("utf-8")),
                      options=jobspec.chain_options(options.temperature, options.seed, options.num_predict),
                      coordinator=coordinator)
    return JobCreate(type=job_type, prompt=prompt, model=model, options=options,
                     signed_tx=base64.b64encode(raw).decode())


def sign_cancel(key: PrivateKey, chain_id: str, nonce: int, job_id: str) -> str:
    """The base64 cancel_job tx for POST /v1/jobs/{id}/cancel."""
    return base64.b64encode(txlib.build(key, chain_id, nonce, "cancel_job", job_id=job_id)).decode()
