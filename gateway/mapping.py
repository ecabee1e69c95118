"""OpenAI requests -> marketplace jobs: which job type, which prompt, which options.

A chat request is a job of type "chat" whose prompt is the canonical text of
its messages and stop sequences (aitbc.jobspec.chat_prompt), so the prompt hash
on chain commits to the whole conversation. A text completion is an
"inference" job on the prompt as given; those jobs have no stop sequences, so
`stop` on /v1/completions is refused with a 400 that says to use chat instead
(mapping it silently to a chat job would wrap the prompt in a chat template
and change the answer).

Options OpenAI has but a job does not (top_p, tools, logprobs, user, ...) are
ignored; n must be 1 (one job, one answer).
"""

from __future__ import annotations

from dataclasses import dataclass

from aitbc import jobspec
from aitbc.api.coordinator_models import MAX_PROMPT_CHARS, JobOptions
from aitbc.gateway.errors import InvalidRequest
from aitbc.gateway.openai_models import ChatCompletionRequest, ChatMessage, CompletionRequest, _Generation

CHAT = "chat"
INFERENCE = "inference"
MAX_STOP_SEQUENCES = 4   # as OpenAI's API


@dataclass(frozen=True)
class JobSpec:
    """One marketplace job, as a request asks for it."""

    job_type: str
    model: str
    prompt: str
    options: JobOptions
    stream: bool = False
    include_usage: bool = False

    @property
    def num_predict(self) -> int:
        return self.options.num_predict


def chat_job(request: ChatCompletionRequest) -> JobSpec:
    """The chat job for a /v1/chat/completions request. Raises InvalidRequest."""
    messages = [_message(i, m) for i, m in enumerate(request.messages)]
    try:
        prompt = jobspec.chat_prompt(messages, stop_sequences(request.stop))
    except ValueError as err:
        raise InvalidRequest(f"invalid messages: {err}", param="messages", code="invalid_value") from None
    return _spec(request, CHAT, prompt)


def completion_job(request: CompletionRequest) -> JobSpec:
    """The inference job for a /v1/completions request. Raises InvalidRequest."""
    if stop_sequences(request.stop):
        raise InvalidRequest("stop is not supported on /v1/completions (inference jobs have no stop sequences); "
                             "use /v1/chat/completions, whose chat jobs do", param="stop", code="unsupported_value")
    prompt = request.prompt
    if isinstance(prompt, list):
        if len(prompt) != 1:
            raise InvalidRequest("exactly one prompt per request (each request is one marketplace job)",
                                 param="prompt", code="unsupported_value")
        prompt = prompt[0]
    return _spec(request, INFERENCE, prompt)


def stop_sequences(stop: str | list[str] | None) -> list[str]:
    """`stop` as a list without empty strings. Raises InvalidRequest for more than 4."""
    sequences = [s for s in ([stop] if isinstance(stop, str) else stop or []) if s]
    if len(sequences) > MAX_STOP_SEQUENCES:
        raise InvalidRequest(f"at most {MAX_STOP_SEQUENCES} stop sequences", param="stop", code="invalid_value")
    return sequences


def _message(index: int, message: ChatMessage) -> dict[str, str]:
    content = message.content
    if isinstance(content, list):
        if any(part.type != "text" or part.text is None for part in content):
            raise InvalidRequest("only text content parts are supported", param=f"messages[{index}].content",
                                 code="unsupported_value")
        content = "".join(part.text or "" for part in content)
    if content is None:
        raise InvalidRequest("a message needs text content", param=f"messages[{index}].content",
                             code="invalid_value")
    # "developer" is OpenAI's newer name for the system role.
    role = "system" if message.role == "developer" else message.role
    return {"role": role, "content": content}


def _spec(request: _Generation, job_type: str, prompt: str) -> JobSpec:
    if request.n != 1:
        raise InvalidRequest("n must be 1 (each request is one marketplace job)", param="n",
                             code="unsupported_value")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidRequest(f"the prompt is {len(prompt)} characters; a job takes at most {MAX_PROMPT_CHARS}",
                             param="messages" if job_type == CHAT else "prompt", code="context_length_exceeded")
    include_usage = bool(request.stream and request.stream_options and request.stream_options.include_usage)
    return JobSpec(job_type=job_type, model=request.model, prompt=prompt, options=options(request),
                   stream=request.stream, include_usage=include_usage)


def options(request: _Generation) -> JobOptions:
    """The job's generation options. Raises InvalidRequest for values a job cannot take.

    Unset: the marketplace's defaults (temperature 0.7, 128 tokens) and seed 0,
    which the coordinator replaces with one derived from the job id, so every
    job is reproducible while two requests still differ.
    """
    param, max_tokens = ("max_completion_tokens", request.max_completion_tokens) \
        if request.max_completion_tokens is not None else ("max_tokens", request.max_tokens)
    if max_tokens is not None and max_tokens > jobspec.MAX_NUM_PREDICT:
        raise InvalidRequest(f"{param} is {max_tokens}; a job generates at most {jobspec.MAX_NUM_PREDICT} tokens",
                             param=param, code="invalid_value")
    temperature = jobspec.DEFAULT_TEMPERATURE if request.temperature is None else request.temperature
    if temperature > jobspec.MAX_TEMPERATURE:
        raise InvalidRequest(f"temperature must be at most {jobspec.MAX_TEMPERATURE}", param="temperature",
                             code="invalid_value")
    seed = request.seed or 0
    if seed > jobspec.MAX_SEED:
        raise InvalidRequest(f"seed must be at most {jobspec.MAX_SEED}", param="seed", code="invalid_value")
    return JobOptions(temperature=temperature, seed=seed, num_predict=max_tokens or jobspec.DEFAULT_NUM_PREDICT)
