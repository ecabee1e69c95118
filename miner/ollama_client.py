"""A small typed async client for the Ollama HTTP API (v0.11.x).

Only what the miner needs: streamed generation (`/api/generate`) and chat
(`/api/chat`), handing each piece of text to a callback as it arrives, version, model listing
and details, and registering a local GGUF file as a model (upload the blob,
then create the model from it). Wire models are pydantic models that ignore
unknown fields, so newer servers do not break us.

All failures surface as one exception tree rooted at `OllamaError`:
`OllamaUnavailable` (cannot connect, timeout) and `OllamaRequestFailed` (an
HTTP error, with the server's message), whose subclasses are `ModelNotFound`
(HTTP 404 on a model) and `GenerationAborted` (no final `done` object).
httpx's own exceptions never escape.

Digests: Ollama exposes two different sha256 values. `/api/tags` entries have
`digest`, the sha256 of the model's *manifest* (changes with template or
parameters). The sha256 of the GGUF weights is the manifest's model layer; the
API shows it only as the blob path in the `FROM` line of `/api/show`'s
`modelfile`. `show()` returns both.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict

DEFAULT_URL = "http://127.0.0.1:11434"
DEFAULT_TIMEOUT = 120.0

T = TypeVar("T")
TextSink = Callable[[str], None]
_FROM_BLOB = re.compile(r"^FROM\s+\S*sha256[-:]([0-9a-f]{64})\s*$", re.MULTILINE)


# --- errors ------------------------------------------------------------------


class OllamaError(Exception):
    """Base of every error raised by this client."""


class OllamaUnavailable(OllamaError):
    """The server cannot be reached: connection refused, reset or timed out."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"ollama at {url} unavailable: {reason}")
        self.url = url
        self.reason = reason


class OllamaRequestFailed(OllamaError):
    """The server answered with an HTTP error; `message` is its `error` text."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(f"ollama request failed ({status_code}): {message}")
        self.status_code = status_code
        self.message = message


class ModelNotFound(OllamaRequestFailed):
    """The model is not installed on the server (HTTP 404)."""

    def __init__(self, model: str, message: str = "") -> None:
        super().__init__(404, message or f"model '{model}' not found")
        self.model = model


class GenerationAborted(OllamaRequestFailed):
    """The server ended a generation without a final `done` object.

    Ollama v0.11 does this (HTTP 200, `done: false`, no counts) when the same
    token repeats more than 30 times in a row. `partial` holds what came back.
    """

    def __init__(self, partial: GenerateResult) -> None:
        super().__init__(200, "generation aborted by the server (token repeat limit?)")
        self.partial = partial


# --- wire models -------------------------------------------------------------


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class GenerateResult(_Wire):
    """Final answer of `/api/generate` or `/api/chat`; `response` is the whole text (for a
    stream, the concatenation of its pieces); durations in ns."""

    model: str = ""
    response: str = ""
    done: bool = False
    done_reason: str | None = None
    total_duration: int = 0
    load_duration: int = 0
    prompt_eval_count: int = 0
    prompt_eval_duration: int = 0
    eval_count: int = 0
    eval_duration: int = 0


class ModelDetails(_Wire):
    """`details` of a model as Ollama reports it."""

    format: str = ""
    family: str = ""
    parameter_size: str = ""
    quantization_level: str = ""


class ModelEntry(_Wire):
    """One entry of `/api/tags`; `digest` is the manifest's sha256 (hex)."""

    name: str
    model: str = ""
    size: int = 0
    digest: str = ""
    details: ModelDetails = ModelDetails()


class ModelInfo(_Wire):
    """What `show()` returns: both digests plus the model's details."""

    name: str
    manifest_digest: str  # sha256 hex of the manifest, as in /api/tags
    model_digest: str  # sha256 hex of the GGUF weights blob
    size: int
    details: ModelDetails
    model_info: dict[str, Any] = {}
    capabilities: list[str] = []


# --- the client --------------------------------------------------------------


def _json(resp: httpx.Response) -> Any:
    """The response body as JSON; a non-JSON success body is a failed request."""
    try:
        return resp.json()
    except ValueError as e:
        raise OllamaRequestFailed(resp.status_code, f"invalid JSON from server: {e}") from e


def _error_message(resp: httpx.Response) -> str:
    """The server's `{"error": ...}` text, else the raw body."""
    try:
        body = resp.json()
    except ValueError:
        return resp.text.strip() or resp.reason_phrase
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return resp.text.strip()


