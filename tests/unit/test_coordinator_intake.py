"""The coordinator's intake and early results, in process: batched broadcasts keep one signer's
order, the store's transaction and deferred 'sent' marks, the released result with its receipt
pending (API view and CLI text)."""

from __future__ import annotations

import asyncio
import base64
import json
import sqlite3
from datetime import datetime, timezone

import pytest
from prometheus_client import CollectorRegistry, Histogram

from aitbc import tx as txlib
from aitbc.api.coordinator_models import JobPublic
from aitbc.cli.jobs.text import job_text
from aitbc.coordinator import job_state
from aitbc.coordinator.broadcasts import Broadcasts
from aitbc.coordinator.group_commit import GroupCommit
from aitbc.coordinator.http.views import job_public
from aitbc.coordinator.store import Store
from aitbc.ops.factories import CHAIN_ID, KEYS
from aitbc.rpc import BroadcastResult, RPCError
from tests.unit.store_faults import failing_commits


class BatchRPC:
    """broadcast_many that records each batch and answers after a moment (like a node)."""

    def __init__(self, max_batch: int = 10):
        self.batches: list[list[bytes]] = []
        self.max_batch = max_batch

    async def broadcast_many(self, txs: list[bytes]) -> list[BroadcastResult | RPCError]:
        if len(txs) > self.max_batch:
            raise RPCError(f"batch request exceeds maximum ({self.max_batch}) allowed number of requests")
        self.batches.append(list(txs))
        await asyncio.sleep(0.01)
        return [BroadcastResult(txlib.tx_hash(tx), 0, "") for tx in txs]


def transfers(name: str, count: int) -> list[bytes]:
    return [txlib.build(KEYS[name], CHAIN_ID, nonce, "transfer", to=KEYS["miner1"].address, amount=1)
            for nonce in range(count)]


def test_broadcasts_batch_each_signers_txs_in_order():
    rpc = BatchRPC()
    alice, carol = transfers("alice", 25), transfers("bob", 7)

    async def send_all():
        broadcasts = Broadcasts(rpc, batch=10)
        return await asyncio.gather(*(broadcasts.send(tx) for tx in alice + carol))

    results = asyncio.run(send_all())
    assert [r.hash for r in results] == [txlib.tx_hash(tx) for tx in alice + carol] and all(r.ok for r in results)
    assert all(len(batch) <= 10 for batch in rpc.batches) and len(rpc.batches) < len(alice) + len(carol)
    # one signer per batch: different signers' txs go side by side, not one after another
    assert all(all(tx in alice for tx in batch) or all(tx in carol for tx in batch) for batch in rpc.batches)
    sent = [tx for batch in rpc.batches for tx in batch]
    assert [tx for tx in sent if tx in alice] == alice and [tx for tx in sent if tx in carol] == carol


def test_a_node_refusing_the_batch_size_gets_smaller_batches():
    rpc = BatchRPC(max_batch=3)

    async def send_all():
        broadcasts = Broadcasts(rpc, batch=10)
        return broadcasts, await asyncio.gather(*(broadcasts.send(tx) for tx in transfers("alice", 12)))

    broadcasts, results = asyncio.run(send_all())
    assert all(r.ok for r in results) and broadcasts.batch <= 3
    assert [tx for batch in rpc.batches for tx in batch] == transfers("alice", 12)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "c.db")
    yield s
    s.close()


def new_job(store, job_id="job_1", status="stored"):
    with store.transaction():
        job = job_state.insert_pending(store, id=job_id, api_key_hash="h", client="c", type="inference",
                                       model="m", prompt="p", options="{}", max_reward=7, signed_tx=b"",
                                       tx_hash=f"T{job_id}")
        store.add_tx(f"T{job_id}", job_id, "submit_job", b"raw", status)
    return job


def test_a_transaction_keeps_the_job_and_its_tx_together(store):
    new_job(store)
    with pytest.raises(sqlite3.IntegrityError):
        new_job(store)  # the same job again: neither row is written twice
    assert store.get_tx("Tjob_1").status == "stored" and len(store.txs_in_flight()) == 1


