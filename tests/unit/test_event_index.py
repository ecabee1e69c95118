"""aitbc.event_index: the attributes the chain indexes, and which of a query's it does not."""

from __future__ import annotations

import pytest

from aitbc import event_index
from aitbc.abci_app import events


@pytest.mark.parametrize("query, unindexed", [
    ("message.sender='aitbc1' AND message.action='transfer'", ["message.action"]),
    ("tm.event='Tx' AND tx.height>5 AND tx.hash='AB'", []),  # CometBFT's own keys
    ("job.id='job_1' AND job.status='completed'", []),
    ("job.prompt CONTAINS 'receipt.id=1 AND x.y>2'", ["job.prompt"]),  # quoted text is not a condition
    ("transfer.sender EXISTS", ["transfer.sender"]),
    ("message.action = 'a' AND message.action='b' AND job.price>=3", ["message.action", "job.price"]),
    ("transfer.amount > 5 AND transfer.recipient='aitbc1'", ["transfer.amount"]),
])
def test_a_querys_unindexed_attributes(query, unindexed):
    assert event_index.unindexed(query) == unindexed


def test_the_app_marks_indexed_what_the_table_says():
    assert events.INDEXED is event_index.INDEXED
    transfer = [events.message("aitbc1", "transfer", 3), events.transfer("aitbc2", 5)]
    marked = sorted(f"{e.type}.{key}" for e in transfer for key, _ in e.attributes if e.indexed(key))
    assert marked == ["message.sender", "transfer.recipient"]
    assert {"message.sender", "transfer.recipient", "job.id", "receipt.id"} <= set(event_index.indexed_keys())
    assert "message.action" not in event_index.indexed_keys()
