"""A real single-node chain (cometbft + our app) on free ports, for tests that
drive the node itself (stop, kill -9, restart)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from aitbc.ops import nodehome
from aitbc.ops.harness import ChainStack
from aitbc.rpc import ChainRPC


def start_chain(home: Path, **params: int) -> nodehome.Node:
    """Initialise HOME (test keys funded) and start app + cometbft on free ports."""
    return ChainStack(home, **params).start().node


@pytest.fixture
def chain_node(tmp_path) -> Iterator[nodehome.Node]:
    # The factories' proofs bill 12.5 s for 31 tokens: a per-token ceiling that lets them be paid in full.
    node = start_chain(tmp_path / "node", pending_timeout_s=4, job_timeout_s=30, max_ms_per_token=1_000)
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def rpc(chain_node) -> Iterator[ChainRPC]:
    client = ChainRPC(chain_node.rpc)
    yield client
    client.close()
