"""POST /v1/jobs is served by DirectRoute (coordinator/http/direct_route.py): it answers every
request as the same endpoint behind FastAPI's own dependency solving would, and skips that."""

from __future__ import annotations

import json

import fastapi.routing
import pytest
from fastapi.routing import APIRoute

from aitbc.api.coordinator_models import JobSubmitted
from aitbc.coordinator.http.direct_route import DirectRoute
from aitbc.coordinator.http.routers import jobs
from tests.unit.test_coordinator_api import ADMIN, api, job_body, rpc  # noqa: F401 - fixtures

PLAIN = "/plain-submit"  # the same endpoint, served the usual FastAPI way


@pytest.fixture
def both(api):  # noqa: F811 - the fixture imported above
    api.app.router.add_api_route(PLAIN, jobs.submit_job, methods=["POST"], status_code=201,
                                 response_model=JobSubmitted)
    return api


def _answer(response):
    body = response.json()
    if isinstance(body, dict) and "tx_hash" in body:
        body.pop("created_at", None)
    return response.status_code, response.headers["content-type"], body


@pytest.mark.parametrize("content, headers", [
    (b"", {}),
    (b"{", {"Content-Type": "application/json"}),
    (b"\xff\xfe", {"Content-Type": "application/json"}),
    (b"[1, 2]", {"Content-Type": "application/json"}),
    (b'{"prompt": "x"}', {}),
    (b'{"prompt": "x"}', {"Content-Type": "text/plain"}),
    (json.dumps(job_body(options={"temperature": "hot"})).encode(), {"Content-Type": "application/json"}),
    (json.dumps(job_body(prompt="")).encode(), {"Content-Type": "application/vnd.api+json"}),
    (json.dumps(job_body(signed_tx="not base64!")).encode(), {"Content-Type": "application/json; charset=utf-8"}),
    (json.dumps(job_body()).encode(), {"Content-Type": "application/json", "X-Api-Key": "wrong"}),
    (json.dumps(job_body(max_reward=-1)).encode(), {"Content-Type": "application/json", "X-Api-Key": ""}),
])
def test_direct_and_plain_routes_answer_bad_requests_alike(both, content, headers):
    direct = both.post("/v1/jobs", content=content, headers=headers)
    plain = both.post(PLAIN, content=content, headers=headers)
    assert direct.status_code in (400, 401)
    assert _answer(direct) == _answer(plain)


def test_direct_and_plain_routes_accept_alike(both, rpc):  # noqa: F811
    first = both.post("/v1/jobs", json=job_body(nonce=0))
    assert first.status_code == 201
    # The same request again, through the other route: the same job, answered 200 (a retry).
    again = both.post(PLAIN, json=job_body(nonce=0))
    assert again.status_code == 200 and again.json() == first.json()
    second = both.post(PLAIN, json=job_body(nonce=1))
    assert second.status_code == 201 and len(rpc.broadcasts) == 2
    assert both.post("/v1/jobs", json=job_body(nonce=1)).json() == second.json()
    # Admin keys submit as clients do.
    assert both.post("/v1/jobs", json=job_body(nonce=2), headers={"X-Api-Key": ADMIN}).status_code == 201


def test_the_submission_skips_dependency_solving(api, monkeypatch):  # noqa: F811
    calls = []
    real = fastapi.routing.solve_dependencies

    async def counting(*args, **kwargs):
        calls.append(1)
        return await real(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counting)
    assert api.post("/v1/jobs", json=job_body()).status_code == 201
    assert calls == []
    assert api.get("/v1/jobs").status_code == 200  # an ordinary route does solve them: the probe works
    assert calls


def test_the_route_is_still_documented_from_its_signature(api):  # noqa: F811
    operation = api.get("/openapi.json").json()["paths"]["/v1/jobs"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/JobCreate"}
    assert [p["name"] for p in operation["parameters"]] == ["x-api-key"]
    assert operation["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/JobSubmitted"}


def test_a_direct_route_refuses_an_endpoint_it_cannot_serve():
    async def other(body: JobSubmitted, coord: str) -> None:
        return None

    with pytest.raises(TypeError, match="DirectRoute serves endpoints of"):
        DirectRoute("/x", other, methods=["POST"])
    assert isinstance(APIRoute("/x", other, methods=["POST"]), APIRoute)


def test_the_key_is_checked_before_the_body_is_read(both):
    """The one order DirectRoute changes: FastAPI parsed the body before the key's dependency."""
    headers = {"Content-Type": "application/json", "X-Api-Key": "wrong"}
    assert both.post("/v1/jobs", content=b"{", headers=headers).status_code == 401
    assert both.post(PLAIN, content=b"{", headers=headers).status_code == 400
