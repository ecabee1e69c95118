"""A minimal blocking ABCI socket client, as CometBFT speaks it (for tests)."""

from __future__ import annotations

import socket

from aitbc.abci_app.server import decode_varint, frame
from aitbc.pb.tendermint.abci import types_pb2 as abci


class ABCIClient:
    def __init__(self, port: int, host: str = "127.0.0.1"):
        self.sock = socket.create_connection((host, port), timeout=10)
        self.buf = bytearray()

    def send(self, **request) -> None:
        """Queue one request without waiting, e.g. send(check_tx=abci.RequestCheckTx(tx=b'..'))."""
        self.sock.sendall(frame(abci.Request(**request).SerializeToString()))

    def receive(self) -> abci.Response:
        while True:
            header = decode_varint(self.buf, 0)
            if header is not None and header[1] + header[0] <= len(self.buf):
                length, start = header
                data = bytes(self.buf[start:start + length])
                del self.buf[:start + length]
                return abci.Response.FromString(data)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk

    def call(self, **request) -> abci.Response:
        """Send one request and Flush, as CometBFT does for synchronous calls."""
        self.send(**request)
        self.send(flush=abci.RequestFlush())
        response = self.receive()
        assert self.receive().WhichOneof("value") == "flush"
        return response

    def close(self) -> None:
        self.sock.close()
