"""FinalizeBlock's answer, serialized by hand: the bytes protobuf makes of the same message.

A block of transfers answers two events of three attributes a tx. Built as upb messages
(nine `add` calls a tx) and serialized afterwards, that was about half of what
FinalizeBlock spent on a tx CheckTx had already applied. Here each event is written
straight to the wire format, with the fixed bytes of each (event type, attribute key)
made once.
Byte for byte what `SerializeToString` gives for the message built the usual way
(fields in number order, proto3 defaults left out): tests/unit/test_block_answer.py
holds it to that. Only the deterministic fields of each ExecTxResult (code, data, gas)
enter CometBFT's LastResultsHash, so the bytes are not consensus; they are kept
identical anyway, so a reader cannot tell the two ways apart.
"""

from __future__ import annotations

from aitbc.abci_app.events import INDEXED, Event
from aitbc.abci_app.wire import SMALL_VARINTS as _SMALL, encode_varint
from aitbc.pb.tendermint.abci import types_pb2 as abci


def _tag(message, name: str) -> bytes:
    """The key of a field of wire type 2 (bytes, string, message) or 0 (varint: the ones used here)."""
    field = message.DESCRIPTOR.fields_by_name[name]
    wire = 0 if field.type in (field.TYPE_UINT32, field.TYPE_BOOL) else 2
    return encode_varint(field.number << 3 | wire)


_EVENT_TYPE, _EVENT_ATTRIBUTE = _tag(abci.Event, "type"), _tag(abci.Event, "attributes")
_KEY, _VALUE, _INDEX = (_tag(abci.EventAttribute, name) for name in ("key", "value", "index"))
_CODE, _LOG, _EVENTS, _CODESPACE = (_tag(abci.ExecTxResult, name) for name in ("code", "log", "events", "codespace"))
_BLOCK_EVENTS, _TX_RESULT, _APP_HASH = (_tag(abci.ResponseFinalizeBlock, name)
                                        for name in ("events", "tx_results", "app_hash"))
_INDEXED = _INDEX + b"\x01"

# Per event type, per key: the attribute's bytes before its value's length, those after its
# value, and how many those are together (an attribute's body is that plus its value's).
_ATTRIBUTE_PARTS: dict[str, dict[str, tuple[bytes, bytes, int]]] = {}


def _attribute_parts(kind: str, key: str) -> tuple[bytes, bytes, int]:
    encoded = key.encode()
    before = (_KEY + encode_varint(len(encoded)) + encoded if encoded else b"") + _VALUE
    after = _INDEXED if key in INDEXED.get(kind, ()) else b""
    parts = _ATTRIBUTE_PARTS.setdefault(kind, {})[key] = (before, after, len(before) + len(after))
    return parts


def _string(tag: bytes, text: str) -> bytes:
    if not text:
        return b""
    encoded = text.encode()
    return tag + encode_varint(len(encoded)) + encoded


def _type(kind: str) -> bytes:
    encoded = _TYPES.get(kind)
    if encoded is None:
        encoded = _TYPES[kind] = _string(_EVENT_TYPE, kind)
    return encoded


_TYPES: dict[str, bytes] = {}


def event(e: Event) -> bytes:
    """An abci.Event message's bytes: `e`'s type and attributes, indexed as INDEXED says."""
    kind, small, attribute = e.type, _SMALL, _EVENT_ATTRIBUTE
    parts = _ATTRIBUTE_PARTS.get(kind) or {}
    out = [_TYPES.get(kind) or _type(kind)]
    for key, value in e.attributes:
        before, after, fixed = parts.get(key) or _attribute_parts(kind, key)
        if value is not None and value != "":  # anything but a str fails here, as it failed in upb
            encoded = value.encode()
            size = len(encoded)
            if size < 0x80 and fixed + size < 0x7F:  # both lengths one byte: most attributes
                out.append(b"".join((attribute, small[fixed + 1 + size], before, small[size], encoded, after)))
                continue
            body = b"".join((before, encode_varint(size), encoded, after))
        else:  # an empty string is proto3's default: no field at all
            body = before[:-len(_VALUE)] + after
        out.append(attribute + encode_varint(len(body)) + body)
    return b"".join(out)


def events(field: bytes, items: list[Event]) -> bytes:
    """`items` as the repeated message field whose key is `field`."""
    out = []
    for body in map(event, items):
        out.append(field + encode_varint(len(body)) + body)
    return b"".join(out)


def tx_result(items: list[Event], code: int = 0, log: str = "", codespace: str = "") -> bytes:
    """One ExecTxResult, as the `tx_results` field of the answer (its key and length included)."""
    body = ((_CODE + encode_varint(code) if code else b"") + _string(_LOG, log) + events(_EVENTS, items)
            + _string(_CODESPACE, codespace))
    return _TX_RESULT + encode_varint(len(body)) + body


def response(block_events: list[Event], tx_results: list[bytes], app_hash: bytes) -> bytes:
    """ResponseFinalizeBlock: the block's own events, the txs' results made by `tx_result`, the app hash."""
    hashed = _APP_HASH + encode_varint(len(app_hash)) + app_hash if app_hash else b""
    return b"".join((events(_BLOCK_EVENTS, block_events), *tx_results, hashed))
