"""Fixtures for tests against a real Ollama server and the generated tiny model.

Import them into a test module (`from tests.integration.ollama_fixtures import
...`); pytest then registers them for that module. Every server started here
is stopped (with its runners) when its fixture ends.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from aitbc.miner.ollama_client import ModelInfo, run_sync
from aitbc.ops.ollama_server import (
    TINY_MODEL_NAME,
    OllamaNotInstalled,
    OllamaServer,
    find_ollama,
)
from aitbc.ops.procs import free_port
from aitbc.ops.tiny_model import write_tiny_model


def group_alive(pgid: int) -> bool:
    """Whether any process of process group `pgid` still exists."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def make_server(root: Path) -> OllamaServer:
    """An unstarted server on a free port with its models and log under `root`.

    Skips the test when no ollama binary is installed (run `make setup`).
    """
    try:
        find_ollama()
    except OllamaNotInstalled as e:
        pytest.skip(str(e))
    return OllamaServer(free_port(), root / "models", root / "ollama.log")


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny GGUF model, written once per test session."""
    path = tmp_path_factory.mktemp("model") / "aitbc-tiny.gguf"
    write_tiny_model(path)
    return path


@pytest.fixture(scope="module")
def ollama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OllamaServer]:
    """A running Ollama server with an empty models dir, shared by a module."""
    server = make_server(tmp_path_factory.mktemp("ollama"))
    with server:
        pgid = server.pid
        yield server
    assert pgid is not None and not group_alive(pgid), "ollama processes left running"


@pytest.fixture(scope="module")
def tiny_model(ollama_server: OllamaServer, tiny_model_path: Path) -> ModelInfo:
    """The tiny model registered on `ollama_server` as `aitbc-tiny`."""
    return run_sync(ollama_server.url, lambda c: c.ensure_model(TINY_MODEL_NAME, tiny_model_path))


__all__ = [
    "group_alive",
    "make_server",
    "ollama_server",
    "tiny_model",
    "tiny_model_path",
]
