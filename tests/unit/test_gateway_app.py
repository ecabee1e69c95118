"""The gateway's HTTP app on a fake backend and chain: OpenAI's shapes, the receipt check, the error shape."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from aitbc import jobspec
from aitbc.api.coordinator_client import ApiError, CoordinatorUnavailable
from aitbc.gateway import errors
from aitbc.gateway.app import create_app
from aitbc.gateway.backend import Finished, FinishedJob, ModelOffer, Proven, Replaced, Tokens
from aitbc.gateway.coordinator_backend import coordinator_errors
from aitbc.gateway.core import Gateway

TEXT = "hello world"


class FakeChain:
    def __init__(self, result: str = TEXT):
        self.result = result
        self.prompts: dict[str, str] = {}

    def receipt(self, job_id: str) -> dict:
        return {"id": f"rcpt_{job_id}", "result_hash": jobspec.result_hash(self.result).hex(),
                "prompt_hash": jobspec.prompt_hash(self.prompts[job_id]).hex(), "tokens_generated": 2,
                "prompt_tokens": 5, "amount_paid": 1234}

    def close(self) -> None:
        pass


class FakeBackend:
    def __init__(self, chain: FakeChain, events=None, status: str = "completed"):
        self.chain, self.status = chain, status
        self.events = events or [Tokens("hello"), Tokens(" world"), Proven(jobspec.result_hash(TEXT).hex(), 2, 5)]
        self.specs = []

    def offers(self):
        return [ModelOffer("aitbc-tiny", price_per_second=5000, miners=2, online=1)]

    def submit(self, spec) -> str:
        self.specs.append(spec)
        job_id = f"job{len(self.specs)}"
        self.chain.prompts[job_id] = spec.prompt
        return job_id

    def _finished(self, job_id):
        return FinishedJob(job_id, self.status, TEXT if self.status == "completed" else None,
                           f"rcpt_{job_id}", error="miner gone" if self.status != "completed" else None, fee=10)

    def wait(self, job_id, timeout):
        return self._finished(job_id)

    def follow(self, job_id):
        yield from self.events
        yield Finished(self._finished(job_id))


def client_for(backend=None, chain=None) -> tuple[TestClient, FakeBackend]:
    chain = chain or FakeChain()
    backend = backend or FakeBackend(chain)
    return TestClient(create_app(Gateway(backend, chain))), backend


def chat_body(**fields):
    return {"model": "aitbc-tiny", "messages": [{"role": "user", "content": "hi"}], **fields}


def sse_data(response) -> list:
    return [line.removeprefix("data: ") for line in response.text.splitlines() if line.startswith("data: ")]


def test_a_chat_answer_carries_its_job_receipt_and_usage():
    client, backend = client_for()
    response = client.post("/v1/chat/completions", json=chat_body(max_tokens=2))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == "chatcmpl-job1" and body["object"] == "chat.completion"
    assert response.headers["x-aitbc-job-id"] == "job1" and response.headers["x-aitbc-receipt-id"] == "rcpt_job1"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": TEXT}
    assert body["choices"][0]["finish_reason"] == "length"    # 2 tokens of max 2
    assert body["usage"] == {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    assert body["aitbc"]["cost"] == 1234 and body["aitbc"]["fee"] == 10
    assert backend.specs[0].job_type == "chat"


def test_a_completion_is_a_text_completion():
    client, backend = client_for()
    body = client.post("/v1/completions", json={"model": "aitbc-tiny", "prompt": "say"}).json()
    assert body["id"] == "cmpl-job1" and body["object"] == "text_completion"
    assert body["choices"][0]["text"] == TEXT and body["choices"][0]["finish_reason"] == "stop"
    assert backend.specs[0].job_type == "inference"


def test_models_list_the_offers_with_prices():
    client, _ = client_for()
    body = client.get("/v1/models").json()
    assert body["object"] == "list"
    assert body["data"] == [{"id": "aitbc-tiny", "object": "model", "created": 0, "owned_by": "aitbc",
                             "aitbc": {"price_per_second": 5000, "miners": 2, "online": 1}}]
    assert client.get("/v1/models/aitbc-tiny").json()["id"] == "aitbc-tiny"
    assert client.get("/v1/models/nope").status_code == 404


def assert_error(response, status: int, type_: str, code: str | None = None, param: str | None = None):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    assert error["type"] == type_
    if code:
        assert error["code"] == code
    if param:
        assert error["param"] == param


def test_errors_have_openais_shape_and_status():
    client, backend = client_for()
    assert_error(client.post("/v1/chat/completions", json=chat_body(model="nope")), 404, "invalid_request_error",
                 "model_not_found", "model")
    assert_error(client.post("/v1/chat/completions", json=chat_body(max_tokens=jobspec.MAX_NUM_PREDICT + 1)),
                 400, "invalid_request_error", "invalid_value", "max_tokens")
    assert_error(client.post("/v1/chat/completions", json=chat_body(messages=[{"role": "robot", "content": "x"}])),
                 400, "invalid_request_error", param="messages[0].role")
    assert_error(client.post("/v1/chat/completions", content=b"not json",
                             headers={"content-type": "application/json"}), 400, "invalid_request_error")
    assert_error(client.post("/v1/completions", json={"model": "aitbc-tiny", "prompt": "x", "stop": "\n"}),
                 400, "invalid_request_error", "unsupported_value", "stop")
    assert_error(client.get("/v1/nothing"), 404, "invalid_request_error", "unknown_url")
    assert backend.specs == []   # nothing was submitted


def test_an_answer_that_is_not_what_the_receipt_pays_for_is_refused():
    chain = FakeChain(result="something else")
    client, _ = client_for(chain=chain)
    assert_error(client.post("/v1/chat/completions", json=chat_body()), 502, "api_error", "result_mismatch")


def test_a_failed_job_is_a_bad_gateway_naming_the_job():
    chain = FakeChain()
    client, _ = client_for(FakeBackend(chain, status="failed"), chain)
    response = client.post("/v1/chat/completions", json=chat_body())
    assert_error(response, 502, "api_error", "job_failed")
    assert response.headers["x-aitbc-job-id"] == "job1" and "miner gone" in response.json()["error"]["message"]


def test_a_stream_is_chunks_then_usage_then_done():
    client, _ = client_for()
    response = client.post("/v1/chat/completions",
                           json=chat_body(stream=True, max_tokens=2, stream_options={"include_usage": True}))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-aitbc-job-id"] == "job1"
    data = sse_data(response)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert {c["id"] for c in chunks} == {"chatcmpl-job1"}
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == TEXT
    finish, usage = chunks[-2], chunks[-1]
    assert finish["choices"][0]["finish_reason"] == "length" and "usage" not in finish
    assert usage["choices"] == [] and usage["usage"]["total_tokens"] == 7
    assert usage["aitbc"] == {"job_id": "job1", "receipt_id": "rcpt_job1",
                              "result_hash": jobspec.result_hash(TEXT).hex(), "cost": 1234, "fee": 10}


def test_a_stream_without_usage_ends_with_the_facts_on_the_finish_chunk():
    client, _ = client_for()
    data = sse_data(client.post("/v1/completions", json={"model": "aitbc-tiny", "prompt": "x", "stream": True}))
    chunks = [json.loads(d) for d in data[:-1]]
    assert data[-1] == "[DONE]" and "".join(c["choices"][0]["text"] for c in chunks) == TEXT
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["aitbc"]["job_id"] == "job1"


def test_a_replacement_that_extends_the_text_is_streamed_as_more_text():
    chain = FakeChain()
    backend = FakeBackend(chain, [Tokens("hel"), Replaced(TEXT), Proven(jobspec.result_hash(TEXT).hex(), 2, 5)])
    client, _ = client_for(backend, chain)
    data = sse_data(client.post("/v1/chat/completions", json=chat_body(stream=True)))
    assert data[-1] == "[DONE]"
    assert "".join(json.loads(d)["choices"][0]["delta"].get("content") or "" for d in data[:-1]) == TEXT


@pytest.mark.parametrize("events, receipt_text, code", [
    ([Tokens("bye"), Replaced(TEXT)], TEXT, "stream_replaced"),                    # what was sent is void
    ([Tokens("hello"), Proven(jobspec.result_hash(TEXT).hex(), 2, 5)], TEXT, "result_mismatch"),
    ([Tokens(TEXT)], "other", "result_mismatch"),                                  # receipt disagrees
])
def test_a_stream_that_cannot_be_proven_ends_in_an_error_not_done(events, receipt_text, code):
    chain = FakeChain(result=receipt_text)
    client, _ = client_for(FakeBackend(chain, events), chain)
    data = sse_data(client.post("/v1/chat/completions", json=chat_body(stream=True)))
    assert "[DONE]" not in data
    assert json.loads(data[-1])["error"]["code"] == code


@pytest.mark.parametrize("raised, expected", [
    (ApiError(401, "Unauthenticated", "no key"), errors.AuthenticationFailed),
    (ApiError(402, "Rejected by chain: INSUFFICIENT_FUNDS", "poor"), errors.InsufficientFunds),
    (ApiError(429, "Too many requests", "slow down"), errors.RateLimited),
    (ApiError(400, "Invalid request", "bad"), errors.InvalidRequest),
    (ApiError(500, "Internal", "oops"), errors.UpstreamError),
    (CoordinatorUnavailable("down"), errors.Unavailable),
])
def test_coordinator_errors_become_gateway_errors(raised, expected):
    with pytest.raises(expected) as caught:
        with coordinator_errors("job9"):
            raise raised
    assert caught.value.job_id == "job9"
