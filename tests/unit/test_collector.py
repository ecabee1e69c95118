"""The service processes' garbage-collector setting (aitbc/collector.py)."""

from __future__ import annotations

import gc

import pytest

from aitbc import collector


@pytest.fixture
def restore_gc():
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_tune_sets_the_thresholds_and_freezes_what_start_up_made(restore_gc):
    made_at_start_up = [object() for _ in range(10)]
    collector.tune()
    assert gc.get_threshold() == (collector.GEN0, collector.GEN1, collector.GEN2)
    assert gc.get_freeze_count() >= len(made_at_start_up)


def test_cycles_made_after_tuning_are_still_collected(restore_gc):
    collector.tune()

    class Node:
        pass

    for _ in range(3 * collector.GEN0):  # pairs that point at each other, dropped at once
        a, b = Node(), Node()
        a.peer, b.peer = b, a
    del a, b
    alive = sum(isinstance(o, Node) for o in gc.get_objects())
    assert alive < 2 * collector.GEN0  # young collections found most pairs without a gc.collect() call
    gc.collect()
    assert not any(isinstance(o, Node) for o in gc.get_objects())
