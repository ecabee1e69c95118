"""Does a big state slow blocks down? FinalizeBlock time for the same kind of
500-tx block with 2 000 jobs and with 100 000 jobs (and 10 000 miners) in state.

The big state is written straight into the LevelDB store (records encoded as
the state machine encodes them, then compacted), not run through consensus.
Both states hold the same open jobs that the measured blocks act on; the big
one adds completed jobs with their receipts and idle miners. Each round is one
block of 200 transfers, 100 submit_job, 100 assign_job (of pending jobs in
state) and 100 record_receipt (of assigned jobs in state), CheckTx'd first as
on a node; FinalizeBlock is timed, then Commit. The states are built first and their
blocks run in turns, so that each state meets the machine as the others do.
Memory: after the timed blocks, a process of its own opens the app on the same store
(as a node restarting on it) and runs RSS_BLOCKS more blocks of the same kind; its
resident set size (VmRSS, and the peak VmHWM) is what the app holds with that state.
Usage: python -m bench.state_size [--jobs 2000 100000] [--miners 10000] [--rounds 4]
(the smallest size is also measured with only 100 miners: the smallest state of all). Every
state must hold the open jobs its blocks act on: 200 per block, RSS_BLOCKS + rounds + 1 blocks.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from aitbc.abci_app import records, state as st
from aitbc.abci_app.app import Application
from aitbc.abci_app.records import Account, Job, Miner, Receipt, Supply
from aitbc.abci_app.store import LevelDBStore
from aitbc import tx as txlib
from aitbc.crypto import PrivateKey
from aitbc.pb.aitbc_pb import tx_pb2
from bench import env
from bench.finalize_block import T0, check, finalize, fresh_app, wallet
from aitbc.pb.tendermint.abci import types_pb2 as abci
from aitbc.ops.factories import CHAIN_ID, KEYS, SUBMIT_OPTIONS, Signer, submit_fields

NS = 1_000_000_000
RSS_BLOCKS = 3
MODEL = "aitbc-tiny"
PER_ROUND = {"transfer": 200, "submit_job": 100, "assign_job": 100, "record_receipt": 100}
PROMPT_HASH = hashlib.sha256(b"What is machine learning?").digest()


def miner_key(i: int) -> PrivateKey:
    return PrivateKey(hashlib.sha256(f"bench-miner:{i}".encode()).digest())


def _job(job_id: str, client: str, status: str, miner: str = "", height: int = 1) -> Job:
    open_ = status in ("pending", "assigned")
    return Job(id=job_id, client=client, job_type="inference", model=MODEL, prompt_hash=PROMPT_HASH.hex(),
               temperature_milli=0, seed=42, num_predict=16, max_reward=1000, status=status,
               submitted_height=height, submitted_time_ns=T0 * NS, deadline_ns=(T0 + 10 ** 6) * NS if open_ else 0,
               miner=miner, price_per_second=20_000 if miner else 0, assigned_height=height if miner else 0,
               finished_height=0 if open_ else height + 1, payment=0 if open_ else 200,
               refund=0 if open_ else 800, receipt_id="" if open_ else txlib.receipt_id_for(job_id))


def build_state(app: Application, jobs: int, miners: int, open_jobs: int) -> dict[str, Any]:
    """Write `jobs` jobs (the first `open_jobs` open: half pending, half assigned) and
    `miners` miners straight into the store. Returns what the blocks need."""
    keys = [miner_key(i) for i in range(miners)]
    changes: dict[bytes, bytes] = {}
    clients = [PrivateKey(hashlib.sha256(f"bench-client:{i}".encode()).digest()).address for i in range(100)]
    escrow = stake = 0
    pending, assigned = [], []
    active = [0] * miners
    for n in range(jobs):
        job_id = txlib.job_id_for(clients[n % len(clients)], n, CHAIN_ID)
        client = clients[n % len(clients)]
        if n < open_jobs // 2:
            job = _job(job_id, client, "pending")
            pending.append(job_id)
        elif n < open_jobs:
            m = n % miners
            job = _job(job_id, client, "assigned", keys[m].address)
            active[m] += 1
            assigned.append((job_id, m))
        else:
            job = _job(job_id, client, "completed", keys[n % miners].address)
            changes[f"rcpt/{job.receipt_id}".encode()] = records.encode(Receipt(
                id=job.receipt_id, job_id=job_id, client=client, miner=job.miner, model=MODEL,
                result_hash="00" * 32, compute_time_ms=10_000, tokens_generated=16, prompt_tokens=5,
                price_per_second=20_000, amount_paid=200, refund=800, block_height=2, block_time_ns=T0 * NS,
                proof="00" * 100, miner_signature="00" * 64, prompt_hash=PROMPT_HASH.hex(), seed=42, num_predict=16))
        changes[f"job/{job_id}".encode()] = records.encode(job)
        if job.is_open:
            changes[f"escrow/{job_id}".encode()] = b"1000"
            changes[st.deadline_key(job.deadline_ns, job_id)] = b""
            escrow += 1000
    for i, key in enumerate(keys):
        changes[f"miner/{key.address}".encode()] = records.encode(Miner(
            address=key.address, public_key=key.public_key.hex(), stake=100_000_000, models=(MODEL,),
            price_per_second=20_000, capacity=10_000, endpoint=f"http://127.0.0.1:{20000 + i % 1000}",
            active_jobs=active[i], registered_height=1))
        changes[f"acct/{key.address}".encode()] = records.encode(Account(balance=1_000_000))
        stake += 100_000_000
    supply = st.get_supply(app.check)
    changes[b"meta/supply"] = records.encode(Supply(total=supply.total + escrow + stake + miners * 1_000_000,
                                                    escrow=escrow, staked=stake))
    db = app.store._db  # the benchmark writes under the state machine on purpose
    items = sorted(changes.items())
    for start in range(0, len(items), 20_000):
        with db.write_batch() as batch:
            for key, value in items[start:start + 20_000]:
                batch.put(key, value)
    db.compact_range()
    records._DECODED.clear()  # as in a node started on this state: nothing decoded yet
    app.check_state.forget()
    return {"pending": pending, "assigned": assigned, "keys": keys, "records": len(changes)}


def round_txs(signer: Signer, built: dict[str, Any], r: int) -> list[bytes]:
    n = PER_ROUND
    txs = [signer.tx("alice", "transfer", to=KEYS["bob"].address, amount=1) for _ in range(n["transfer"])]
    txs += [signer.tx("bob", "submit_job", **submit_fields(max_reward=1000)) for _ in range(n["submit_job"])]
    for job_id in built["pending"][r * n["assign_job"]:(r + 1) * n["assign_job"]]:
        txs.append(signer.tx("coordinator", "assign_job", job_id=job_id, miner=built["keys"][0].address))
    for job_id, m in built["assigned"][r * n["record_receipt"]:(r + 1) * n["record_receipt"]]:
        key = built["keys"][m]
        proof = tx_pb2.ComputeProof(chain_id=CHAIN_ID, job_id=job_id, miner=key.address, model=MODEL,
                                    result_hash=hashlib.sha256(b"answer").digest(), compute_time_ms=10_000,
                                    tokens_generated=16, prompt_tokens=5, prompt_hash=PROMPT_HASH, model_digest="sha256:bench",
                                    options=tx_pb2.JobOptions(**SUBMIT_OPTIONS))
        data, signature = txlib.sign_proof(key, proof)
        txs.append(signer.tx("coordinator", "record_receipt", proof=data, miner_signature=signature))
    return txs


def open_jobs_needed(rounds: int) -> int:
    """Open jobs a state must hold: each block assigns pending ones and records receipts of assigned ones."""
    return 2 * (rounds + 1 + RSS_BLOCKS) * PER_ROUND["assign_job"]


def _prepare(jobs: int, miners: int, rounds: int, directory: str) -> dict[str, Any]:
    """A fresh app on `directory` holding `jobs` jobs and `miners` miners, and its blocks."""
    open_jobs = open_jobs_needed(rounds)
    if jobs < open_jobs:
        # A state short of open jobs gets blocks without their assigns and receipts: cheaper blocks,
        # not a smaller state (the 1 000-job state of earlier runs, ratio 1.6-2.1 for that reason).
        raise ValueError(f"{jobs} jobs cannot feed {rounds} rounds: every state needs at least {open_jobs}")
    app = fresh_app(directory)
    app.finalize_block(abci.RequestFinalizeBlock(height=1, time=finalize_time(1)))
    app.commit(abci.RequestCommit())
    t = time.perf_counter()
    built = build_state(app, jobs, miners, open_jobs)
    build_s = time.perf_counter() - t
    signer = wallet()
    blocks = [round_txs(signer, built, r) for r in range(rounds + 1 + RSS_BLOCKS)]
    return {"jobs": jobs, "miners": miners, "app": app, "directory": directory, "records": built["records"],
            "build_s": build_s, "blocks": blocks[:rounds + 1], "later": blocks[rounds + 1:], "times": [],
            "checks": []}


def _run_block(size: dict[str, Any], i: int) -> None:
    """CheckTx, then FinalizeBlock (timed) and Commit, of the state's block `i`."""
    app, txs = size["app"], size["blocks"][i]
    checked = check(app, txs) * 1000
    elapsed, response = finalize(app, txs)
    bad = [r.log for r in response.tx_results if r.code]
    assert not bad, bad[:3]
    app.commit(abci.RequestCommit())
    if i:  # the first block after loading warms LevelDB's and the OS's caches: not counted
        size["times"].append(elapsed * 1000)
        size["checks"].append(checked)


