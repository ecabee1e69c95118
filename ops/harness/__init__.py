"""One process harness for tests, benchmarks and scripts: start the marketplace's
processes on free ports, drive them, and stop everything that was started.

- `chain`: a single-node chain (our app + cometbft) with the factory keys funded.
- `services`: the coordinator and miner daemons as restartable subprocesses.
- `hand_miner`: a miner endpoint driven by hand (signed calls, pushed assignments).
- `stub_http`: a tiny JSON HTTP server for stand-ins (Ollama, a coordinator, ...).
- `ollama`: a real Ollama serving the generated tiny model.
- `gateway`: `aitbc gateway` (the OpenAI-compatible API) as its own process.
- `marketplace`: an N-validator testnet + Ollama + coordinator + miners, with faults.
- `direct_market`: the same testnet with miners that need no coordinator (direct jobs), and
  two coordinators on demand.
- `load`: a background load of jobs and transfers, and the books to check it.
- `polling`: waiting for a condition.

The single-node pieces are importable from here; `gateway`, `marketplace`, `direct_market` and `load`
by module.

Nothing here imports pytest: fixtures wrap these classes in tests/conftest.py.
"""

from aitbc.ops.harness.polling import indexed_tx, wait_for
from aitbc.ops.harness.stub_http import StubRequest, StubServer
from aitbc.ops.harness.chain import MODEL, STAKE, ChainStack
from aitbc.ops.harness.services import (
    ADMIN_API_KEY, CLIENT_API_KEY, OTHER_CLIENT_API_KEY, ROOT, CoordinatorProcess, MinerProcess, Service,
)
from aitbc.ops.harness.hand_miner import HandMiner
from aitbc.ops.harness.ollama import serve_model, tiny_model_file

__all__ = [
    "ADMIN_API_KEY", "CLIENT_API_KEY", "MODEL", "OTHER_CLIENT_API_KEY", "ROOT", "STAKE", "ChainStack",
    "CoordinatorProcess", "HandMiner", "MinerProcess", "Service", "StubRequest", "StubServer", "serve_model",
    "tiny_model_file", "wait_for", "indexed_tx",
]