def job_write(store, job_id):
    def write():
        job = job_state.insert_pending(store, id=job_id, api_key_hash="h", client="c", type="inference",
                                       model="m", prompt="p", options="{}", max_reward=7, signed_tx=b"",
                                       tx_hash=f"T{job_id}")
        store.add_tx(f"T{job_id}", job_id, "submit_job", b"raw", "stored")
        return job
    return write


def test_writes_of_one_moment_share_a_commit_and_a_failed_one_is_undone_alone(store):
    new_job(store, "job_taken")
    writes = GroupCommit(store)

    async def submit_all():
        return await asyncio.gather(*(writes.run(job_write(store, job_id))
                                      for job_id in ("job_a", "job_taken", "job_b")), return_exceptions=True)

    a, taken, b = asyncio.run(submit_all())
    assert (a.id, b.id) == ("job_a", "job_b") and isinstance(taken, sqlite3.IntegrityError)
    assert (writes.commits, writes.writes) == (1, 3)
    assert {t.hash for t in store.txs_in_flight()} == {"Tjob_taken", "Tjob_a", "Tjob_b"}
    # The failed write's tx row (written before its job row failed) went with it: the one
    # there is the first job's.
    assert store.get_tx("Tjob_taken").status == "stored" and store.get_job("job_taken").prompt == "p"


def test_each_committed_write_observes_how_long_it_waited(store):
    waited = Histogram("waited_seconds", "", registry=CollectorRegistry())
    writes = GroupCommit(store, waited)

    async def submit_all():
        return await asyncio.gather(*(writes.run(job_write(store, job_id)) for job_id in ("job_a", "job_b")))

    asyncio.run(submit_all())
    samples = {s.name: s.value for s in waited.collect()[0].samples}
    assert samples["waited_seconds_count"] == 2 and 0 < samples["waited_seconds_sum"] < 5


def test_a_write_whose_caller_gave_up_before_the_commit_is_not_made(store):
    writes = GroupCommit(store)

    async def give_up():
        waiting = asyncio.ensure_future(writes.run(job_write(store, "job_gone")))
        kept = asyncio.ensure_future(writes.run(job_write(store, "job_kept")))
        await asyncio.sleep(0)  # both are waiting for the commit
        waiting.cancel()
        return await kept

    assert asyncio.run(give_up()).id == "job_kept"
    assert store.get_job("job_gone") is None and store.get_job("job_kept") is not None


def test_a_failed_commit_reaches_every_writer_and_keeps_nothing(store, monkeypatch):
    writes = GroupCommit(store)
    monkeypatch.setattr(store, "transaction", failing_commits(store))

    async def both():
        return await asyncio.gather(*(writes.run(job_write(store, job_id)) for job_id in ("job_x", "job_y")),
                                    return_exceptions=True)

    assert [type(e) for e in asyncio.run(both())] == [sqlite3.OperationalError] * 2
    assert store.get_job("job_x") is None and store.get_job("job_y") is None and writes.commits == 0


def test_a_deferred_sent_mark_is_seen_by_every_reader_and_survives_close(store, tmp_path):
    new_job(store)
    store.mark_sent("Tjob_1", 5.0)
    assert store.sent_tx_ages() == [("Tjob_1", 5.0, "submit_job")] and store.txs_with_status("stored") == []
    new_job(store, "job_2")
    store.mark_sent("Tjob_2", 6.0)
    store.close()
    again = Store(tmp_path / "c.db")
    try:
        assert {t.hash: t.status for t in again.txs_in_flight()} == {"Tjob_1": "sent", "Tjob_2": "sent"}
    finally:
        again.close()


