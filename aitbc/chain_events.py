"""A CometBFT node's events, pushed over its `/websocket` (JSON-RPC `subscribe`).

One connection carries every subscription; when it drops (node restart, network,
a subscription the node cancelled), it is opened again after a bounded backoff and
every query is subscribed again. Events sent while no connection was up are lost
for good, so the iterator yields `Connected` each time the subscriptions are in
place again: the user re-reads by query what it may have missed, then gets every
later event.

Queries, as verified against cometbft 0.38.25:
- `tm.event='Tx' AND job.miner='<addr>'`: the events of txs (e.g. a `submit_job`
  or `decline_job` that assigns a job inside the tx);
- `tm.event='NewBlockEvents' AND job.miner='<addr>'`: the events FinalizeBlock
  emits outside any tx (block start: assignments retried, expiries);
- a query without `tm.event` matches a block's events twice more (`NewBlock`
  carries them too, with the whole block) and is best avoided;
- `tm.event='NewBlock'` works as well but sends every block in full.
Matching is on the node's map of `type.key` -> values over all events of one tx or
block, so `job.miner='X'` matches a tx that has any job event naming X; the
`ChainEvent` keeps the events themselves so the user can tell which one.
CometBFT accepts at most `max_subscriptions_per_client` (5 by default) queries per
connection and refuses the sixth; `ChainEvents` refuses more than that up front.

    async for item in ChainEvents(node_url, {"jobs": "tm.event='Tx' AND job.miner='aitbc...'"}):
        if isinstance(item, Connected):
            ...  # re-sync by query
        else:
            ...  # item.events_of("job")
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import random
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import websockets

from aitbc.rpc import decode_events

log = logging.getLogger("aitbc.chain_events")

# Each committed block's header: `NewBlock` would send every block with its txs.
NEW_BLOCK_HEADERS = "tm.event='NewBlockHeader'"

MAX_SUBSCRIPTIONS = 5        # cometbft's rpc.max_subscriptions_per_client default
MAX_MESSAGE_BYTES = 8 << 20  # a block's events, or a tx of at most 16 KiB with its events


class SubscriptionRefused(Exception):
    """The node refused a query (malformed, or too many per connection): retrying will not help."""


class _ConnectionLost(Exception):
    """The node ended a subscription (e.g. a slow client) or the connection: subscribe again."""


@dataclass(frozen=True)
class Connected:
    """Every subscription is in place (again): what happened before must be read by query."""

    attempt: int                 # 1 for the first connection, then one more per reconnect

    @property
    def reconnected(self) -> bool:
        return self.attempt > 1


@dataclass(frozen=True)
class ChainEvent:
    """One tx's or one block's events, delivered for the subscription named `subscription`."""

    subscription: str
    kind: str                    # "Tx", "NewBlockEvents", "NewBlock", ...
    height: int
    events: list[dict[str, Any]]  # [{"type": ..., "attributes": {key: value}}] as aitbc.rpc.decode_events
    index: dict[str, list[str]] = field(default_factory=dict)  # the node's "type.key" -> values
    tx_hash: str = ""            # Tx events: the tx's hash (upper-case hex)
    tx: bytes = b""              # Tx events: the tx's bytes
    code: int = 0                # Tx events: the tx's result code (0: it succeeded)

    def events_of(self, kind: str) -> list[dict[str, str]]:
        """The attributes of each event of type `kind`, in order."""
        return [e["attributes"] for e in self.events if e["type"] == kind]


def websocket_url(node_url: str) -> str:
    """The `/websocket` endpoint of a node's RPC URL (http -> ws, https -> wss)."""
    url = node_url.rstrip("/")
    if url.startswith("https://"):
        url = "wss://" + url.removeprefix("https://")
    elif url.startswith("http://"):
        url = "ws://" + url.removeprefix("http://")
    elif "://" not in url:
        url = "ws://" + url
    return url if url.endswith("/websocket") else url + "/websocket"


