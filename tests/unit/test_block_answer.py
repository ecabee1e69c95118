"""FinalizeBlock's answer serialized by hand (abci_app/block_answer.py) is byte for byte what
protobuf makes of the same message, built the usual way."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as some

from aitbc.abci_app import block_answer
from aitbc.abci_app.wire import encode_varint
from aitbc.abci_app.events import INDEXED, Event, event
from aitbc.pb.tendermint.abci import types_pb2 as abci

TYPES = sorted(INDEXED) + ["unlisted"]
KEYS = sorted({key for keys in INDEXED.values() for key in keys}) + ["amount", "fee", "action", "x", ""]
TEXT = some.text(max_size=300)  # any unicode, empty included, lengths across a varint's first byte


def built(block_events: list[Event], results: list[tuple[list[Event], int, str, str]], app_hash: bytes) -> bytes:
    """The message the usual way: upb messages, then SerializeToString."""
    response = abci.ResponseFinalizeBlock(app_hash=app_hash)

    def add(target, items):
        for e in items:
            out = target.add(type=e.type)
            for key, value in e.attributes:
                out.attributes.add(key=key, value=value, index=e.indexed(key))

    add(response.events, block_events)
    for items, code, log, codespace in results:
        add(response.tx_results.add(code=code, log=log, codespace=codespace).events, items)
    return response.SerializeToString()


events = some.lists(some.builds(Event, some.sampled_from(TYPES),
                                some.lists(some.tuples(some.sampled_from(KEYS), TEXT), max_size=5).map(tuple)),
                    max_size=4)
results = some.lists(some.tuples(events, some.sampled_from([0, 1, 5, 127, 128, 300, 2**32 - 1]), TEXT,
                                 some.sampled_from(["", "aitbc"])), max_size=5)


@settings(max_examples=300, deadline=None)
@given(events, results, some.sampled_from([b"", b"\x01" * 32]))
def test_the_bytes_are_protobufs(block_events, tx_results, app_hash):
    encoded = block_answer.response(block_events, [block_answer.tx_result(*r) for r in tx_results], app_hash)
    assert encoded == built(block_events, tx_results, app_hash)


def test_a_transfer_block():
    txs = [[event("message", sender=f"aitbc1{i:040d}", action="transfer", fee=1234),
            event("transfer", recipient="aitbc1" + "z" * 39, amount=10 ** i)]
           for i in range(30)]
    encoded = block_answer.response([], [block_answer.tx_result(items) for items in txs], b"h" * 32)
    assert encoded == built([], [(items, 0, "", "") for items in txs], b"h" * 32)
    parsed = abci.ResponseFinalizeBlock.FromString(encoded)
    # only the signer: a tx's kind is in its body, not worth a write per tx in every node's index
    assert [a.index for a in parsed.tx_results[3].events[0].attributes] == [True, False, False]
    assert [a.index for a in parsed.tx_results[3].events[1].attributes] == [True, False]


def test_varints():
    for value in (0, 1, 127, 128, 300, 16383, 16384, 2**32 - 1, 2**63):
        encoded = encode_varint(value)
        assert abci.ExecTxResult.FromString(b"\x28" + encoded).gas_wanted == (value if value < 2**63 else value - 2**64)
    for negative in (-1, -5, -300):
        with pytest.raises(ValueError):
            encode_varint(negative)


def test_a_value_that_is_not_text_fails_as_it_did_in_protobuf():
    with pytest.raises(AttributeError):
        block_answer.tx_result([Event("transfer", (("amount", 0),))])
    with pytest.raises(TypeError):
        abci.EventAttribute(key="amount", value=0)
