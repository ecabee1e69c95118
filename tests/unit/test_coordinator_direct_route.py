"""POST /v1/jobs and a miner's reports are served by DirectRoute (coordinator/http/direct_route.py):
it answers every request as the same endpoint behind FastAPI's own dependency solving would,
and skips that."""

from __future__ import annotations

import json
from typing import Annotated

import fastapi.routing
import pytest
from fastapi import APIRouter, Body, Depends, FastAPI, Path
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from aitbc.api.coordinator_models import ChunkAccepted, JobPublic, JobSubmitted
from aitbc.coordinator import job_state
from aitbc.coordinator.http.deps import CoordDep, PrincipalDep, get_coordinator
from aitbc.coordinator.http.direct_route import DirectRoute
from aitbc.coordinator.http.routers import jobs
from aitbc.ops.factories import KEYS
from aitbc.signed_http import sign_request
from tests.unit.test_coordinator_api import ADMIN, api, job_body, rpc  # noqa: F401 - fixtures

PLAIN = "/plain-submit"  # the same endpoint, served the usual FastAPI way


MINER = KEYS["miner1"]
# The miner's routes, served the usual FastAPI way under /plain-jobs/{job_id}/...
MINER_ROUTES = {"status": (jobs.report_status, 200, JobPublic), "chunks": (jobs.add_chunk, 202, ChunkAccepted),
                "complete": (jobs.complete_job, 200, JobPublic)}


@pytest.fixture
def both(api):  # noqa: F811 - the fixture imported above
    api.app.router.add_api_route(PLAIN, jobs.submit_job, methods=["POST"], status_code=201,
                                 response_model=JobSubmitted)
    for name, (endpoint, status, model) in MINER_ROUTES.items():
        api.app.router.add_api_route(f"/plain-jobs/{{job_id}}/{name}", endpoint, methods=["POST"], status_code=status,
                                     response_model=model)
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


def test_submissions_and_miner_reports_skip_dependency_solving(api, monkeypatch):  # noqa: F811
    calls = []
    real = fastapi.routing.solve_dependencies

    async def counting(*args, **kwargs):
        calls.append(1)
        return await real(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counting)
    job_id = _assigned_job(api)
    assert _signed(api, f"/v1/jobs/{job_id}/status", b'{"status": "running"}').status_code == 200
    assert _signed(api, f"/v1/jobs/{job_id}/chunks", b'{"seq": 0, "text": "hi"}').status_code == 202
    assert calls == []
    assert api.get("/v1/jobs").status_code == 200  # an ordinary route does solve them: the probe works
    assert calls