def parse_event(subscription: str, result: dict[str, Any]) -> ChainEvent:
    """A `subscribe` notification's `result` as a ChainEvent."""
    data = result.get("data") or {}
    kind = str(data.get("type", "")).rsplit("/", 1)[-1]
    value = data.get("value") or {}
    index = {k: list(v) for k, v in (result.get("events") or {}).items()}
    if "TxResult" in value:
        tx_result = value["TxResult"]
        outcome = tx_result.get("result") or {}
        return ChainEvent(subscription, kind, int(tx_result.get("height", 0)), decode_events(outcome.get("events")),
                          index, tx_hash=(index.get("tx.hash") or [""])[0],
                          tx=base64.b64decode(tx_result.get("tx") or ""), code=int(outcome.get("code", 0)))
    if "block" in value:  # NewBlock: the whole block, its FinalizeBlock events beside it
        height = int(((value["block"] or {}).get("header") or {}).get("height", 0))
        raw = (value.get("result_finalize_block") or {}).get("events")
    else:                 # NewBlockEvents and the like
        height, raw = int(value.get("height", 0)), value.get("events")
    return ChainEvent(subscription, kind, height, decode_events(raw), index)


class ChainEvents:
    """Subscriptions to one node, kept up across reconnects; iterate for `Connected` and `ChainEvent`s.

    `subscriptions` maps a name (echoed in each ChainEvent) to a CometBFT query. The
    backoff between connection attempts doubles from `backoff_s` up to `max_backoff_s`
    (with jitter) and starts over once a connection is up. A refused query raises
    SubscriptionRefused from the iterator; nothing else ends it.
    """

    def __init__(self, node_url: str, subscriptions: Mapping[str, str], *, backoff_s: float = 0.5,
                 max_backoff_s: float = 15.0, open_timeout_s: float = 10.0, ping_interval_s: float = 20.0,
                 close_timeout_s: float = 10.0, quiet: bool = False):
        if not subscriptions:
            raise ValueError("no subscriptions")
        if len(subscriptions) > MAX_SUBSCRIPTIONS:
            raise ValueError(f"{len(subscriptions)} subscriptions; a CometBFT node accepts at most "
                             f"{MAX_SUBSCRIPTIONS} per connection (rpc.max_subscriptions_per_client)")
        self.url = websocket_url(node_url)
        self.subscriptions = dict(subscriptions)
        self.backoff_s, self.max_backoff_s = backoff_s, max_backoff_s
        self.open_timeout_s, self.ping_interval_s = open_timeout_s, ping_interval_s
        self.close_timeout_s = close_timeout_s
        # quiet: a lost connection is logged at DEBUG, for a user who only loses latency by it
        # (a CLI, whose stderr is its user's).
        self._lost_level = logging.DEBUG if quiet else logging.WARNING
        self.connections = 0     # connections that got every subscription in place
        self.up = False          # subscribed now

    async def __aiter__(self) -> AsyncIterator[Connected | ChainEvent]:
        delay = self.backoff_s
        while True:
            try:
                async with websockets.connect(self.url, open_timeout=self.open_timeout_s,
                                              close_timeout=self.close_timeout_s,
                                              ping_interval=self.ping_interval_s,
                                              ping_timeout=self.ping_interval_s,
                                              max_size=MAX_MESSAGE_BYTES) as ws:
                    names, early = await self._subscribe(ws)
                    self.connections += 1
                    self.up = True
                    delay = self.backoff_s
                    log.info("subscribed to chain events", extra={"node": self.url, "attempt": self.connections,
                                                                 "queries": list(self.subscriptions.values())})
                    yield Connected(self.connections)
                    for item in early:
                        yield item
                    async for raw in ws:
                        item = self._notification(names, raw)
                        if item is not None:
                            yield item
                raise _ConnectionLost("the node closed the connection")
            except SubscriptionRefused:
                self.up = False
                raise
            except (OSError, TimeoutError, websockets.WebSocketException, _ConnectionLost, ValueError) as exc:
                self.up = False
                wait = delay * (1 + random.random() / 4)
                log.log(self._lost_level, "chain events connection lost; reconnecting",
                        extra={"node": self.url, "error": f"{type(exc).__name__}: {exc}",
                               "retry_in_s": round(wait, 2)})
                await asyncio.sleep(wait)
                delay = min(delay * 2, self.max_backoff_s)

    async def _subscribe(self, ws) -> tuple[dict[int, str], list[ChainEvent]]:
        """Subscribe every query; their ids by name, and events that arrived meanwhile."""
        names = {i: name for i, name in enumerate(self.subscriptions, start=1)}
        for i, name in names.items():
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": i, "method": "subscribe",
                                      "params": {"query": self.subscriptions[name]}}))
        waiting, early = set(names), []
        async with asyncio.timeout(self.open_timeout_s):
            while waiting:
                message = json.loads(await ws.recv())
                ident = message.get("id")
                if ident in waiting and ("error" in message or not message.get("result")):
                    if "error" in message:
                        err = message["error"]
                        raise SubscriptionRefused(f"the node refused query {self.subscriptions[names[ident]]!r}: "
                                                  f"{err.get('message', '')} {err.get('data', '')}".strip())
                    waiting.discard(ident)
                    continue
                item = self._notification(names, message)
                if item is not None:
                    early.append(item)
        return names, early

    def _notification(self, names: dict[int, str], raw: str | bytes | dict[str, Any]) -> ChainEvent | None:
        message = raw if isinstance(raw, dict) else json.loads(raw)
        name = names.get(message.get("id"))
        if "error" in message:
            err = message["error"]
            # e.g. "subscription was cancelled (reason: client is not pulling messages fast enough)"
            raise _ConnectionLost(f"{err.get('message', '')} {err.get('data', '')}".strip())
        result = message.get("result")
        if name is None or not result:
            return None
        return parse_event(name, result)

    async def run(self, on_event: Callable[[ChainEvent], Awaitable[None] | None],
                  on_connected: Callable[[Connected], Awaitable[None] | None]) -> None:
        """Call `on_connected` after each (re)connect and `on_event` for each event, until cancelled."""
        async for item in self:
            outcome = on_connected(item) if isinstance(item, Connected) else on_event(item)
            if asyncio.iscoroutine(outcome):
                await outcome


