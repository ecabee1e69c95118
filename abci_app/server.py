"""ABCI socket server: unsigned-varint length-prefixed protobuf over TCP or Unix sockets.

CometBFT opens four connections (query, snapshot, mempool, consensus). Each
is served by its own asyncio task; requests on one connection are answered
in order, and since every handler runs on the one event-loop thread, the
application is never entered twice at once. Responses are buffered and the
socket is flushed when CometBFT sends Flush (mempool CheckTx is pipelined).

CheckTx is most of what a busy node asks, so it has its own path: the CheckTx
requests one read brings are read without building protobuf messages
(`check_tx_request`) and handed to the app together (`check_tx_batch`, which can
verify their signatures on several cores), and each answer is framed as it is.
Every answer is framed around the app's serialized message (`frame_response`),
never copied into a Response first.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import traceback

from aitbc.abci_app.base import REQUESTS, BaseApplication
from aitbc.abci_app.wire import decode_varint, encode_varint
from aitbc.pb.tendermint.abci import types_pb2 as abci

log = logging.getLogger("aitbc.abci")

MAX_MESSAGE = 64 * 1024 * 1024
READ_CHUNK = 8 * 1024 * 1024  # all that is there: a proposal of 30 000 txs is a 5 MB request
# How much CometBFT can have sent that we have not answered yet, kernel and stream
# buffers together: before every Commit CometBFT waits until each CheckTx it sent is
# answered (FlushAppConn), so a deep backlog of CheckTx stretches every block. Left to
# itself, Linux grows a loopback receive buffer to tens of MB (tens of thousands of
# CheckTx, seconds of work); this keeps it to a few thousand and pushes back on
# CometBFT (and so on its RPC clients) instead.
RECEIVE_BUFFER = 256 * 1024
# Requests answered before the other connections get a turn: a read on the mempool
# connection can bring tens of thousands of CheckTx; a proposal on the consensus
# connection must not wait for all of them (the next block waits on it).
TURN = 256
# A message this big (a proposal, a block) arrives over many reads, one per turn of the
# event loop: until it is in, the other connections answer nothing, so that it is not
# read in 256 KiB pieces between turns of CheckTx work. Bounded, in case one never ends.
BIG_MESSAGE = 64 * 1024
MAX_WAIT_TURNS = 10_000


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


# A message field is its tag (field number, wire type 2), its length and its bytes: a
# Response holding one answer is that, whatever the answer (no copy into a Response).
_RESPONSE_TAGS = {field.name: encode_varint(field.number << 3 | 2) for field in abci.Response.DESCRIPTOR.fields}
_CHECK_TX_TAG = abci.Request.DESCRIPTOR.fields_by_name["check_tx"].number << 3 | 2
_TYPES = (abci.NEW, abci.RECHECK)
assert _CHECK_TX_TAG < 0x80  # one byte


def frame_response(kind: str, payload: bytes) -> bytes:
    """The framed Response whose oneof `kind` holds the serialized answer `payload`."""
    body = _RESPONSE_TAGS[kind] + encode_varint(len(payload)) + payload
    return encode_varint(len(body)) + body


def _exception(error: str) -> bytes:
    return frame_response("exception", abci.ResponseException(error=error).SerializeToString())


def handle(app: BaseApplication, request: abci.Request) -> tuple[bytes, bool]:
    """Dispatch one request: (the framed Response, whether it is an exception). An
    unexpected error becomes Response.exception, which makes CometBFT stop: a bug
    must halt the node, not fork it."""
    kind = request.WhichOneof("value")
    if kind not in REQUESTS:
        return _exception(f"unsupported request {kind!r}"), True
    try:
        result = app.serialized(kind, getattr(request, kind))
    except Exception:  # noqa: BLE001 - reported to CometBFT, then we stop
        log.error("ABCI %s failed:\n%s", kind, traceback.format_exc())
        return _exception(f"{kind} failed: {traceback.format_exc(limit=1)}"), True
    return frame_response(kind, result), False


# code 0 and nothing else: the answer to most CheckTx requests, serialized once.
_CHECK_TX_OK = frame_response("check_tx", b"")


def check_tx_request(message: bytes) -> tuple[bytes, bool] | None:
    """(tx, is RECHECK) of a serialized Request that holds a CheckTx the way CometBFT
    writes one (tx, then a type other than NEW); None for anything else, which then
    takes the general path (protobuf decides what it means)."""
    if not message or message[0] != _CHECK_TX_TAG:
        return None
    header = decode_varint(message, 1)
    if header is None or header[0] + header[1] != len(message):
        return None
    pos, tx, kind = header[1], None, 0
    if pos < len(message) and message[pos] == 0x0A:  # field 1, bytes: the tx
        field = decode_varint(message, pos + 1)
        if field is None or field[1] + field[0] > len(message):
            return None
        tx = message[field[1]:field[1] + field[0]]
        pos = field[1] + field[0]
    if pos < len(message) and message[pos] == 0x10:  # field 2, varint: the type
        field = decode_varint(message, pos + 1)
        if field is None:
            return None
        kind, pos = field
    if pos != len(message) or kind not in _TYPES:
        return None
    return (tx or b""), kind == abci.RECHECK


def answer_all(app: BaseApplication, messages: list[bytes]) -> tuple[list[bytes], bool]:
    """The framed answers to `messages`, in order, and whether one is an exception.
    Consecutive CheckTx requests go to the app as one batch."""
    out: list[bytes] = []
    failed = False
    i = 0
    while i < len(messages):
        batch = []
        while i < len(messages) and (parsed := check_tx_request(messages[i])) is not None:
            batch.append(parsed)
            i += 1
        if batch:
            try:
                out.extend(frame_response("check_tx", payload) if payload else _CHECK_TX_OK
                           for payload in app.check_tx_batch(batch))
            except Exception:  # noqa: BLE001 - as in handle()
                log.error("ABCI check_tx failed:\n%s", traceback.format_exc())
                out.append(_exception(f"check_tx failed: {traceback.format_exc(limit=1)}"))
                return out, True
            continue
        request = abci.Request()
        request.ParseFromString(messages[i])
        i += 1
        response, failed_now = handle(app, request)
        out.append(response)
        failed = failed or failed_now
    return out, failed


class ABCIServer:
    """Serves one ABCI application on a TCP address ('tcp://host:port') or a Unix socket."""

    def __init__(self, app: BaseApplication, address: str):
        self.app = app
        self.address = address
        self._server: asyncio.base_events.Server | None = None
        self.failed = asyncio.Event()
        self._receiving: set[int] = set()  # connections part-way through a BIG_MESSAGE

    async def start(self) -> None:
        if self.address.startswith("unix://"):
            self._server = await asyncio.start_unix_server(self._serve, path=self.address[len("unix://"):],
                                                           limit=RECEIVE_BUFFER)
        else:
            host, port = self.address.removeprefix("tcp://").rsplit(":", 1)
            self._server = await asyncio.start_server(self._serve, host=host, port=int(port), limit=RECEIVE_BUFFER)
        log.info("ABCI server listening on %s", self.address)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _let_big_messages_in(self, me: int) -> None:
        for _ in range(MAX_WAIT_TURNS):
            if not self._receiving - {me}:
                return
            await asyncio.sleep(0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buf = bytearray()
        me = id(writer)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        try:
            while True:
                chunk = await reader.read(READ_CHUNK)
                if not chunk:
                    return
                buf += chunk
                messages, consumed = split_frames(buf)
                del buf[:consumed]
                header = decode_varint(buf, 0)
                if header is not None and header[0] >= BIG_MESSAGE:
                    self._receiving.add(me)
                else:
                    self._receiving.discard(me)
                for start in range(0, len(messages), TURN):
                    if start:
                        await asyncio.sleep(0)  # the other connections' turn
                    await self._let_big_messages_in(me)
                    out, failed = answer_all(self.app, messages[start:start + TURN])
                    if failed:
                        self.failed.set()
                    # The answers, in order, in one write per turn (pipelined CheckTx
                    # and the Flush after them): one send() for many answers.
                    if out:
                        writer.write(b"".join(out))
                # drain() only waits when CometBFT reads slower than we answer.
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return  # CometBFT went away, or we are shutting down
        finally:
            self._receiving.discard(me)
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
