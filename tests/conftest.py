"""Shared pytest set-up: integration tests are marked by folder, and the process
fixtures wrap the harness (aitbc.ops.harness): each stops what it started when
the test ends, also when it fails."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aitbc.ops.factories import KEYS
from aitbc.ops.harness.chain import ChainStack
from aitbc.ops.harness.hand_miner import HandMiner
from aitbc.ops.harness.services import CoordinatorProcess


def pytest_collection_modifyitems(config, items):
    # Everything under tests/integration starts real processes.
    for item in items:
        if "/tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[ChainStack]:
    """A fresh chain per test; pending jobs expire on chain after 30 s (a backstop only)."""
    stack = ChainStack(tmp_path / "chain", pending_timeout_s=30, job_timeout_s=120)
    try:
        yield stack.start()
    finally:
        stack.stop()


@pytest.fixture
def coordinator_factory(tmp_path: Path, chain: ChainStack) -> Iterator[Callable[..., CoordinatorProcess]]:
    """make(**settings) -> a started CoordinatorProcess; all are stopped at the end."""
    started: list[CoordinatorProcess] = []

    def make(**settings: Any) -> CoordinatorProcess:
        process = CoordinatorProcess(tmp_path / "coordinator", chain, **settings)
        started.append(process)
        return process.start()

    try:
        yield make
    finally:
        for process in started:
            process.stop()


@pytest.fixture
def coordinator(coordinator_factory) -> CoordinatorProcess:
    return coordinator_factory()


@pytest.fixture
def hand_miner() -> Iterator[HandMiner]:
    with HandMiner("miner1", KEYS["coordinator"].address) as miner:
        yield miner
