"""In-process cost of FinalizeBlock per tx, for transfers and for job lifecycles.

The txs first go through CheckTx, as on a real node, so FinalizeBlock reuses the
verified signatures; `cold` skips that and pays for verification too.
Usage: python -m bench.finalize_block [--txs 2000] [--rounds 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

from google.protobuf.timestamp_pb2 import Timestamp

from abci_app.app import Application
from abci_app.store import LevelDBStore
from tendermint.abci import types_pb2 as abci
from tests.factories import CHAIN_ID, KEYS, Signer, genesis, receipt_fields, register_fields, submit_fields


def fresh_app(directory: str) -> Application:
    app = Application(LevelDBStore(directory))
    app.init_chain(abci.RequestInitChain(chain_id=CHAIN_ID, app_state_bytes=json.dumps(genesis().to_json()).encode(),
                                         time=Timestamp(seconds=1_700_000_000)))
    return app


def run_block(app: Application, txs: list[bytes], warm: bool) -> float:
    """Seconds spent in FinalizeBlock for `txs` (then committed)."""
    if warm:
        for raw in txs:
            app.check_tx(abci.RequestCheckTx(tx=raw))
    height = app.height + 1
    request = abci.RequestFinalizeBlock(txs=txs, height=height, time=Timestamp(seconds=1_700_000_000 + height))
    start = time.perf_counter()
    response = app.finalize_block(request)
    elapsed = time.perf_counter() - start
    assert all(r.code == 0 for r in response.tx_results), [r.log for r in response.tx_results if r.code][:3]
    app.commit(abci.RequestCommit())
    return elapsed


def transfers(signer: Signer, count: int) -> list[bytes]:
    return [signer.tx("alice", "transfer", to=KEYS["bob"].address, amount=1) for _ in range(count)]


def lifecycles(signer: Signer, count: int) -> tuple[list[bytes], list[bytes]]:
    """(submit txs, assign + receipt txs) for `count` jobs."""
    ids, submits = [], []
    for _ in range(count):
        ids.append(signer.next_job_id("alice"))
        submits.append(signer.tx("alice", "submit_job", **submit_fields(max_reward=1000)))
    rest = []
    for job_id in ids:
        rest.append(signer.tx("coordinator", "assign_job", job_id=job_id, miner=KEYS["miner1"].address))
        rest.append(signer.tx("coordinator", "record_receipt", **receipt_fields(job_id, compute_time_ms=10)))
    return submits, rest


def measure(txs: int, rounds: int) -> dict:
    out: dict[str, list[float]] = {"transfer_warm_us": [], "transfer_cold_us": [], "job_tx_warm_us": []}
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as directory:
            app, signer = fresh_app(directory), Signer()
            run_block(app, [], warm=True)
            out["transfer_warm_us"].append(run_block(app, transfers(signer, txs), warm=True) / txs * 1e6)
            out["transfer_cold_us"].append(run_block(app, transfers(signer, txs), warm=False) / txs * 1e6)
            run_block(app, [signer.tx("miner1", "register_miner", **{**register_fields(), "capacity": txs})], True)
            submits, rest = lifecycles(signer, txs // 3)
            elapsed = run_block(app, submits, warm=True) + run_block(app, rest, warm=True)
            out["job_tx_warm_us"].append(elapsed / (len(submits) + len(rest)) * 1e6)
            app.store.close()
    return {k: {"median": round(statistics.median(v), 1), "min": round(min(v), 1), "max": round(max(v), 1)}
            for k, v in out.items()} | {"txs_per_block": txs, "rounds": rounds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--txs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(measure(args.txs, args.rounds)))


if __name__ == "__main__":
    main()
