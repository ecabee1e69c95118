"""A typed client for the CometBFT node's JSON-RPC (port 26657), sync and async.

Integers come back as JSON strings, bytes as base64, hashes as upper-case
hex; this client turns them into Python values. Transport errors become
`NodeUnavailable`; RPC-level errors become `RPCError`.
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from aitbc.codes import code_name
from aitbc.tx import tx_hash as hash_of


class ChainError(Exception):
    """Base of everything this client raises."""


class NodeUnavailable(ChainError):
    pass


class RPCError(ChainError):
    pass


class TxNotFound(ChainError):
    """A tx that is neither in the node's tx index nor in the block it was said to be in."""


class QueryFailed(ChainError):
    def __init__(self, path: str, code: int, log: str):
        super().__init__(f"query {path} failed ({code_name(code)}): {log}")
        self.code, self.log = code, log


@dataclass(frozen=True)
class BroadcastResult:
    hash: str
    code: int
    log: str
    height: int = 0  # set by broadcast_tx_commit once included
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.code == 0

    @property
    def code_name(self) -> str:
        return code_name(self.code)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def decode_events(raw_events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"type": e["type"], "attributes": {a["key"]: a.get("value", "") for a in e.get("attributes", [])}}
            for e in raw_events or []]


def block_txs(block: dict[str, Any]) -> list[bytes]:
    """The txs of a `block` RPC result, as bytes."""
    return [base64.b64decode(raw) for raw in ((block or {}).get("block") or {}).get("data", {}).get("txs") or []]


def tx_in_block(block: dict[str, Any], tx_hash: str, height: int) -> bytes:
    """The tx `tx_hash` of block `height` (its `block` RPC result). Raises TxNotFound."""
    wanted = tx_hash.upper()
    for raw in block_txs(block):
        if hash_of(raw) == wanted:
            return raw
    raise TxNotFound(f"tx {tx_hash} is neither in the node's tx index nor in block {height}")


def _broadcast_result(method: str, result: dict[str, Any]) -> BroadcastResult:
    if method == "broadcast_tx_commit":
        check, deliver = result["check_tx"], result.get("tx_result") or {}
        if int(check.get("code", 0)) != 0:
            return BroadcastResult(result["hash"], int(check["code"]), check.get("log", ""))
        return BroadcastResult(result["hash"], int(deliver.get("code", 0)), deliver.get("log", ""),
                               int(result.get("height", 0)), decode_events(deliver.get("events", [])))
    return BroadcastResult(result["hash"], int(result.get("code", 0)), result.get("log", ""))


def query_value(path: str, result: dict[str, Any]) -> Any:
    """The decoded JSON value of an `abci_query` result (`path` names it in errors). Raises QueryFailed."""
    return _query_value_at(path, result)[0]


def _query_value_at(path: str, result: dict[str, Any]) -> tuple[Any, int]:
    response = result["response"]
    code = int(response.get("code", 0))
    if code:
        raise QueryFailed(path, code, response.get("log", ""))
    return json.loads(base64.b64decode(response.get("value") or "") or b"null"), int(response.get("height", 0))


