"""Answers and streamed text in OpenAI's response shapes: chat.completion, text_completion,
and the chunks of a stream as server-sent events ending with `data: [DONE]`.

Ids carry the job id ("chatcmpl-<job_id>", "cmpl-<job_id>"); the last chunk of
a stream carries an extra `aitbc` field with the job, receipt, result hash and cost.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from aitbc.gateway.core import Answer, Delta, Gateway, Rewrite
from aitbc.gateway.errors import GatewayError, UpstreamError
from aitbc.gateway.mapping import CHAT, JobSpec
from aitbc.gateway.openai_models import (
    AssistantMessage, ChatChoice, ChatCompletion, ChatCompletionChunk, ChunkChoice, ChunkDelta, Completion,
    CompletionChoice,
)

DONE = "data: [DONE]\n\n"


def response_id(spec: JobSpec, job_id: str) -> str:
    return f"{'chatcmpl' if spec.job_type == CHAT else 'cmpl'}-{job_id}"


def answer_object(spec: JobSpec, answer: Answer, created: int | None = None) -> BaseModel:
    """The whole answer of a non-streamed request."""
    created = created or int(time.time())
    rid = response_id(spec, answer.job_id)
    if spec.job_type == CHAT:
        return ChatCompletion(id=rid, created=created, model=spec.model, usage=answer.usage, aitbc=answer.facts(),
                              choices=[ChatChoice(message=AssistantMessage(content=answer.text),
                                                  finish_reason=answer.finish_reason)])
    return Completion(id=rid, created=created, model=spec.model, usage=answer.usage, aitbc=answer.facts(),
                      choices=[CompletionChoice(text=answer.text, finish_reason=answer.finish_reason)])


def dump(obj: BaseModel) -> dict[str, Any]:
    """JSON of a response object; our optional extras (usage on chunks, aitbc) only when set."""
    data = obj.model_dump(mode="json")
    for extra in ("usage", "aitbc"):
        if data.get(extra) is None:
            data.pop(extra, None)
    return data


def sse(obj: BaseModel | dict[str, Any]) -> str:
    data = dump(obj) if isinstance(obj, BaseModel) else obj
    return f"data: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


class _Chunks:
    """The chunk objects of one stream, chat or text completion."""

    def __init__(self, spec: JobSpec, job_id: str):
        self.spec, self.id, self.created = spec, response_id(spec, job_id), int(time.time())

    def _make(self, choices: list, **extra: Any) -> BaseModel:
        kind = ChatCompletionChunk if self.spec.job_type == CHAT else Completion
        return kind(id=self.id, created=self.created, model=self.spec.model, choices=choices, **extra)

    def first(self) -> BaseModel | None:
        if self.spec.job_type == CHAT:   # OpenAI's first chat chunk names the role
            return self._make([ChunkChoice(delta=ChunkDelta(role="assistant", content=""))])
        return None

    def text(self, text: str) -> BaseModel:
        if self.spec.job_type == CHAT:
            return self._make([ChunkChoice(delta=ChunkDelta(content=text))])
        return self._make([CompletionChoice(text=text)])

    def finish(self, answer: Answer, last: bool) -> BaseModel:
        facts = {"aitbc": answer.facts()} if last else {}
        if self.spec.job_type == CHAT:
            return self._make([ChunkChoice(delta=ChunkDelta(), finish_reason=answer.finish_reason)], **facts)
        return self._make([CompletionChoice(text="", finish_reason=answer.finish_reason)], **facts)

    def usage(self, answer: Answer) -> BaseModel:
        # As OpenAI's include_usage: one more chunk, with no choices and the usage.
        return self._make([], usage=answer.usage, aitbc=answer.facts())


def stream_events(gateway: Gateway, spec: JobSpec, job_id: str) -> Iterator[str]:
    """The server-sent events of a submitted job's stream.

    `[DONE]` comes only after the answer was checked against its receipt on
    chain; a failure instead ends the stream with an OpenAI error object (the
    `openai` package raises it as an APIError).
    """
    chunks = _Chunks(spec, job_id)
    if (first := chunks.first()) is not None:
        yield sse(first)
    try:
        for item in gateway.follow(spec, job_id):
            if isinstance(item, Delta):
                if item.text:
                    yield sse(chunks.text(item.text))
            elif isinstance(item, Rewrite):
                raise UpstreamError(f"the miner of job {job_id} streamed text other than the result it proved; "
                                    "the text sent so far is void (fetch the job for its result)",
                                    code="stream_replaced", job_id=job_id)
            elif isinstance(item, Answer):
                yield sse(chunks.finish(item, last=not spec.include_usage))
                if spec.include_usage:
                    yield sse(chunks.usage(item))
                yield DONE
                return
    except GatewayError as err:
        yield sse(err.body())
