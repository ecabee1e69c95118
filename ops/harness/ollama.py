"""A real Ollama serving the generated tiny model (or another GGUF file)."""

from __future__ import annotations

from pathlib import Path

from aitbc.miner.ollama_client import run_sync
from aitbc.ops import procs
from aitbc.ops.harness.services import ROOT
from aitbc.ops.ollama_server import TINY_MODEL_NAME, OllamaServer
from aitbc.ops.tiny_model import write_tiny_model


def tiny_model_file(scratch: Path) -> Path:
    """The tiny model `make setup` built, or one written into `scratch` when there is none."""
    built = ROOT / "build" / "models" / "aitbc-tiny.gguf"
    if built.exists():
        return built
    path = scratch / "aitbc-tiny.gguf"
    write_tiny_model(path)
    return path


def serve_model(models_dir: Path, log_path: Path, model_path: Path, port: int | None = None,
                name: str = TINY_MODEL_NAME) -> OllamaServer:
    """`ollama serve` on `port` (default: a free one) with `model_path` registered as `name`;
    the server is stopped again if the model cannot be registered."""
    server = OllamaServer(port or procs.free_port(), models_dir, log_path)
    server.start()
    try:
        run_sync(server.url, lambda c: c.ensure_model(name, model_path))
    except BaseException:
        server.stop()
        raise
    return server
