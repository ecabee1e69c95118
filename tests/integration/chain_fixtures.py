"""A real single-node chain (cometbft + our app) on free ports, for tests."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import pytest

from aitbc import nodehome, procs
from aitbc.rpc import ChainRPC
from tests.factories import CHAIN_ID, KEYS


def start_chain(home: Path, **params: int) -> nodehome.Node:
    """Initialise HOME (test keys funded) and start app + cometbft on free ports."""
    ports = nodehome.Ports(rpc=procs.free_port(), p2p=procs.free_port(), abci=procs.free_port())
    nodehome.init_home(home, CHAIN_ID, ports, dict(KEYS), params=params or None, balance=1_000_000_000)
    node = nodehome.Node(home).start()
    node.wait_for_height(1)
    return node


def wait_for(check, timeout: float = 30, what: str = "condition"):
    """Poll `check` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(f"{what} not reached in {timeout} s")


@pytest.fixture
def chain_node(tmp_path) -> Iterator[nodehome.Node]:
    node = start_chain(tmp_path / "node", pending_timeout_s=4, job_timeout_s=30)
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def rpc(chain_node) -> Iterator[ChainRPC]:
    client = ChainRPC(chain_node.rpc)
    yield client
    client.close()
