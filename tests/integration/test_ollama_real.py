"""The Ollama client against a real `ollama serve` running the tiny model."""

# ruff: noqa: F811  (imported fixtures are redefined as test parameters)

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aitbc.miner.ollama_client import (
    GenerateResult,
    ModelInfo,
    ModelNotFound,
    OllamaUnavailable,
    file_sha256,
    run_sync,
)
from aitbc.ops.ollama_server import TINY_MODEL_NAME, OllamaServer
from tests.integration.ollama_fixtures import (  # noqa: F401 (fixtures)
    group_alive,
    make_server,
    ollama_server,
    tiny_model,
    tiny_model_path,
)

pytestmark = pytest.mark.integration

# One thread: on a 2-core machine llama.cpp's thread sync makes a model this
# small take anywhere from 5 ms to 1 s for 48 tokens with 2 threads.
OPTIONS = {"temperature": 0, "seed": 42, "num_predict": 16, "num_thread": 1}
PROMPT = "why is the sky blue"


def generate(server: OllamaServer, **options: Any) -> GenerateResult:
    return run_sync(
        server.url, lambda c: c.generate(TINY_MODEL_NAME, PROMPT, {**OPTIONS, **options})
    )


def test_version(ollama_server: OllamaServer) -> None:
    # A `go install` build has no version stamped in and says "0.0.0".
    assert run_sync(ollama_server.url, lambda c: c.version())


def test_model_registered_with_file_digest(
    ollama_server: OllamaServer, tiny_model: ModelInfo, tiny_model_path: Path
) -> None:
    assert tiny_model.model_digest == file_sha256(tiny_model_path)
    assert tiny_model.details.family == "llama"
    names = [m.name for m in run_sync(ollama_server.url, lambda c: c.list_models())]
    assert f"{TINY_MODEL_NAME}:latest" in names
    # idempotent: nothing changes when registering the same file again
    again = run_sync(ollama_server.url, lambda c: c.ensure_model(TINY_MODEL_NAME, tiny_model_path))
    assert again == tiny_model
    digest = run_sync(ollama_server.url, lambda c: c.push_blob(tiny_model_path))
    assert digest == f"sha256:{tiny_model.model_digest}"


def test_generate_is_deterministic(ollama_server: OllamaServer, tiny_model: ModelInfo) -> None:
    first = generate(ollama_server)
    second = generate(ollama_server)
    assert first.done
    assert first.done_reason in ("stop", "length")
    assert 0 < first.eval_count <= OPTIONS["num_predict"]
    assert first.prompt_eval_count > 0
    assert first.total_duration > 0
    assert first.response.strip(), "the tiny model should produce words"
    assert (second.response, second.eval_count) == (first.response, first.eval_count)


def test_generate_longer_does_not_abort(ollama_server: OllamaServer, tiny_model: ModelInfo) -> None:
    # Ollama aborts (done=false) when one token repeats 30 times; the tiny
    # model is built not to, so 64 tokens come back complete.
    result = generate(ollama_server, num_predict=64)
    assert result.done and result.done_reason == "length"
    assert result.eval_count == 64


def test_unknown_model(ollama_server: OllamaServer) -> None:
    with pytest.raises(ModelNotFound) as info:
        run_sync(ollama_server.url, lambda c: c.generate("no-such-model", "hi", OPTIONS))
    assert info.value.status_code == 404
    assert "not found" in info.value.message
    with pytest.raises(ModelNotFound):
        run_sync(ollama_server.url, lambda c: c.show("no-such-model"))


def test_stopped_server_is_unavailable(tmp_path: Path, tiny_model_path: Path) -> None:
    server = make_server(tmp_path)
    with server:
        pgid = server.pid
        assert pgid is not None
        run_sync(server.url, lambda c: c.ensure_model(TINY_MODEL_NAME, tiny_model_path))
        assert generate(server).done  # a runner process is now up too
    assert not group_alive(pgid), "ollama serve or its runner outlived stop()"
    with pytest.raises(OllamaUnavailable):
        run_sync(server.url, lambda c: c.generate(TINY_MODEL_NAME, PROMPT, OPTIONS), timeout=5)
    with pytest.raises(OllamaUnavailable):
        run_sync(server.url, lambda c: c.version(), timeout=5)


def test_num_predict_zero_is_refused(ollama_server: OllamaServer) -> None:
    # v0.11's runner takes 0 as "no limit": the request would never end.
    with pytest.raises(ValueError):
        run_sync(
            ollama_server.url, lambda c: c.generate(TINY_MODEL_NAME, PROMPT, {"num_predict": 0})
        )
