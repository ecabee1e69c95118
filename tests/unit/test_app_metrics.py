"""The ABCI app's own metrics, counted in process: txs by type and code, CheckTx
refusals, jobs by status, escrow, state size kept in step with the store."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from aitbc.abci_app.app import Application
from aitbc.abci_app.metrics import StateTally
from aitbc.abci_app.store import LevelDBStore
from aitbc.ops.factories import KEYS, Signer, receipt_fields, register_fields, submit_fields
from aitbc.pb.tendermint.abci import types_pb2 as abci
from tests.unit.test_app import block, init


@pytest.fixture
def app(tmp_path):
    store = LevelDBStore(str(tmp_path / "db"))
    application = Application(store)
    yield application
    store.close()


def samples(app: Application) -> dict[tuple[str, tuple], float]:
    """Every sample the app's /metrics would serve, by (name, sorted labels)."""
    text = generate_latest(app.metrics.registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def fresh_tally(app: Application) -> StateTally:
    tally = StateTally()
    tally.recount(app.store)
    return tally


def test_a_block_of_txs_is_counted_by_type_and_code(app):
    signer = Signer()
    init(app)
    block(app, [signer.tx("miner1", "register_miner", **register_fields())])
    job_id = signer.next_job_id("alice")
    bob = KEYS["bob"].address
    txs = [signer.tx("alice", "submit_job", **submit_fields()),
           signer.tx("alice", "transfer", to=bob, amount=5),
           signer.tx("bob", "transfer", to=bob, amount=10**18),  # more than bob has: INSUFFICIENT_FUNDS
           b"not a tx"]
    block(app, txs)
    got = samples(app)
    assert got[("aitbc_app_txs_total", (("code", "OK"), ("type", "submit_job")))] == 1
    assert got[("aitbc_app_txs_total", (("code", "OK"), ("type", "transfer")))] == 1
    assert got[("aitbc_app_txs_total", (("code", "INSUFFICIENT_FUNDS"), ("type", "transfer")))] == 1
    assert got[("aitbc_app_txs_total", (("code", "TX_DECODE"), ("type", "undecodable")))] == 1
    assert got[("aitbc_app_txs_total", (("code", "OK"), ("type", "register_miner")))] == 1
    assert got[("aitbc_app_block_txs_count", ())] == 2
    assert got[("aitbc_app_block_txs_sum", ())] == 5
    assert got[("aitbc_app_finalize_block_seconds_count", ())] == 2
    assert got[("aitbc_app_height", ())] == 2
    assert got[("aitbc_app_jobs", (("status", "pending"),))] == 1
    locked = got[("aitbc_app_escrow_locked", ())]
    assert locked == submit_fields()["max_reward"]

    block(app, [signer.tx("coordinator", "assign_job", job_id=job_id, miner=KEYS["miner1"].address),
                signer.tx("coordinator", "record_receipt", **receipt_fields(job_id))])
    got = samples(app)
    assert got[("aitbc_app_jobs", (("status", "pending"),))] == 0
    assert got[("aitbc_app_jobs", (("status", "completed"),))] == 1
    assert got[("aitbc_app_escrow_locked", ())] == 0


def test_state_size_follows_each_commit_like_a_full_count(app):
    signer = Signer()
    init(app)
    for i in range(3):
        block(app, [signer.tx("alice", "submit_job", **submit_fields()),
                    signer.tx("alice", "transfer", to=KEYS["bob"].address, amount=i + 1)])
    counted, kept = fresh_tally(app), app.metrics.state
    assert (kept.keys, kept.bytes, kept.escrow_locked, +kept.jobs) == (
        counted.keys, counted.bytes, counted.escrow_locked, +counted.jobs)
    assert kept.keys > 0 and kept.jobs["pending"] == 3


def test_a_restarted_app_counts_the_stored_state(tmp_path):
    signer = Signer()
    store = LevelDBStore(str(tmp_path / "db"))
    app = Application(store)
    init(app)
    block(app, [signer.tx("alice", "submit_job", **submit_fields())])
    before = app.metrics.state
    store.close()
    store = LevelDBStore(str(tmp_path / "db"))
    try:
        again = Application(store)
        assert (again.metrics.state.keys, again.metrics.state.bytes, again.metrics.state.jobs) == (
            before.keys, before.bytes, before.jobs)
        assert again.metrics.height == 1
    finally:
        store.close()


def test_checktx_refusals_by_code_new_and_recheck(app):
    signer = Signer()
    init(app)
    block(app, [])
    stale = signer.tx("alice", "transfer", to=KEYS["bob"].address, amount=1)
    assert app.check_tx(abci.RequestCheckTx(tx=stale, type=abci.NEW)).code == 0
    block(app, [stale])  # now its nonce is used: a recheck and a resubmission both refuse it
    assert app.check_tx(abci.RequestCheckTx(tx=stale, type=abci.RECHECK)).code != 0
    assert app.check_tx(abci.RequestCheckTx(tx=stale, type=abci.NEW)).code != 0
    assert app.check_tx(abci.RequestCheckTx(tx=b"junk", type=abci.NEW)).code != 0
    got = samples(app)
    refused = {labels: v for (name, labels), v in got.items() if name == "aitbc_app_checktx_rejected_total"}
    assert refused == {(("check", "new"), ("code", "NONCE_TOO_LOW")): 1,
                       (("check", "recheck"), ("code", "NONCE_TOO_LOW")): 1,
                       (("check", "new"), ("code", "TX_DECODE")): 1}


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian's prometheus) not installed")
def test_promtool_accepts_the_exposition(app):
    signer = Signer()
    init(app)
    block(app, [signer.tx("alice", "submit_job", **submit_fields())])
    text = generate_latest(app.metrics.registry)
    checked = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True)
    assert checked.returncode == 0, (checked.stdout + checked.stderr).decode()