async def _read_chunks(path: str | os.PathLike[str]) -> AsyncIterator[bytes]:
    with open(path, "rb") as f:
        while chunk := await asyncio.to_thread(f.read, 1 << 20):
            yield chunk


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file (the digest Ollama names blobs by)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class OllamaClient:
    """Async client for one Ollama server. Use `async with` or call `aclose()`."""

    def __init__(self, url: str = DEFAULT_URL, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.url, timeout=timeout)

    async def __aenter__(self) -> OllamaClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the underlying connection pool."""
        await self._http.aclose()

    async def _request(
        self, method: str, path: str, *, model: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Send a request and map transport and HTTP errors to `OllamaError`.

        A 404 is `ModelNotFound` only when the call names a `model`.
        """
        try:
            resp = await self._http.request(method, path, **kwargs)
        except (httpx.TransportError, httpx.TimeoutException) as e:
            raise OllamaUnavailable(self.url, f"{type(e).__name__}: {e}".rstrip(": ")) from e
        if resp.status_code == 404 and model is not None:
            raise ModelNotFound(model, _error_message(resp))
        if resp.status_code >= 400:
            raise OllamaRequestFailed(resp.status_code, _error_message(resp))
        return resp

    async def version(self) -> str:
        """Server version string (a `go install` build reports "0.0.0")."""
        resp = await self._request("GET", "/api/version")
        return str(_json(resp)["version"])

    async def generate(
        self,
        model: str,
        prompt: str,
        options: dict[str, Any] | None = None,
        timeout: float | None = None,
        *,
        keep_alive: str | int | None = None,
        on_text: TextSink | None = None,
    ) -> GenerateResult:
        """Run one generation, streamed: `on_text` gets each piece of text as it comes.

        An empty prompt only loads the model (`done_reason == "load"`).
        Raises ValueError for `num_predict == 0`, which v0.11's runner takes
        as "no limit" (the request never ends); ModelNotFound,
        OllamaUnavailable (also on `timeout`, seconds, for the whole generation),
        GenerationAborted, OllamaRequestFailed.
        """
        body: dict[str, Any] = {"model": model, "prompt": prompt}
        if keep_alive is not None:
            body["keep_alive"] = keep_alive
        return await self._stream("/api/generate", body, options, timeout, on_text,
                                  lambda piece: piece.get("response") or "")

    async def chat(
        self,
        model: str,
        messages: list[dict[str, str]],
        options: dict[str, Any] | None = None,
        timeout: float | None = None,
        *,
        on_text: TextSink | None = None,
    ) -> GenerateResult:
        """Run one chat turn (`/api/chat`), streamed like `generate`; the reply's text is the
        result's `response`. Stop sequences go in `options["stop"]`. Raises as `generate`."""
        body: dict[str, Any] = {"model": model, "messages": messages}
        return await self._stream("/api/chat", body, options, timeout, on_text,
                                  lambda piece: (piece.get("message") or {}).get("content") or "")

    async def _stream(
        self, path: str, body: dict[str, Any], options: dict[str, Any] | None, timeout: float | None,
        on_text: TextSink | None, text_of: Callable[[dict[str, Any]], str],
    ) -> GenerateResult:
        """POST `body` with `stream: true` and read the NDJSON answer to its final `done` object."""
        if options and options.get("num_predict") == 0:
            raise ValueError("num_predict=0 means unlimited generation in Ollama v0.11")
        model = body["model"]
        body = {**body, "stream": True, **({"options": options} if options else {})}
        pieces: list[str] = []
        final: dict[str, Any] | None = None
        try:
            async with asyncio.timeout(timeout):
                async with self._http.stream("POST", path, json=body,
                                             **({} if timeout is None else {"timeout": timeout})) as resp:
                    if resp.status_code >= 400:
                        await resp.aread()
                        if resp.status_code == 404:
                            raise ModelNotFound(model, _error_message(resp))
                        raise OllamaRequestFailed(resp.status_code, _error_message(resp))
                    async for line in resp.aiter_lines():
                        if not line.strip():
                            continue
                        try:
                            piece = json.loads(line)
                        except ValueError as e:
                            raise OllamaRequestFailed(resp.status_code, f"invalid JSON from server: {e}") from e
                        if isinstance(piece, dict) and piece.get("error"):
                            raise OllamaRequestFailed(resp.status_code, str(piece["error"]))
                        text = text_of(piece)
                        if text:
                            pieces.append(text)
                            if on_text is not None:
                                on_text(text)
                        if piece.get("done"):
                            final = piece
                            break
        except TimeoutError as e:
            raise OllamaUnavailable(self.url, f"no complete answer within {timeout:g} s") from e
        except (httpx.TransportError, httpx.TimeoutException) as e:
            raise OllamaUnavailable(self.url, f"{type(e).__name__}: {e}".rstrip(": ")) from e
        result = GenerateResult.model_validate({**(final or {}), "response": "".join(pieces)})
        if not result.done:
            raise GenerationAborted(result)
        return result

    async def list_models(self) -> list[ModelEntry]:
        """Installed models (`/api/tags`)."""
        resp = await self._request("GET", "/api/tags")
        return [ModelEntry.model_validate(m) for m in _json(resp).get("models") or []]

    async def show(self, model: str) -> ModelInfo:
        """Details and digests of an installed model. Raises ModelNotFound."""
        resp = await self._request("POST", "/api/show", model=model, json={"model": model})
        body = _json(resp)
        match = _FROM_BLOB.search(body.get("modelfile", ""))
        if match is None:
            raise OllamaRequestFailed(resp.status_code, f"no model blob in modelfile of {model!r}")
        entry = await self._entry(model)
        return ModelInfo(
            name=entry.name,
            manifest_digest=entry.digest,
            model_digest=match.group(1),
            size=entry.size,
            details=ModelDetails.model_validate(body.get("details") or {}),
            model_info=body.get("model_info") or {},
            capabilities=body.get("capabilities") or [],
        )

    async def _entry(self, model: str) -> ModelEntry:
        """The `/api/tags` entry for `model` (":latest" is implied)."""
        wanted = {model, f"{model}:latest"}
        for entry in await self.list_models():
            if entry.name in wanted or entry.model in wanted:
                return entry
        raise ModelNotFound(model)

    async def has_blob(self, digest: str) -> bool:
        """Whether the server already stores blob `sha256:<hex>`."""
        try:
            await self._request("HEAD", f"/api/blobs/{digest}")
        except OllamaRequestFailed as e:
            if e.status_code == 404:
                return False
            raise
        return True

    async def push_blob(self, path: str | os.PathLike[str]) -> str:
        """Upload a file as a blob unless present; return "sha256:<hex>"."""
        digest = "sha256:" + await asyncio.to_thread(file_sha256, path)
        if await self.has_blob(digest):
            return digest
        # Streamed in chunks: real models are gigabytes.
        size = os.path.getsize(path)
        await self._request(
            "POST",
            f"/api/blobs/{digest}",
            content=_read_chunks(path),
            headers={"Content-Length": str(size)},
        )
        return digest

    async def create_model(self, name: str, blob_digest: str, filename: str = "model.gguf") -> None:
        """Create (or replace) model `name` from an uploaded GGUF blob."""
        body = {"model": name, "files": {filename: blob_digest}, "stream": False}
        resp = await self._request("POST", "/api/create", json=body)
        # A failed create may still answer 200 with an error object.
        answer = _json(resp)
        if isinstance(answer, dict) and answer.get("error"):
            raise OllamaRequestFailed(resp.status_code, str(answer["error"]))

    async def ensure_model(self, name: str, gguf_path: str | os.PathLike[str]) -> ModelInfo:
        """Register `gguf_path` as model `name` unless it already is; return its info."""
        digest = await asyncio.to_thread(file_sha256, gguf_path)
        try:
            info = await self.show(name)
            if info.model_digest == digest:
                return info
        except ModelNotFound:
            pass
        blob = await self.push_blob(gguf_path)
        await self.create_model(name, blob, filename=Path(gguf_path).name)
        return await self.show(name)


# --- sync helpers for scripts ------------------------------------------------


def run_sync(
    url: str, call: Callable[[OllamaClient], Awaitable[T]], timeout: float = DEFAULT_TIMEOUT
) -> T:
    """Run `call(client)` with a fresh client to completion, from sync code.

    Example: `run_sync(url, lambda c: c.ensure_model("aitbc-tiny", path))`.
    Not usable inside a running event loop (it calls `asyncio.run`).
    """

    async def go() -> T:
        async with OllamaClient(url, timeout=timeout) as client:
            return await call(client)

    return asyncio.run(go())