def _unwrap(url: str, response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        raise RPCError(f"{url}: not a JSON-RPC answer (HTTP {response.status_code})") from None
    return _result(url, body)


def _result(url: str, body: Any) -> Any:
    """A JSON-RPC answer's result. Raises RPCError with what the node answered instead."""
    if not isinstance(body, dict) or ("result" not in body and "error" not in body):
        raise RPCError(f"{url}: not a JSON-RPC answer")
    if "error" in body:
        raise _node_error(body["error"])
    return body["result"]


def _node_error(err: dict[str, Any]) -> RPCError:
    """The node's JSON-RPC error object, in its own words."""
    return RPCError(f"{err.get('message', 'error')}: {err.get('data', '')}")


class ChainRPC:
    """Synchronous client (CLI, tests)."""

    def __init__(self, url: str, timeout: float = 30.0):
        self.url = url.rstrip("/")
        self._http = httpx.Client(timeout=timeout)

    def call(self, method: str, **params: Any) -> Any:
        try:
            response = self._http.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        except httpx.HTTPError as exc:
            raise NodeUnavailable(f"cannot reach the node at {self.url}: {exc}") from exc
        return _unwrap(self.url, response)

    def broadcast(self, tx: bytes, mode: str = "sync") -> BroadcastResult:
        method = f"broadcast_tx_{mode}"
        return _broadcast_result(method, self.call(method, tx=_b64(tx)))

    def query(self, path: str) -> Any:
        return query_value(path, self.call("abci_query", path=path, data=""))

    def query_at(self, path: str) -> tuple[Any, int]:
        """The answer and the committed height it was read at."""
        return _query_value_at(path, self.call("abci_query", path=path, data=""))

    def status(self) -> dict[str, Any]:
        return self.call("status")

    def tx_search(self, query: str, page: int = 1, per_page: int = 30, order: str = "asc") -> dict[str, Any]:
        return self.call("tx_search", query=query, page=str(page), per_page=str(per_page), order_by=order)

    def tx(self, tx_hash: str) -> dict[str, Any]:
        return self.call("tx", hash=_b64(bytes.fromhex(tx_hash)))

    def block(self, height: int | None = None) -> dict[str, Any]:
        return self.call("block", **({"height": str(height)} if height else {}))

    def committed_tx(self, tx_hash: str, height: int = 0) -> bytes:
        """A committed tx's bytes, from the node's tx index or, when the index does not have it,
        from block `height`: the index lags the block (and the app's state) by a moment, and a
        node may run without one. Raises TxNotFound, or what reading the index (`height` 0) or
        the block raised."""
        try:
            return base64.b64decode(self.tx(tx_hash)["tx"])
        except NodeUnavailable:
            raise
        except ChainError:
            if not height:
                raise
        return tx_in_block(self.block(height), tx_hash, height)

    def block_results(self, height: int) -> dict[str, Any]:
        return self.call("block_results", height=str(height))

    def close(self) -> None:
        self._http.close()


class _PlainHTTP:
    """POSTs of JSON to one plain-http node over a few keep-alive connections, with nothing
    between asyncio's streams and the bytes: for the hot path (broadcast batches), where httpx
    cost more CPU per request than the rest of a job submission (docs/benchmarks.md)."""

    def __init__(self, url: str, timeout: float, idle: int = 32):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.path = (parts.path or "/").encode()
        self.timeout, self.idle = timeout, idle
        self._free: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    @staticmethod
    def usable(url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme == "http" and not parts.username and not parts.query

    async def post(self, body: bytes) -> tuple[int, bytes]:
        """(HTTP status, response body). Raises OSError, asyncio.TimeoutError, ValueError."""
        while self._free:
            try:
                return await self._post_on(self._free.pop(), body)
            except (ConnectionError, asyncio.IncompleteReadError):
                continue  # the node closed this idle connection meanwhile (its idle timeout): a fresh one
        conn = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), self.timeout)
        return await self._post_on(conn, body)

    async def _post_on(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], body: bytes) -> tuple[int, bytes]:
        reader, writer = conn
        try:
            writer.write(b"POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (self.path, self.host.encode(), self.port, len(body), body))
            async with asyncio.timeout(self.timeout):  # no task per request, as wait_for makes on 3.11
                status, answer, keep = await self._response(reader)
        except BaseException:
            writer.close()
            raise
        if keep and len(self._free) < self.idle:
            self._free.append(conn)
        else:
            writer.close()
        return status, answer

    @staticmethod
    async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, chunked, keep = None, False, True
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value
            elif name == b"connection":
                keep = value != b"close"
        if chunked:
            out = bytearray()
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                out += (await reader.readexactly(size + 2))[:-2]
            await reader.readuntil(b"\r\n")
            return status, bytes(out), keep
        if length is None:
            return status, await reader.read(), False
        return status, await reader.readexactly(length), keep

    def close(self) -> None:
        for _, writer in self._free:
            writer.close()
        self._free.clear()


class AsyncChainRPC:
    """Asynchronous client (coordinator, miner)."""

    def __init__(self, url: str, timeout: float = 30.0):
        self.url = url.rstrip("/")
        self._http = httpx.AsyncClient(timeout=timeout)
        self._plain = _PlainHTTP(self.url, timeout) if _PlainHTTP.usable(self.url) else None

    async def _post_json(self, body: Any) -> Any:
        """One JSON-RPC request (a call or a batch), its decoded JSON answer."""
        data = json.dumps(body, separators=(",", ":")).encode()
        if self._plain is not None:
            try:
                status, answer = await self._plain.post(data)
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                    ValueError, IndexError) as exc:
                raise NodeUnavailable(f"cannot reach the node at {self.url}: {exc!r}") from exc
        else:
            try:
                response = await self._http.post(self.url, content=data,
                                                  headers={"Content-Type": "application/json"})
            except httpx.HTTPError as exc:
                raise NodeUnavailable(f"cannot reach the node at {self.url}: {exc}") from exc
            status, answer = response.status_code, response.content
        try:
            return json.loads(answer)
        except ValueError:
            raise RPCError(f"{self.url}: not a JSON-RPC answer (HTTP {status})") from None

    async def call(self, method: str, **params: Any) -> Any:
        """One JSON-RPC call's result. Raises NodeUnavailable, RPCError (what the node answered)."""
        # The plain path too: the coordinator's tracker and scheduler make several calls per
        # tick (status, queries, look-ups), and httpx cost several times its CPU per call.
        return _result(self.url, await self._post_json({"jsonrpc": "2.0", "id": 1, "method": method,
                                                         "params": params}))

    async def call_batch(self, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
        """Several calls in one JSON-RPC batch request (CometBFT runs them in order); each
        item is the call's result or the RPCError it answered. Raises NodeUnavailable, and
        RPCError when the node refused the batch as a whole (more calls than its
        rpc.max_request_batch_size)."""
        answers = await self._post_json([{"jsonrpc": "2.0", "id": i, "method": method, "params": params}
                                         for i, (method, params) in enumerate(calls)])
        if not isinstance(answers, list):
            raise _node_error(answers.get("error") or {})
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        out: list[Any] = []
        for i in range(len(calls)):
            answer = by_id.get(i)
            if answer is None:
                out.append(RPCError(f"{self.url}: no answer to call {i} of a batch"))
            elif "error" in answer:
                out.append(_node_error(answer["error"]))
            else:
                out.append(answer["result"])
        return out

    async def broadcast(self, tx: bytes, mode: str = "sync") -> BroadcastResult:
        method = f"broadcast_tx_{mode}"
        return _broadcast_result(method, await self.call(method, tx=_b64(tx)))

    async def broadcast_many(self, txs: list[bytes], mode: str = "sync") -> list[BroadcastResult | RPCError]:
        """Each tx's CheckTx answer (or the RPCError the node gave it, e.g. already in the cache),
        from one batch request. Raises NodeUnavailable, RPCError (the batch refused whole)."""
        method = f"broadcast_tx_{mode}"
        if len(txs) == 1:
            try:
                return [_broadcast_result(method, await self.call(method, tx=_b64(txs[0])))]
            except RPCError as exc:
                return [exc]
        answers = await self.call_batch([(method, {"tx": _b64(tx)}) for tx in txs])
        return [a if isinstance(a, RPCError) else _broadcast_result(method, a) for a in answers]

    async def query(self, path: str) -> Any:
        return query_value(path, await self.call("abci_query", path=path, data=""))

    async def query_at(self, path: str) -> tuple[Any, int]:
        """The answer and the committed height it was read at."""
        return _query_value_at(path, await self.call("abci_query", path=path, data=""))

    async def status(self) -> dict[str, Any]:
        return await self.call("status")

    async def block(self, height: int) -> dict[str, Any]:
        return await self.call("block", height=str(height))

    async def block_results(self, height: int) -> dict[str, Any]:
        return await self.call("block_results", height=str(height))

    async def unconfirmed_txs(self, limit: int = 100) -> dict[str, Any]:
        """The mempool's first `limit` txs (CometBFT lists at most 100) and its size (`total`)."""
        return await self.call("unconfirmed_txs", limit=str(limit))

    async def tx_search(self, query: str, page: int = 1, per_page: int = 30) -> dict[str, Any]:
        return await self.call("tx_search", query=query, page=str(page), per_page=str(per_page))

    async def aclose(self) -> None:
        if self._plain is not None:
            self._plain.close()
        await self._http.aclose()