def _measured(size: dict[str, Any], scratch: Path) -> dict[str, Any]:
    return {"jobs": size["jobs"], "miners": size["miners"], "records_written": size["records"],
            "build_s": round(size["build_s"], 1), "finalize_ms": env.spread(size["times"], 2),
            "checktx_ms": env.spread(size["checks"], 2), "txs_per_block": len(size["blocks"][0]),
            "app_rss_mib": app_rss(size["directory"], size["later"], scratch)}


def app_rss(store_path: str, blocks: list[list[bytes]], scratch: Path) -> dict[str, float]:
    """The app's memory in a process of its own on the store at `store_path` (see the module doc)."""
    (scratch / "blocks.pickle").write_bytes(pickle.dumps(blocks))
    out = subprocess.run([env.python(), "-m", "bench.state_size", "--rss-probe", store_path, str(scratch)],
                         check=True, capture_output=True, text=True, cwd=env.ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _rss_probe(store_path: str, scratch: str) -> None:
    blocks = pickle.loads((Path(scratch) / "blocks.pickle").read_bytes())
    started = _status_mib("VmRSS")  # the interpreter and the modules, before any state
    app = Application(LevelDBStore(store_path))
    opened = _status_mib("VmRSS")
    for txs in blocks:
        check(app, txs)
        _, response = finalize(app, txs)
        assert not [r.log for r in response.tx_results if r.code]
        app.commit(abci.RequestCommit())
    print(json.dumps({"modules": started, "opened": opened, "after_blocks": _status_mib("VmRSS"),
                      "peak": _status_mib("VmHWM"), "blocks": len(blocks)}))


def finalize_time(height: int):
    from google.protobuf.timestamp_pb2 import Timestamp

    return Timestamp(seconds=T0 + height)


def measure(sizes: tuple[int, ...] = (2000, 100_000), miners: int = 10_000, rounds: int = 4) -> dict[str, Any]:
    """Every size with `miners` miners (the ratio: largest / smallest), and the smallest
    with only 100 miners as well (the ratio against the smallest state of all).

    All the states are built first and their blocks then run in turns (round r of each
    state, then round r + 1): this shared machine's speed drifts by tens of percent
    from one minute to the next, which a state measured after another would take for
    an effect of its size."""
    shapes = [(size, miners) for size in sizes] + [(min(sizes), min(miners, 100))]
    with tempfile.TemporaryDirectory(prefix="aitbc-bench-") as directory, \
            tempfile.TemporaryDirectory(prefix="aitbc-bench-") as scratch:
        prepared = []
        try:
            for n, (jobs, holders) in enumerate(shapes):
                prepared.append(_prepare(jobs, holders, rounds, f"{directory}/state{n}"))
            for i in range(rounds + 1):
                for size in prepared:
                    _run_block(size, i)
        finally:
            for size in prepared:
                size["app"].store.close()
        measured = [_measured(size, Path(scratch)) for size in prepared]
    runs, minimal = measured[:-1], measured[-1]
    big = runs[-1]["finalize_ms"]["median"]
    return {"settings": {"block": PER_ROUND, "rounds": rounds, "store": "LevelDB (plyvel), compacted after loading",
                         "order": "states built first, then their blocks in turns"},
            "runs": runs, "minimal": minimal, "ratio": round(big / runs[0]["finalize_ms"]["median"], 3),
            "ratio_vs_minimal": round(big / minimal["finalize_ms"]["median"], 3), "target_ratio": 1.3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, nargs="+", default=[2000, 100_000])
    parser.add_argument("--miners", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--rss-probe", nargs=2, metavar=("STORE", "SCRATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_probe:
        _rss_probe(*args.rss_probe)
        return
    print(json.dumps(measure(tuple(args.jobs), args.miners, args.rounds)))


if __name__ == "__main__":
    main()
