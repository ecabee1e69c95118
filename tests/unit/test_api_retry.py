"""The one retry policy: a first try and 3 retries (the flowchart's "maximum 3 retries")."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from aitbc.api.coordinator_client import CoordinatorClient, CoordinatorUnavailable
from aitbc.api.problems import read_problem
from aitbc.api.retry import ATTEMPTS, RETRIES, async_retrying


def test_the_coordinator_client_gives_up_after_three_retries():
    calls = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ConnectError("refused")

    with CoordinatorClient("http://coordinator.test", backoff_s=0, transport=httpx.MockTransport(refuse)) as client:
        with pytest.raises(CoordinatorUnavailable, match=f"after {ATTEMPTS} tries"):
            client.health()
    assert RETRIES == 3 and len(calls) == 1 + RETRIES


def test_an_error_answer_is_not_retried():
    calls = []

    def busy(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503, json={"type": "about:blank", "title": "Not ready", "status": 503, "detail": "x"})

    with CoordinatorClient("http://coordinator.test", backoff_s=0, transport=httpx.MockTransport(busy)) as client:
        with pytest.raises(Exception, match="Not ready"):
            client.health()
    assert len(calls) == 1


def test_a_result_based_policy_returns_the_last_result():
    answers = iter(["again", "again", "again", "again", "never reached"])

    async def ask() -> str:
        return next(answers)

    assert asyncio.run(async_retrying(on_result=lambda a: a == "again", backoff_s=0)(ask)) == "again"
    assert next(answers) == "never reached"


@pytest.mark.parametrize("response, title, detail", [
    (httpx.Response(409, json={"type": "urn:x", "title": "Conflict", "status": 409, "detail": "taken"}),
     "Conflict", "taken"),
    (httpx.Response(422, json={"detail": "FastAPI's own body"}), "Unprocessable Entity", "FastAPI's own body"),
    (httpx.Response(502, text="<html>bad gateway</html>"), "Bad Gateway", "<html>bad gateway</html>"),
    (httpx.Response(500, text=""), "Internal Server Error", "Internal Server Error"),
])
def test_any_error_answer_reads_as_a_problem(response, title, detail):
    problem = read_problem(response)
    assert (problem.status, problem.title, problem.detail) == (response.status_code, title, detail)
