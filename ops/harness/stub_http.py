"""A loopback HTTP server in a thread whose answers a test or benchmark writes as a
function: stand-ins for Ollama, a coordinator, a miner endpoint or an internal
service. Every request is answered by `respond(request) -> (status, payload)`;
a `str` payload goes out as text/plain, anything else as JSON.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class StubRequest:
    method: str
    path: str
    headers: Message
    body: bytes


Responder = Callable[[StubRequest], tuple[int, Any]]


class StubServer:
    """Serve `respond` on 127.0.0.1 (a free port) until `close()` or the end of a `with` block.

    `keep_alive` answers in HTTP/1.1 with Nagle off, for callers that time their requests
    (headers and body are two writes: no 40 ms delayed-ACK stall)."""

    def __init__(self, respond: Responder, keep_alive: bool = False):
        class Handler(BaseHTTPRequestHandler):
            if keep_alive:
                protocol_version = "HTTP/1.1"
                disable_nagle_algorithm = True

            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, payload = respond(StubRequest(self.command, self.path, self.headers, body))
                if isinstance(payload, str):
                    data, kind = payload.encode(), "text/plain"
                else:
                    data, kind = json.dumps(payload).encode(), "application/json"
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _any  # noqa: N815 - http.server's names

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "StubServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