class BlockSignal:
    """A node's new blocks, for code that is not async (the CLI): a thread keeps a quiet
    ChainEvents subscription to the block headers, and `wait` returns at the next block, so
    the caller reads the chain right after each commit instead of polling it.

        with BlockSignal(node_url) as blocks:
            while not done():
                blocks.wait(poll_s)

    Only latency depends on it: without a subscription (a node or proxy that does not pass
    its websocket) `wait` lasts `poll_s`, and with one at most `HEARTBEAT_S`, in case a
    notification is lost.
    """

    HEARTBEAT_S = 5.0

    def __init__(self, node_url: str):
        # A short closing handshake: leaving must not wait on a node gone silent.
        self._events = ChainEvents(node_url, {"blocks": NEW_BLOCK_HEADERS}, open_timeout_s=5.0,
                                   close_timeout_s=0.5, quiet=True)
        self._block = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._thread: threading.Thread | None = None
        self._ended = False  # the thread gave up (a refused subscription): polling from now on

    @property
    def up(self) -> bool:
        """Whether the subscription is in place now."""
        return self._events.up and not self._ended

    def __enter__(self) -> "BlockSignal":
        started = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(started,), name="block-signal", daemon=True)
        self._thread.start()
        started.wait()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._loop is not None and self._task is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: the thread has ended by itself
                self._loop.call_soon_threadsafe(self._task.cancel)
        if self._thread is not None:
            self._thread.join(timeout=2)  # a daemon: it cannot keep the process alive

    def wait(self, poll_s: float, at_most: float | None = None) -> bool:
        """Until the node's next block (True), or the time the caller would poll again (False),
        and never longer than `at_most` seconds."""
        timeout = self.HEARTBEAT_S if self.up else poll_s
        arrived = self._block.wait(timeout if at_most is None else max(0.0, min(timeout, at_most)))
        # Cleared before the caller reads the chain: a block committed after this wakes the next wait.
        self._block.clear()
        return arrived

    def _run(self, started: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._task = self._loop.create_task(self._watch())
            started.set()
            with contextlib.suppress(asyncio.CancelledError):
                self._loop.run_until_complete(self._task)
        except Exception:  # noqa: BLE001 - a refused subscription (the node at its limit of
            # subscribers) or anything else: only latency depends on it, the caller polls
            log.debug("no block notifications; polling instead", exc_info=True)
        finally:
            self._ended = True
            started.set()
            self._loop.close()

    async def _watch(self) -> None:
        async for _item in self._events:  # a (re)connection too: blocks may have passed meanwhile
            self._block.set()


__all__ = ["BlockSignal", "ChainEvent", "ChainEvents", "Connected", "MAX_SUBSCRIPTIONS", "NEW_BLOCK_HEADERS",
           "SubscriptionRefused", "parse_event", "websocket_url"]