def test_an_older_db_gets_the_released_at_column(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE jobs (id TEXT PRIMARY KEY, api_key_hash TEXT NOT NULL, client TEXT NOT NULL, "
               "type TEXT NOT NULL, model TEXT NOT NULL, prompt TEXT NOT NULL, options TEXT NOT NULL, "
               "max_reward INTEGER NOT NULL, signed_tx BLOB NOT NULL, tx_hash TEXT NOT NULL, status TEXT NOT NULL, "
               "miner TEXT, result TEXT, result_hash TEXT, metrics TEXT, proof BLOB, proof_signature BLOB, "
               "receipt_id TEXT, amount_paid INTEGER, refund INTEGER, block_height INTEGER, error TEXT, "
               "submitted_at REAL NOT NULL, assigned_at REAL, started_at REAL, completed_at REAL, "
               "needs_reconcile INTEGER NOT NULL DEFAULT 0, needs_push INTEGER NOT NULL DEFAULT 0)")
    db.commit()
    db.close()
    store = Store(path)
    try:
        job_state.mark_released(store, new_job(store).id)
        assert store.get_job("job_1").released_at is not None
    finally:
        store.close()


def released_job(store):
    job = new_job(store)
    job_state.mark_assigned(store, store.get_job(job.id), "miner1")
    job_state.keep_result(store, store.get_job(job.id), "the answer", "ab" * 32, json.dumps({"compute_time": 1.0,
                          "tokens_generated": 3}), b"proof", b"sig")
    return store.get_job(job.id)


def test_a_result_is_shown_only_once_released_and_marked_pending_until_its_receipt(store):
    kept = released_job(store)
    assert job_public(kept).result is None  # kept, but its receipt has not passed CheckTx yet
    job_state.mark_released(store, kept.id)
    shown = job_public(store.get_job(kept.id))
    assert (shown.result, shown.receipt_pending, shown.receipt_id) == ("the answer", True, None)
    job_state.mark_completed(store, store.get_job(kept.id), {"id": "rcpt_1", "amount_paid": 5, "refund": 2,
                                                             "block_height": 9, "miner": "miner1"})
    done = job_public(store.get_job(kept.id))
    assert (done.result, done.receipt_pending, done.receipt_id) == ("the answer", False, "rcpt_1")


def test_a_refused_receipt_withdraws_the_result_and_a_failed_job_shows_none(store):
    kept = released_job(store)
    job_state.mark_released(store, kept.id)
    job_state.drop_result(store, kept.id)
    assert job_public(store.get_job(kept.id)).result is None
    kept = store.get_job(kept.id)
    job_state.keep_result(store, kept, "again", "cd" * 32, "{}", b"p", b"s")
    job_state.mark_released(store, kept.id)
    job_state.mark_failed(store, store.get_job(kept.id), "expired")
    assert job_public(store.get_job(kept.id)).result is None


def test_status_text_says_the_receipt_is_pending():
    now = datetime.now(timezone.utc)
    job = JobPublic(job_id="job_1", status="running", type="inference", model="m", client="c", result="hi",
                    result_hash="ab", receipt_pending=True, released_at=now, max_reward=7, submitted_at=now,
                    tx_hash="t")
    lines = job_text(job).splitlines()
    assert lines[:3] == ["Job ID: job_1", "Status: running", "Result: hi"]
    assert lines[3].startswith("Receipt: pending (") and not any(line.startswith("Cost") for line in lines)


class BlockChain:
    """The tracker's view of a node: blocks of tx outcomes, and a count of the calls it took."""

    def __init__(self):
        from aitbc.coordinator.chain import TxOutcome
        self.outcome = TxOutcome
        self.blocks: dict[int, dict[str, object]] = {}
        self.calls = {"block": 0, "tx": 0, "mempool": 0}

    def commit(self, *hashes: str, code: int = 0) -> None:
        height = len(self.blocks) + 1
        self.blocks[height] = {h: self.outcome(height, code, "") for h in hashes}

    async def head(self):
        return len(self.blocks), False

    async def block_outcomes(self, height):
        self.calls["block"] += 1
        return self.blocks.get(height)

    async def find_tx(self, tx_hash):
        self.calls["tx"] += 1
        return next((b[tx_hash] for b in self.blocks.values() if tx_hash in b), None)

    async def mempool_hashes(self):
        self.calls["mempool"] += 1
        return set(), True

    async def receipt(self, ident):
        return None


def test_the_tracker_reads_each_new_block_once_instead_of_asking_per_tx(store):
    import types

    from aitbc.coordinator import tracker
    from aitbc.coordinator.metrics import Metrics
    from aitbc.coordinator.settings import CoordinatorSettings

    chain = BlockChain()
    coord = types.SimpleNamespace(store=store, chain=chain, followed_height=None, metrics=Metrics(), sender=None,
                                  settings=CoordinatorSettings(data_dir=store.path.parent, tx_lost_after_s=15),
                                  lock=lambda job_id: asyncio.Lock())
    for i in range(30):
        new_job(store, f"job_{i}")
        store.mark_sent(f"Tjob_{i}", 1e12)  # seen "in the future": never judged lost here
    asyncio.run(tracker.track(coord))  # no earlier pass: asked per tx once, none in a block yet
    assert chain.calls["tx"] == 30 and coord.followed_height == 0
    chain.commit(*(f"Tjob_{i}" for i in range(20)))
    chain.commit(*(f"Tjob_{i}" for i in range(20, 29)), code=7)
    asyncio.run(tracker.track(coord))
    assert chain.calls == {"block": 2, "tx": 30, "mempool": 0} and coord.followed_height == 2
    states = {t.hash: t.status for t in (store.get_tx(f"Tjob_{i}") for i in range(30))}
    assert [states[f"Tjob_{i}"] for i in (0, 19, 20, 28, 29)] == ["committed", "committed", "failed", "failed",
                                                                   "sent"]


class QueryLagRPC:
    """A node whose app has committed up to `committed` while CometBFT already holds the
    results of later blocks (it stores them before it asks the app to commit)."""

    def __init__(self, committed: int, block_txs: list[bytes]):
        self.committed, self.block_txs = committed, block_txs
        self.asked: list[str] = []

    async def call_batch(self, calls):
        self.asked.extend(method for method, _ in calls)
        block = {"block": {"data": {"txs": [base64.b64encode(raw).decode() for raw in self.block_txs]}}}
        query = {"response": {"code": 6, "log": "not kept", "height": str(self.committed)}}
        return [block, query]

    async def call(self, method, **params):
        self.asked.append(method)
        assert method == "block_results"
        return {"txs_results": [{"code": 0, "log": ""} for _ in self.block_txs]}


def test_a_block_the_app_has_not_committed_yet_is_read_later():
    from aitbc.coordinator.chain import Chain

    block_txs = [b"tx one", b"tx two"]
    lagging = QueryLagRPC(committed=4, block_txs=block_txs)
    assert asyncio.run(Chain(lagging).block_outcomes(5)) is None  # not block_results, which the node has
    assert lagging.asked == ["block", "abci_query"]
    # A height the app committed but no longer keeps (it restarted since): block_results.
    restarted = QueryLagRPC(committed=9, block_txs=block_txs)
    outcomes = asyncio.run(Chain(restarted).block_outcomes(5))
    assert set(outcomes) == {txlib.tx_hash(raw) for raw in block_txs} and restarted.asked[-1] == "block_results"


def test_a_job_whose_submit_tx_is_in_a_block_is_not_failed_for_a_lagging_query(store):
    import types

    from aitbc.coordinator import lifecycle
    from aitbc.coordinator.metrics import Metrics

    async def no_job(job_id):
        return None  # the app's committed state is the one before the block

    job = new_job(store, "job_1", status="committed")
    coord = types.SimpleNamespace(store=store, chain=types.SimpleNamespace(job=no_job), metrics=Metrics())
    asyncio.run(lifecycle.reconcile(coord, job))
    again = store.get_job("job_1")
    assert again.status == "pending" and again.needs_reconcile == 1  # asked again next tick
    # A submit tx the chain refused or lost is different: nothing was locked, the job failed.
    lost = new_job(store, "job_2", status="lost")
    asyncio.run(lifecycle.reconcile(coord, lost))
    assert store.get_job("job_2").status == "failed"
