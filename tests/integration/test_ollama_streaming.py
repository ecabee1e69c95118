"""The Ollama client's streamed generation and chat against a real `ollama serve` with the tiny model."""

# ruff: noqa: F811  (imported fixtures are redefined as test parameters)

from __future__ import annotations

import pytest

from aitbc.miner.ollama_client import GenerateResult, ModelInfo, run_sync
from aitbc.ops.ollama_server import TINY_MODEL_NAME, OllamaServer
from tests.integration.ollama_fixtures import (  # noqa: F401 (fixtures)
    ollama_server,
    tiny_model,
    tiny_model_path,
)

pytestmark = pytest.mark.integration

OPTIONS = {"temperature": 0, "seed": 42, "num_predict": 24, "num_thread": 1}
MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "why is the sky blue"}]


def streamed(server: OllamaServer, call: str, *args: object, options: dict | None = None
             ) -> tuple[GenerateResult, list[str]]:
    pieces: list[str] = []
    result = run_sync(server.url, lambda c: getattr(c, call)(TINY_MODEL_NAME, *args, options or OPTIONS,
                                                               on_text=pieces.append))
    return result, pieces


def test_generate_streams_pieces_that_make_the_result(ollama_server: OllamaServer, tiny_model: ModelInfo) -> None:
    result, pieces = streamed(ollama_server, "generate", "why is the sky blue")
    assert result.done and result.done_reason in ("stop", "length")
    assert 0 < result.eval_count <= OPTIONS["num_predict"] and result.prompt_eval_count > 0
    assert len(pieces) > 1, "text should come in several pieces"
    assert "".join(pieces) == result.response and result.response.strip()
    again, _ = streamed(ollama_server, "generate", "why is the sky blue")
    assert again.response == result.response  # same seed, same text: a re-run can check it


def test_chat_streams_and_repeats(ollama_server: OllamaServer, tiny_model: ModelInfo) -> None:
    result, pieces = streamed(ollama_server, "chat", MESSAGES)
    assert result.done and 0 < result.eval_count <= OPTIONS["num_predict"]
    assert "".join(pieces) == result.response
    again, _ = streamed(ollama_server, "chat", MESSAGES)
    assert (again.response, again.eval_count) == (result.response, result.eval_count)


def test_chat_stop_sequence_ends_the_text(ollama_server: OllamaServer, tiny_model: ModelInfo) -> None:
    free, _ = streamed(ollama_server, "chat", MESSAGES)
    assert len(free.response) > 2
    stop = free.response[1:3]
    cut, pieces = streamed(ollama_server, "chat", MESSAGES, options={**OPTIONS, "stop": [stop]})
    assert stop not in cut.response and "".join(pieces) == cut.response
    assert cut.done_reason == "stop" and len(cut.response) < len(free.response)
