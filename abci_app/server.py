"""ABCI socket server: unsigned-varint length-prefixed protobuf over TCP or Unix sockets.

CometBFT opens four connections (query, snapshot, mempool, consensus). Each
is served by its own asyncio task; requests on one connection are answered
in order, and since every handler runs on the one event-loop thread, the
application is never entered twice at once. Responses are buffered and the
socket is flushed when CometBFT sends Flush (mempool CheckTx is pipelined).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import traceback

from aitbc.abci_app.base import REQUESTS, BaseApplication
from aitbc.pb.tendermint.abci import types_pb2 as abci

log = logging.getLogger("aitbc.abci")

MAX_MESSAGE = 64 * 1024 * 1024
READ_CHUNK = 256 * 1024


def encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_varint(buf: bytes | bytearray, pos: int) -> tuple[int, int] | None:
    """(value, next position), or None when the buffer ends inside the varint."""
    result = shift = 0
    while pos < len(buf):
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")
    return None


def frame(message: bytes) -> bytes:
    return encode_varint(len(message)) + message


def split_frames(buf: bytes | bytearray) -> tuple[list[bytes], int]:
    """The whole messages at the start of `buf`, and how many bytes they took.

    Raises ValueError for a message over MAX_MESSAGE.
    """
    messages, pos = [], 0
    while (header := decode_varint(buf, pos)) is not None:
        length, start = header
        if length > MAX_MESSAGE:
            raise ValueError(f"ABCI message of {length} bytes is over the limit")
        if start + length > len(buf):
            break
        messages.append(bytes(buf[start:start + length]))
        pos = start + length
    return messages, pos


def handle(app: BaseApplication, request: abci.Request) -> abci.Response:
    """Dispatch one request. An unexpected error becomes Response.exception,
    which makes CometBFT stop: a bug must halt the node, not fork it."""
    kind = request.WhichOneof("value")
    response = abci.Response()
    if kind not in REQUESTS:
        response.exception.error = f"unsupported request {kind!r}"
        return response
    try:
        result = getattr(app, kind)(getattr(request, kind))
    except Exception:  # noqa: BLE001 - reported to CometBFT, then we stop
        log.error("ABCI %s failed:\n%s", kind, traceback.format_exc())
        response.exception.error = f"{kind} failed: {traceback.format_exc(limit=1)}"
        return response
    getattr(response, kind).CopyFrom(result)
    return response


class ABCIServer:
    """Serves one ABCI application on a TCP address ('tcp://host:port') or a Unix socket."""

    def __init__(self, app: BaseApplication, address: str):
        self.app = app
        self.address = address
        self._server: asyncio.base_events.Server | None = None
        self.failed = asyncio.Event()

    async def start(self) -> None:
        if self.address.startswith("unix://"):
            self._server = await asyncio.start_unix_server(self._serve, path=self.address[len("unix://"):])
        else:
            host, port = self.address.removeprefix("tcp://").rsplit(":", 1)
            self._server = await asyncio.start_server(self._serve, host=host, port=int(port))
        log.info("ABCI server listening on %s", self.address)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buf = bytearray()
        try:
            while True:
                chunk = await reader.read(READ_CHUNK)
                if not chunk:
                    return
                buf += chunk
                messages, consumed = split_frames(buf)
                del buf[:consumed]
                out: list[bytes] = []
                for message in messages:
                    request = abci.Request()
                    request.ParseFromString(message)
                    response = handle(self.app, request)
                    out.append(frame(response.SerializeToString()))
                    if response.WhichOneof("value") == "exception":
                        self.failed.set()
                # The answers to everything this read brought (pipelined CheckTx
                # and the Flush after them), in order, in one write: one send()
                # per read instead of one per answer. drain() only waits when
                # CometBFT reads slower than we answer.
                if out:
                    writer.write(b"".join(out))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return  # CometBFT went away, or we are shutting down
        finally:
            writer.close()


async def serve(app: BaseApplication, address: str) -> None:
    """Serve until SIGINT/SIGTERM or a fatal application error."""
    server = ABCIServer(app, address)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(server.failed.wait())]
    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    await server.close()
    for task in waiters:
        task.cancel()
