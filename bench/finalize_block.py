"""App cost per tx, in process (no socket, no node): FinalizeBlock time per tx for
transfers and for the txs of job lifecycles, CheckTx and RECHECK cost, and how
often signatures are verified along the whole ABCI path of one node.

Transfers meet the app as on a node that proposes its own blocks: two blocks'
worth pass CheckTx, a block takes the first half (`warm`: as CheckTx applied
them, see abci_app/check_state.py), and the second half is rechecked (confirmed
without running). Then the paths of a block made elsewhere: RECHECK running each
tx again, and FinalizeBlock running txs whose signatures CheckTx verified
(`run`); `cold` pays for verification in FinalizeBlock too; `warm_reordered` is a
block of four senders' transfers in another order than CheckTx saw them (taken by
the values they read, see Replay). Every tx pays the
chain's default fee, so the supply record is written as on a real chain.
Times are CPU time of the process (`time.process_time`), µs per tx.
The state is LevelDB in a temporary directory, as on a node.
Usage: python -m bench.finalize_block [--txs 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from aitbc.abci_app.app import Application
from aitbc.abci_app.store import LevelDBStore
from aitbc import crypto
from bench import env
from aitbc.pb.tendermint.abci import types_pb2 as abci
from aitbc.abci_app.records import Params
from aitbc.ops.factories import CHAIN_ID, KEYS, PARAMS, Signer, genesis, receipt_fields, register_fields, submit_fields

T0 = 1_700_000_000
clock = time.process_time  # CPU seconds: what the app's core spends, less sensitive to a busy machine


def wallet() -> Signer:
    """A signer that pays the chain's default fee rule, which `fresh_app` sets."""
    return Signer(fee=None)


def fresh_app(directory: str) -> Application:
    app = Application(LevelDBStore(directory))
    # One miner takes a whole block of jobs here: more capacity than a real chain allows.
    # Fees as on a real chain (the test factories' PARAMS charge none).
    params = replace(PARAMS, max_capacity=1_000_000, min_fee=Params().min_fee, fee_per_byte=Params().fee_per_byte)
    app.init_chain(abci.RequestInitChain(chain_id=CHAIN_ID, app_state_bytes=json.dumps(genesis(params).to_json()).encode(),
                                         time=Timestamp(seconds=T0)))
    _collector_as_in_a_node()
    return app


def _collector_as_in_a_node() -> None:
    """The garbage collector as the app's process sets it after start-up; an app from before
    aitbc/collector.py (bench/baseline.py) keeps CPython's defaults, as its node did."""
    try:
        from aitbc import collector  # noqa: PLC0415
    except ImportError:
        return
    collector.tune()


# New txs reach CheckTx in batches as the socket server reads them (abci_app/server.py): 62
# signatures per batch on average under the saturation benchmark (its signatures_per_batch).
CHECKTX_BATCH = 64


def check(app: Application, txs: list[bytes], recheck: bool = False, batch: int = 1) -> float:
    """CPU seconds of CheckTx (or RECHECK) of `txs`, one at a time or `batch` per check_tx_batch."""
    if batch > 1 and hasattr(app, "check_tx_batch"):  # an app from before batches has none
        requests = [(raw, recheck) for raw in txs]
        start = clock()
        answers = [a for i in range(0, len(requests), batch) for a in app.check_tx_batch(requests[i:i + batch])]
        elapsed = clock() - start
        assert answers == [b""] * len(txs), [abci.ResponseCheckTx.FromString(a).log for a in answers if a][:3]
        return elapsed
    kind = abci.RECHECK if recheck else abci.NEW
    requests = [abci.RequestCheckTx(tx=raw, type=kind) for raw in txs]
    start = clock()
    codes = [app.check_tx(r).code for r in requests]
    elapsed = clock() - start
    assert not any(codes), codes[:5]
    return elapsed


