"""`aitbc gateway` as its own process, paying with the factory key alice from its own AITBC_HOME."""

from __future__ import annotations

import sys
from pathlib import Path

from aitbc.keyring import Keyring
from aitbc.ops import procs
from aitbc.ops.factories import KEYS
from aitbc.ops.harness.chain import ChainStack
from aitbc.ops.harness.services import CLIENT_API_KEY, ROOT, CoordinatorProcess, Service


class GatewayProcess(Service):
    """Under `root`: home/ (the keyring holding alice) and gateway.out."""

    def __init__(self, root: Path, chain: ChainStack, coordinator: CoordinatorProcess, key: str = "alice",
                 extra_args: tuple[str, ...] = ()):
        self.port = procs.free_port()
        home = root / "home"
        Keyring(home / "keys").add(key, KEYS[key])
        cmd = [sys.executable, "-m", "aitbc.cli.main", "gateway", "--port", str(self.port), "--key", key,
               *extra_args]
        env = {"AITBC_HOME": str(home), "AITBC_URL": coordinator.url, "AITBC_API_KEY": CLIENT_API_KEY,
               "AITBC_NODE": chain.url, "PYTHONPATH": str(ROOT)}
        super().__init__("gateway", cmd, env, root / "gateway.out", f"{self.url}/health")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