def test_the_route_is_still_documented_from_its_signature(api):  # noqa: F811
    operation = api.get("/openapi.json").json()["paths"]["/v1/jobs"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/JobCreate"}
    assert [p["name"] for p in operation["parameters"]] == ["x-api-key"]
    assert operation["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/JobSubmitted"}


def test_a_direct_route_refuses_an_endpoint_it_cannot_serve():
    async def other(body: JobSubmitted, coord: str, limit: int) -> None:
        return None

    with pytest.raises(TypeError, match="DirectRoute serves endpoints of"):
        DirectRoute("/x", other, methods=["POST"])
    assert isinstance(APIRoute("/x", other, methods=["POST"]), APIRoute)


def test_the_body_is_parsed_before_the_key_is_checked_and_validated_after_as_in_fastapi(both, monkeypatch):
    """A body that is not JSON is a 400 for any key and spends no rate-limit token; JSON that
    is not a job spends one (the key's dependency ran before FastAPI validated the body)."""
    wrong_key = {"Content-Type": "application/json", "X-Api-Key": "wrong"}
    answers = [both.post(path, content=b"{", headers=wrong_key) for path in ("/v1/jobs", PLAIN)]
    assert answers[0].status_code == 400 and _answer(answers[0]) == _answer(answers[1])
    limiter = both.app.state.coordinator.limiter
    spent: list[str] = []
    acquire = limiter.acquire
    monkeypatch.setattr(limiter, "acquire", lambda key: spent.append(key) or acquire(key))
    for path in ("/v1/jobs", PLAIN):
        assert both.post(path, content=b"{", headers={"Content-Type": "application/json"}).status_code == 400
    assert spent == []
    for path in ("/v1/jobs", PLAIN):
        assert both.post(path, json={"prompt": ""}).status_code == 400
    assert len(spent) == 2


def _signed(client, path: str, content: bytes, key=MINER, content_type: str | None = "application/json",
            target: str | None = None):
    headers = sign_request(key, "POST", path, content, target=target or KEYS["coordinator"].address)
    if content_type:
        headers["Content-Type"] = content_type
    return client.post(path, content=content, headers=headers)


def _assigned_job(client, nonce: int = 0) -> str:
    job_id = client.post("/v1/jobs", json=job_body(nonce=nonce)).json()["job_id"]
    store = client.app.state.coordinator.store
    job_state.mark_assigned(store, store.get_job(job_id), MINER.address)
    return job_id


@pytest.mark.parametrize("route, content, content_type, key", [
    ("status", b"", "application/json", MINER),
    ("status", b"{", "application/json", MINER),
    ("status", b'{"status": "sleeping"}', "application/json", MINER),
    ("status", b'{"status": "running"}', "text/plain", MINER),
    ("status", b'{"status": "running"}', "application/json", KEYS["miner2"]),  # not its job: 404
    ("chunks", b'{"seq": -1, "text": "x"}', "application/json", MINER),
    ("chunks", b'{"seq": 0}', None, MINER),
    ("complete", b'{"result": "x"}', "application/json", MINER),
    ("complete", b'{}', "application/json", KEYS["alice"]),
])
def test_direct_and_plain_miner_routes_answer_bad_requests_alike(both, route, content, content_type, key):
    job_id = _assigned_job(both)
    direct = _signed(both, f"/v1/jobs/{job_id}/{route}", content, key, content_type)
    plain = _signed(both, f"/plain-jobs/{job_id}/{route}", content, key, content_type)
    assert direct.status_code in (400, 404), direct.text
    assert _answer(direct) == _answer(plain)


def test_unsigned_and_wrongly_signed_miner_requests_are_refused_alike(both):
    job_id = _assigned_job(both)
    not_json = [both.post(path, content=b"{", headers={"Content-Type": "application/json"})
                for path in (f"/v1/jobs/{job_id}/chunks", f"/plain-jobs/{job_id}/chunks")]
    assert not_json[0].status_code == 400 and _answer(not_json[0]) == _answer(not_json[1])  # parsed first
    for path in (f"/v1/jobs/{job_id}/chunks", f"/plain-jobs/{job_id}/chunks"):
        assert both.post(path, json={"seq": 0, "text": "x"}).status_code == 401
        # signed for the other path: the signature covers the path
        other = path.replace("chunks", "status")
        headers = sign_request(MINER, "POST", other, b'{"seq":0,"text":"x"}', target=KEYS["coordinator"].address)
        answer = both.post(path, content=b'{"seq":0,"text":"x"}', headers=headers)
        assert answer.status_code == 401 and "signature" in answer.json()["detail"]
        assert _signed(both, path, b'{"seq":0,"text":"x"}', target="aitbc1someoneelse").status_code == 401


def test_direct_and_plain_miner_routes_accept_alike(both):
    answers = {}
    for nonce, prefix in enumerate(("/v1/jobs", "/plain-jobs")):
        job_id = _assigned_job(both, nonce)  # a job each: the first one's nonce is used
        running = _signed(both, f"{prefix}/{job_id}/status", b'{"status": "running"}')
        chunk = _signed(both, f"{prefix}/{job_id}/chunks", b'{"seq": 0, "text": "hel"}')
        again = _signed(both, f"{prefix}/{job_id}/chunks", b'{"seq": 0, "text": "hel"}')  # a retry
        per_job = ("job_id", "started_at", "submitted_at", "tx_hash", "prompt", "fee")  # fee: by tx size
        answers[prefix] = [(r.status_code, {k: v for k, v in r.json().items() if k not in per_job})
                           for r in (running, chunk, again)]
        assert running.json()["job_id"] == job_id and running.json()["status"] == "running"
    assert answers["/v1/jobs"] == answers["/plain-jobs"]
    assert answers["/v1/jobs"][1][0] == 202 and answers["/v1/jobs"][1][1] == {"next_seq": 1}


def test_a_direct_route_takes_a_principal_or_a_miner_not_both():
    async def both_callers(job_id: str, coord: str, principal: str, miner: str) -> None:
        return None

    with pytest.raises(TypeError, match="principal or miner"):
        DirectRoute("/x/{job_id}", both_callers, methods=["POST"])


def test_a_direct_route_refuses_dependencies_it_would_skip():
    async def rule() -> None:
        return None

    async def endpoint(job_id: str, coord: CoordDep) -> None:
        return None

    with pytest.raises(TypeError, match="runs no dependencies"):
        DirectRoute("/x/{job_id}", endpoint, methods=["POST"], dependencies=[Depends(rule)])
    guarded = APIRouter(dependencies=[Depends(rule)])
    with pytest.raises(TypeError, match="runs no dependencies"):
        guarded.add_api_route("/x/{job_id}", endpoint, methods=["POST"], route_class_override=DirectRoute)
    plain = APIRouter()
    plain.add_api_route("/x/{job_id}", endpoint, methods=["POST"], route_class_override=DirectRoute)
    app = FastAPI()
    app.include_router(plain, dependencies=[Depends(rule)])  # FastAPI 0.16x builds its handler on first use
    with pytest.raises(TypeError, match="runs no dependencies"):
        TestClient(app).post("/x/1")


@pytest.mark.parametrize("content, content_type", [
    (b'{"seq": 0, "text": ' + b"[" * 3000 + b"]" * 3000 + b"}", "application/json"),  # nested past the parser
    (b'{"seq": ' + b"1" * 5000 + b', "text": "x"}', "application/json"),  # an int longer than Python parses
    (b'{"seq": 0, "text": "\\u0041", "x": ' + b"[" * 3000 + b"]" * 3000 + b"}", "application/json"),
    (b'{"seq": 0, "text": "x"}', "application/vnd/x+json"),  # two slashes: not JSON to FastAPI
    (b'{\x00"\x00\x00', "application/json"),
])
def test_bodies_the_parser_gives_up_on_are_400_not_500(both, content, content_type):
    """Signed by a key no job is assigned to: the body is read before that is known."""
    job_id = _assigned_job(both)
    stranger = KEYS["miner2"]
    direct = _signed(both, f"/v1/jobs/{job_id}/chunks", content, stranger, content_type)
    plain = _signed(both, f"/plain-jobs/{job_id}/chunks", content, stranger, content_type)
    assert direct.status_code == 400, direct.text
    assert _answer(direct) == _answer(plain)


def test_a_client_gone_mid_body_is_400_not_500(both):
    """A raw ASGI request whose client disconnects before the body is whole."""
    app = both.app
    job_id = _assigned_job(both)

    async def send_half(path: str) -> list[int]:
        messages = [{"type": "http.request", "body": b'{"seq": 0,', "more_body": True}, {"type": "http.disconnect"}]
        statuses: list[int] = []

        async def receive():
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message):
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
                 "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
                 "headers": [(b"content-type", b"application/json"), (b"content-length", b"100")],
                 "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "state": {}}
        await app(scope, receive, send)
        return statuses

    for path in (f"/v1/jobs/{job_id}/chunks", f"/plain-jobs/{job_id}/chunks"):
        assert both.portal.call(send_half, path) == [400], path


async def admin_only() -> str:
    return "admin"


def test_a_direct_route_refuses_arguments_declared_otherwise():
    async def other_caller(body: JobSubmitted, coord: CoordDep, principal: Annotated[str, Depends(admin_only)]):
        return None

    async def constrained_path(job_id: Annotated[str, Path(max_length=5)], coord: CoordDep):
        return None

    async def embedded_body(body: Annotated[JobSubmitted, Body(embed=True)], coord: CoordDep):
        return None

    async def coordinator_by_another_name(coord: Annotated[object, Depends(admin_only)], principal: PrincipalDep):
        return None

    for endpoint in (other_caller, constrained_path, embedded_body, coordinator_by_another_name):
        with pytest.raises(TypeError, match="cannot serve"):
            DirectRoute("/x/{job_id}", endpoint, methods=["POST"])

    async def as_declared(job_id: str, coord: Annotated[object, Depends(get_coordinator)], principal: PrincipalDep):
        return None

    assert isinstance(DirectRoute("/x/{job_id}", as_declared, methods=["POST"]), DirectRoute)