def finalize(app: Application, txs: list[bytes], height_offset: int = 0) -> tuple[float, abci.ResponseFinalizeBlock]:
    """CPU seconds of FinalizeBlock as the node's socket server asks for it, its answer
    serialized included; and the answer."""
    height = app.height + 1
    request = abci.RequestFinalizeBlock(txs=txs, height=height, time=Timestamp(seconds=T0 + height + height_offset))
    if hasattr(app, "serialized"):  # an app from before it (bench/baseline.py) has none
        start = clock()
        answer = app.serialized("finalize_block", request)
    else:
        start = clock()
        answer = app.finalize_block(request).SerializeToString()
    elapsed = clock() - start
    return elapsed, abci.ResponseFinalizeBlock.FromString(answer)


def run_block(app: Application, txs: list[bytes], warm: bool) -> float:
    """Seconds spent in FinalizeBlock for `txs` (then committed)."""
    if warm:
        check(app, txs)
    return finalize_ok(app, txs)


def finalize_ok(app: Application, txs: list[bytes]) -> float:
    """Seconds spent in FinalizeBlock for `txs`, every one of which must succeed; then Commit."""
    elapsed, response = finalize(app, txs)
    assert all(r.code == 0 for r in response.tx_results), [r.log for r in response.tx_results if r.code][:3]
    app.commit(abci.RequestCommit())
    return elapsed


def transfers(signer: Signer, count: int) -> list[bytes]:
    return [signer.tx("alice", "transfer", to=KEYS["bob"].address, amount=1) for _ in range(count)]


def interleaved_transfers(signer: Signer, count: int) -> tuple[list[bytes], list[bytes]]:
    """`count` transfers from four senders to a fifth, in the order CheckTx sees them (the senders
    in turn) and in the order a proposer put them in (sender after sender, each one's in nonce order)."""
    senders = ("alice", "bob", "coordinator", "miner1")
    rows = {name: [] for name in senders}
    checked = []
    for i in range(count):
        name = senders[i % len(senders)]
        raw = signer.tx(name, "transfer", to=KEYS["miner2"].address, amount=1)
        rows[name].append(raw)
        checked.append(raw)
    return checked, [raw for name in senders for raw in rows[name]]


def lifecycles(signer: Signer, count: int) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """(submit_job, assign_job, record_receipt) txs for `count` jobs."""
    ids, submits = [], []
    for _ in range(count):
        ids.append(signer.next_job_id("alice"))
        submits.append(signer.tx("alice", "submit_job", **submit_fields(max_reward=1000)))
    assigns = [signer.tx("coordinator", "assign_job", job_id=j, miner=KEYS["miner1"].address) for j in ids]
    receipts = [signer.tx("coordinator", "record_receipt", **receipt_fields(j, compute_time_ms=10)) for j in ids]
    return submits, assigns, receipts


