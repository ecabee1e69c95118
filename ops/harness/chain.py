"""A single-node chain (our app + a real cometbft) on free ports, the factory keys funded."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from aitbc import tx as txlib
from aitbc.api.coordinator_client import sign_job
from aitbc.api.coordinator_models import JobCreate, JobOptions
from aitbc.ops import nodehome, procs
from aitbc.ops.factories import CHAIN_ID, KEYS
from aitbc.rpc import BroadcastResult, ChainRPC, QueryFailed

MODEL = "aitbc-tiny"
STAKE = 100_000_000          # the chain's default minimum stake (100 AITBC)


class ChainStack:
    """A single-node chain with the factory keys funded; `params` override genesis parameters,
    `timeout_commit` (e.g. "250ms") the block time of the cometbft config."""

    def __init__(self, home: Path, timeout_commit: str | None = None, **params: int):
        self.home = home
        self.params = params
        self.timeout_commit = timeout_commit
        self.node: nodehome.Node | None = None
        self.rpc: ChainRPC | None = None

    def start(self) -> "ChainStack":
        ports = nodehome.Ports(rpc=procs.free_port(), p2p=procs.free_port(), abci=procs.free_port())
        nodehome.init_home(self.home, CHAIN_ID, ports, dict(KEYS), params=self.params or None,
                           balance=1_000_000_000)
        if self.timeout_commit is not None:
            config = self.home / "cometbft" / "config" / "config.toml"
            config.write_text(nodehome.set_toml(config.read_text(), "consensus", "timeout_commit",
                                                json.dumps(self.timeout_commit)))
        self.node = nodehome.Node(self.home, python=sys.executable)
        try:
            self.node.start()
            self.node.wait_for_height(1)
        except BaseException:
            self.node.stop()
            raise
        self.rpc = ChainRPC(self.node.rpc)
        return self

    def stop(self) -> None:
        if self.rpc is not None:
            self.rpc.close()
        if self.node is not None:
            self.node.stop()

    @property
    def url(self) -> str:
        assert self.node is not None
        return self.node.rpc

    def next_nonce(self, name: str) -> int:
        return int(self.rpc.query(f"/nonce/{KEYS[name].address}")["nonce"])

    def send(self, name: str, kind: str, **fields: Any) -> BroadcastResult:
        """Sign as `name` and wait until the tx is in a block."""
        raw = txlib.build(KEYS[name], CHAIN_ID, self.next_nonce(name), kind, **fields)
        return self.rpc.broadcast(raw, "commit")

    def balance(self, name: str) -> int:
        return int(self.rpc.query(f"/account/{KEYS[name].address}")["balance"])

    def job(self, job_id: str) -> dict[str, Any] | None:
        """The committed job, or None while it is not in a block yet."""
        try:
            return self.rpc.query(f"/job/{job_id}")
        except QueryFailed:
            return None

    def register_miner(self, name: str, endpoint: str, models=(MODEL,), capacity: int = 2,
                       stake: int = STAKE) -> None:
        result = self.send(name, "register_miner", stake=stake, models=list(models), price_per_second=20_000,
                           capacity=capacity, endpoint=endpoint)
        assert result.ok, result.log

    def sign_job(self, name: str, prompt: str = "What is machine learning?", model: str = MODEL,
                 max_reward: int = 1_000_000, options: JobOptions | None = None) -> JobCreate:
        return sign_job(KEYS[name], CHAIN_ID, self.next_nonce(name), prompt, model, max_reward, options)
