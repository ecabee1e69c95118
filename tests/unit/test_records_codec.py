"""The record codec: its fast paths give exactly the canonical JSON bytes (the app hash depends on them)."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given, settings, strategies as st

from aitbc.abci_app import records
from aitbc.abci_app.records import Account, Coordinator, Job, Miner, Params, Receipt, Supply

# Text with escapes, non-ASCII and the separators JSON must escape; ints beyond 64 bits.
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
number = st.one_of(st.integers(0, 2**70), st.booleans())


def canonical(record) -> bytes:
    """The definition: sorted keys, compact separators, every field by name."""
    return records._ENCODER.encode({f.name: getattr(record, f.name) for f in dataclasses.fields(record)}).encode()


def value_for(field: dataclasses.Field):
    kind = str(field.type)
    if kind == "int":
        return number
    if kind == "str":
        return text
    if kind.startswith("tuple[int"):
        return st.lists(st.integers(0, 10**6), max_size=3).map(tuple)
    if kind.startswith("tuple["):
        return st.lists(text, max_size=3).map(tuple)
    if kind.startswith("dict["):
        return st.dictionaries(text, st.integers(0, 10**6), max_size=3)
    raise AssertionError(f"no strategy for {field.name}: {kind}")


def record_of(cls):
    return st.builds(cls, **{f.name: value_for(f) for f in dataclasses.fields(cls)})


any_record = st.one_of(*(record_of(cls) for cls in (Account, Supply, Params, Miner, Job, Receipt, Coordinator)))


@settings(max_examples=300, deadline=None)
@given(any_record)
def test_encode_gives_the_canonical_bytes_and_decode_reads_them_back(record):
    data = records.encode(record)
    assert data == canonical(record)
    records._DECODED.clear()  # parse, not the cache
    back = records.decode(type(record), data)
    assert back == record or any(type(getattr(record, f.name)) is bool for f in dataclasses.fields(record))


def test_int_records_take_the_template_and_a_bool_still_encodes_as_json():
    assert records.encode(Account(balance=7, nonce=2)) == b'{"balance":7,"nonce":2}'
    assert records.encode(Account(balance=True, nonce=0)) == b'{"balance":true,"nonce":0}'
    assert records.encode(Supply(total=10**30)) == canonical(Supply(total=10**30))


def test_decode_reads_json_that_is_not_in_canonical_form_and_refuses_junk():
    records._DECODED.clear()
    assert records.decode(Account, b' { "nonce": 3, "balance": 1 }\n') == Account(balance=1, nonce=3)
    with pytest.raises(json.JSONDecodeError):
        records.decode(Account, b'{"balance":1} x')


def test_evolve_is_dataclasses_replace():
    miner = Miner(address="a", public_key="k", stake=1, models=("m",), price_per_second=2, capacity=3, endpoint="")
    assert records.evolve(miner, stake=5, capacity=1) == dataclasses.replace(miner, stake=5, capacity=1)
    assert miner.stake == 1  # the original is untouched
    with pytest.raises(TypeError):
        records.evolve(miner, nope=1)


def test_plus_adds_amounts_to_a_record_of_ints_or_to_its_defaults():
    assert records.decode(Account, records.plus(Account, None, {"balance": 7})) == Account(balance=7)
    held = records.encode(Supply(total=100, escrow=10, fees=9))
    assert records.decode(Supply, records.plus(Supply, held, {"fees": 2, "escrow": -10})) == Supply(total=100, fees=11)