def one_round(txs: int, checktx_batch: int = CHECKTX_BATCH) -> dict[str, float]:
    """µs per tx of every measured step, on a fresh LevelDB state."""
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="aitbc-bench-") as directory:
        app, signer = fresh_app(directory), wallet()
        try:
            run_block(app, [], warm=True)
            pool = transfers(signer, 2 * txs)  # the mempool: two blocks' worth
            first, second = pool[:txs], pool[txs:]
            out["transfer_checktx_us"] = check(app, pool, batch=checktx_batch) / len(pool) * 1e6
            out["transfer_warm_us"] = finalize_ok(app, first) / txs * 1e6
            out["transfer_recheck_us"] = check(app, second, recheck=True) / txs * 1e6
            app.check_state.forget()  # as after a block made elsewhere: each RECHECK runs its tx
            out["transfer_recheck_rerun_us"] = check(app, second, recheck=True) / txs * 1e6
            app.check_state.forget()  # a block made elsewhere, of txs this node has verified
            out["transfer_run_us"] = finalize_ok(app, second) / txs * 1e6
            out["transfer_cold_us"] = run_block(app, transfers(signer, txs), warm=False) / txs * 1e6
            checked, proposed = interleaved_transfers(signer, txs)
            check(app, checked, batch=checktx_batch)
            out["transfer_warm_reordered_us"] = finalize_ok(app, proposed) / txs * 1e6
            run_block(app, [signer.tx("miner1", "register_miner", **{**register_fields(), "capacity": txs})], True)
            submits, assigns, receipts = lifecycles(signer, max(1, txs // 3))
            times = {kind: run_block(app, block, warm=True) / len(block) * 1e6
                     for kind, block in (("submit_job", submits), ("assign_job", assigns),
                                         ("record_receipt", receipts))}
            out.update({f"{kind}_warm_us": t for kind, t in times.items()})
            out["job_tx_warm_us"] = sum(times.values()) / 3
            # Last, as it leaves txs in the mempool: CheckTx one tx at a time (a lone submission).
            out["transfer_checktx_single_us"] = check(app, transfers(signer, txs)) / txs * 1e6
        finally:
            app.store.close()
    return out


def count_verifications(jobs: int = 20, transfers_per_block: int = 50) -> dict[str, Any]:
    """Drive one node's whole ABCI path (CheckTx, PrepareProposal, ProcessProposal,
    FinalizeBlock, Commit, RECHECK of what is left) and count the signatures crypto.verify_many
    checked against the signatures there are (one per tx, plus one per miner proof)."""
    calls = 0
    real_verify = crypto.verify_many

    def counting(items: Any) -> list[bool]:
        nonlocal calls
        calls += len(items)
        return real_verify(items)

    signatures = 0
    with tempfile.TemporaryDirectory(prefix="aitbc-bench-") as directory:
        app, signer = fresh_app(directory), wallet()
        run_block(app, [signer.tx("miner1", "register_miner", **{**register_fields(), "capacity": jobs})], True)
        submits, assigns, receipts = lifecycles(signer, jobs)
        pays = transfers(signer, 2 * transfers_per_block)
        crypto.verify_many = counting
        try:
            # Two blocks per stage: the second half of each stage waits in the
            # mempool through the first block's Commit and is rechecked.
            for stage in (submits, assigns, receipts, pays):
                half = len(stage) // 2
                for raw in stage:
                    assert app.check_tx(abci.RequestCheckTx(tx=raw)).code == 0
                for block, left in ((stage[:half], stage[half:]), (stage[half:], [])):
                    proposal = app.prepare_proposal(abci.RequestPrepareProposal(txs=block, max_tx_bytes=1 << 22)).txs
                    status = app.process_proposal(abci.RequestProcessProposal(txs=list(proposal))).status
                    assert status == abci.ResponseProcessProposal.ACCEPT
                    _, response = finalize(app, list(proposal))
                    assert all(r.code == 0 for r in response.tx_results), [r.log for r in response.tx_results][:3]
                    app.commit(abci.RequestCommit())
                    for raw in left:
                        assert app.check_tx(abci.RequestCheckTx(tx=raw, type=abci.RECHECK)).code == 0
                signatures += len(stage) + (len(stage) if stage is receipts else 0)
        finally:
            crypto.verify_many = real_verify
            app.store.close()
    return {"txs": len(submits) + len(assigns) + len(receipts) + len(pays), "signatures": signatures,
            "verify_calls": calls, "verifications_per_signature": round(calls / signatures, 3)}


def measure(txs: int = 2000, rounds: int = 5) -> dict[str, Any]:
    samples: dict[str, list[float]] = {}
    for _ in range(rounds):
        for key, value in one_round(txs).items():
            samples.setdefault(key, []).append(value)
    return {"settings": {"txs_per_block": txs, "rounds": rounds, "store": "LevelDB (plyvel), fresh per round",
                         "clock": "process CPU time", "fees": "the chain's default fee rule"},
            "us_per_tx": {key: env.spread(values) for key, values in samples.items()},
            "verification": count_verifications(), "target_transfer_us": 100, "checktx_batch": CHECKTX_BATCH}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--txs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(measure(args.txs, args.rounds)))


if __name__ == "__main__":
    main()
