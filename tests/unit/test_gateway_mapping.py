"""OpenAI requests -> marketplace jobs (aitbc.gateway.mapping)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from aitbc import jobspec
from aitbc.gateway.errors import InvalidRequest
from aitbc.gateway.mapping import CHAT, INFERENCE, chat_job, completion_job
from aitbc.gateway.openai_models import ChatCompletionRequest, CompletionRequest


def chat(**fields) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate({"model": "m", "messages": [{"role": "user", "content": "hi"}],
                                                 **fields})


def test_a_chat_is_a_chat_job_on_the_canonical_prompt_with_its_stop_sequences():
    spec = chat_job(chat(messages=[{"role": "developer", "content": "be brief"},
                                   {"role": "user", "content": [{"type": "text", "text": "hi "},
                                                                {"type": "text", "text": "there"}]}],
                         stop="\n\n", temperature=0, seed=7, max_tokens=16, tools=[{"ignored": True}]))
    assert spec.job_type == CHAT and spec.model == "m"
    assert spec.prompt == jobspec.chat_prompt([{"role": "system", "content": "be brief"},
                                               {"role": "user", "content": "hi there"}], ["\n\n"])
    assert (spec.options.temperature, spec.options.seed, spec.options.num_predict) == (0, 7, 16)
    assert not spec.stream and not spec.include_usage


def test_defaults_are_the_marketplaces_and_max_completion_tokens_wins():
    spec = chat_job(chat())
    assert (spec.options.temperature, spec.options.seed, spec.options.num_predict) == \
        (jobspec.DEFAULT_TEMPERATURE, 0, jobspec.DEFAULT_NUM_PREDICT)
    assert chat_job(chat(max_tokens=10, max_completion_tokens=20)).num_predict == 20


def test_usage_is_included_only_when_a_stream_asks():
    assert chat_job(chat(stream=True, stream_options={"include_usage": True})).include_usage
    assert not chat_job(chat(stream=True)).include_usage
    assert not chat_job(chat(stream_options={"include_usage": True})).include_usage


@pytest.mark.parametrize("fields, param", [
    ({"max_tokens": jobspec.MAX_NUM_PREDICT + 1}, "max_tokens"),
    ({"max_completion_tokens": jobspec.MAX_NUM_PREDICT + 1}, "max_completion_tokens"),
    ({"temperature": jobspec.MAX_TEMPERATURE + 1}, "temperature"),
    ({"n": 2}, "n"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
     "messages[0].content"),
    ({"messages": [{"role": "assistant", "content": None}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": "x" * 9000}]}, "messages"),
])
def test_requests_a_job_cannot_take_are_invalid(fields, param):
    with pytest.raises(InvalidRequest) as caught:
        chat_job(chat(**fields))
    assert caught.value.param == param and caught.value.status == 400
    assert caught.value.body().model_dump()["error"]["type"] == "invalid_request_error"


def test_malformed_messages_fail_validation():
    for messages in ([], [{"role": "robot", "content": "x"}], [{"content": "x"}], "hi"):
        with pytest.raises(ValidationError):
            chat(messages=messages)


def test_a_completion_is_an_inference_job_on_the_prompt_as_given():
    spec = completion_job(CompletionRequest(model="m", prompt=["Once upon"], max_tokens=5, stream=True))
    assert (spec.job_type, spec.prompt, spec.num_predict, spec.stream) == (INFERENCE, "Once upon", 5, True)


def test_completions_refuse_stop_and_several_prompts():
    with pytest.raises(InvalidRequest) as caught:
        completion_job(CompletionRequest(model="m", prompt="x", stop=["\n"]))
    assert caught.value.param == "stop" and "chat/completions" in caught.value.message
    assert completion_job(CompletionRequest(model="m", prompt="x", stop="")).prompt == "x"  # empty: no stop
    with pytest.raises(InvalidRequest):
        completion_job(CompletionRequest(model="m", prompt=["a", "b"]))
