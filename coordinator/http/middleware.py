"""ASGI middleware: request body size limit (413), invalid Unicode (400) and per-route request counts."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aitbc.api.problems import MEDIA_TYPE, problem_bytes
from aitbc.coordinator.metrics import Metrics


class _TooLarge(Exception):
    pass


async def _send_problem(send: Send, status: int, type_: str, title: str, detail: str) -> None:
    body = problem_bytes(status, detail, title=title, type_=type_)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", MEDIA_TYPE.encode()),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _send_413(send: Send, limit: int) -> None:
    await _send_problem(send, 413, "urn:aitbc:problem:payload-too-large", "Payload too large",
                        f"request body is larger than {limit} bytes")


def _lone_surrogate(value: object) -> bool:
    """Whether a parsed JSON value holds a string that is not valid Unicode ("\\ud800").
    Walked without recursion: JSON nested a few hundred deep is not an error of ours."""
    waiting = [value]
    while waiting:
        item = waiting.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            waiting.extend(item)
            waiting.extend(item.values())
        elif isinstance(item, list):
            waiting.extend(item)
    return False


def unicode_problem(body: bytes) -> str | None:
    """Why `body` is not valid Unicode text, or None. Bodies that are not JSON are left
    to the route (which answers its own 400)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"request body is not valid UTF-8 (byte {exc.start})"
    if "\\u" not in text:
        return None  # a lone surrogate can only come from a JSON escape
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # not JSON we can read: the route answers its own 400
        return None
    if _lone_surrogate(value):
        return "request body holds invalid Unicode (a lone surrogate escape such as \\ud800)"
    return None


class UnicodeGuard:
    """400 for a body that is not valid Unicode, before any route sees it: JSON lets a
    string carry a lone surrogate that no UTF-8 encoder (hashing, SQLite) accepts.
    Runs inside BodySizeLimit, so the body it buffers is bounded."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        problem = unicode_problem(body)
        if problem is not None:
            await _send_problem(send, 400, "urn:aitbc:problem:invalid-request", "Invalid request", problem)
            return
        await self.app(scope, _replay([{"type": "http.request", "body": body, "more_body": False}], receive), send)


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    async def receive() -> Message:
        if messages:
            return messages.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}
    return receive


class BodySizeLimit:
    """Refuse bodies over `max_bytes`, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await _send_413(send, self.max_bytes)
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _send_413(send, self.max_bytes)


class RequestMetrics:
    """Count requests by method, route template and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app, self.metrics = app, metrics
        # The counter's child per (method, route, status), found by a dict lookup: labels()
        # checks its arguments and takes a lock on every call. As bounded as the counter's own
        # children (route templates, not paths; the HTTP parser's methods).
        self._counters: dict[tuple[str, str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = scope.get("route")
            key = (scope["method"], getattr(route, "path", None) or "unmatched", str(status))
            counter = self._counters.get(key)
            if counter is None:
                counter = self._counters[key] = self.metrics.http_requests.labels(*key)
            counter.inc()
