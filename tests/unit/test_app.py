"""The ABCI application in process: CheckTx/FinalizeBlock/Commit/Info/Query on LevelDB."""

from __future__ import annotations

import json

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from aitbc.abci_app.app import Application
from aitbc.abci_app.store import LevelDBStore
from aitbc import crypto, tx as txlib
from aitbc.codes import Code
from aitbc.pb.tendermint.abci import types_pb2 as abci
from aitbc.ops.factories import BALANCE, CHAIN_ID, KEYS, Signer, genesis, receipt_fields, register_fields, submit_fields

GENESIS_TIME = 1_700_000_000


def init(app: Application) -> bytes:
    app_state = json.dumps(genesis().to_json()).encode()
    return app.init_chain(abci.RequestInitChain(chain_id=CHAIN_ID, app_state_bytes=app_state,
                                                time=Timestamp(seconds=GENESIS_TIME))).app_hash


def finalize(app: Application, txs: list[bytes], height: int | None = None, seconds: int = 1):
    height = height or app.height + 1
    return app.finalize_block(abci.RequestFinalizeBlock(
        txs=txs, height=height, time=Timestamp(seconds=GENESIS_TIME + height * seconds)))


def block(app: Application, txs: list[bytes]):
    response = finalize(app, txs)
    app.commit(abci.RequestCommit())
    return response


def query(app: Application, path: str):
    response = app.query(abci.RequestQuery(path=path))
    return response.code, json.loads(response.value) if response.value else response.log


@pytest.fixture
def app(tmp_path):
    store = LevelDBStore(str(tmp_path / "db"))
    application = Application(store)
    yield application
    store.close()


def test_lifecycle_through_abci(app):
    signer = Signer()
    assert init(app)
    block(app, [signer.tx("miner1", "register_miner", **register_fields())])
    job_id = signer.next_job_id("alice")
    result = block(app, [signer.tx("alice", "submit_job", **submit_fields())])
    assert [r.code for r in result.tx_results] == [0]
    events = {e.type: {a.key: (a.value, a.index) for a in e.attributes} for e in result.tx_results[0].events}
    assert events["job"]["id"] == (job_id, True)
    block(app, [signer.tx("coordinator", "assign_job", job_id=job_id, miner=KEYS["miner1"].address),
                signer.tx("coordinator", "record_receipt", **receipt_fields(job_id))])
    code, job = query(app, f"/job/{job_id}")
    assert code == 0 and job["status"] == "completed" and job["payment"] == 250_000
    code, receipt = query(app, f"/receipt/{job_id}")
    assert receipt["amount_paid"] == 250_000 and receipt["block_height"] == app.height
    assert query(app, "/supply")[1]["total"] == BALANCE * 5
    assert query(app, "/params")[1]["price_per_second"] == 20_000
    assert len(query(app, "/miners")[1]) == 1
    assert query(app, "/job/nope")[0] == Code.NOT_FOUND
    assert query(app, "/bogus")[0] == Code.UNKNOWN_QUERY


def test_restart_reports_last_commit_and_replays_to_the_same_hash(tmp_path):
    signer = Signer()
    txs = [signer.tx("alice", "transfer", to=KEYS["bob"].address, amount=i + 1) for i in range(3)]
    store = LevelDBStore(str(tmp_path / "db"))
    app = Application(store)
    init(app)
    block(app, txs[:1])
    block(app, txs[1:2])
    committed = (app.height, app.app_hash)
    uncommitted = finalize(app, txs[2:]).app_hash  # crash before Commit
    store.close()

    store = LevelDBStore(str(tmp_path / "db"))
    app = Application(store)
    info = app.info(abci.RequestInfo())
    assert (info.last_block_height, info.last_block_app_hash) == committed
    assert finalize(app, txs[2:]).app_hash == uncommitted  # CometBFT replays the block
    app.commit(abci.RequestCommit())
    assert query(app, f"/account/{KEYS['alice'].address}")[1]["nonce"] == 3
    store.close()


def test_app_hash_is_deterministic_and_follows_changes(tmp_path):
    signer_a, signer_b = Signer(), Signer()
    hashes = []
    for name, signer in (("a", signer_a), ("b", signer_b)):
        store = LevelDBStore(str(tmp_path / name))
        app = Application(store)
        init(app)
        hashes.append([block(app, [signer.tx("alice", "transfer", to=KEYS["bob"].address, amount=7)]).app_hash,
                       block(app, []).app_hash])
        store.close()
    assert hashes[0] == hashes[1]
    assert hashes[0][0] != hashes[0][1]  # an empty block still moves the chained hash


def test_check_tx_accepts_consecutive_nonces_in_flight_and_rechecks(app):
    init(app)
    block(app, [])
    signer = Signer()
    txs = [signer.tx("coordinator", "transfer", to=KEYS["bob"].address, amount=1) for _ in range(5)]
    assert [app.check_tx(abci.RequestCheckTx(tx=t)).code for t in txs] == [0] * 5
    assert app.check_tx(abci.RequestCheckTx(tx=txs[0])).code == Code.NONCE_TOO_LOW
    code, nonce = query(app, f"/nonce/{KEYS['coordinator'].address}")
    assert nonce["nonce"] == 5
    block(app, txs[:2])
    rechecked = [app.check_tx(abci.RequestCheckTx(tx=t, type=abci.RECHECK)).code for t in txs[2:]]
    assert rechecked == [0, 0, 0]


def test_signatures_are_verified_once_per_tx(app, monkeypatch):
    init(app)
    calls = []
    real_verify = crypto.verify_many
    monkeypatch.setattr(crypto, "verify_many", lambda items: calls.extend(items) or real_verify(items))
    raw = Signer().tx("alice", "transfer", to=KEYS["bob"].address, amount=1)
    assert app.check_tx(abci.RequestCheckTx(tx=raw)).code == 0
    app.process_proposal(abci.RequestProcessProposal(txs=[raw]))
    assert block(app, [raw]).tx_results[0].code == 0
    assert len(calls) == 1


def test_a_proposal_is_verified_once_and_a_rejected_one_is_not_kept(app, monkeypatch):
    """ProcessProposal checks a block made elsewhere in one batch and hands the decoded txs to
    its FinalizeBlock; a rejected proposal's txs are not kept (a proposer cannot fill the
    cache of verified txs with txs nobody will run)."""
    init(app)
    signer = Signer()
    stranger = crypto.PrivateKey(bytes([7]) * 32)  # an unfunded key: decodes, cannot pay
    junk_but_signed = [txlib.build(stranger, CHAIN_ID, n, "transfer", to=KEYS["bob"].address, amount=1)
                       for n in range(20)]
    checked = []
    real_verify = crypto.verify_many
    monkeypatch.setattr(crypto, "verify_many", lambda items: checked.extend(items) or real_verify(items))
    rejected = app.process_proposal(abci.RequestProcessProposal(txs=junk_but_signed + [b"junk"]))
    assert rejected.status == abci.ResponseProcessProposal.REJECT
    assert len(checked) == 20 and not app._verified and not app._proposed
    good = [signer.tx("alice", "transfer", to=KEYS["bob"].address, amount=1) for _ in range(3)]
    checked.clear()
    assert app.process_proposal(abci.RequestProcessProposal(txs=good)).status == abci.ResponseProcessProposal.ACCEPT
    assert len(checked) == 3
    assert [r.code for r in block(app, good).tx_results] == [0, 0, 0]
    assert len(checked) == 3 and not app._proposed and not app._verified  # not verified again, nothing kept


def test_proposals(app):
    init(app)
    good = Signer().tx("alice", "transfer", to=KEYS["bob"].address, amount=1)
    prepared = app.prepare_proposal(abci.RequestPrepareProposal(txs=[good, b"junk", good], max_tx_bytes=len(good) * 2 - 1))
    assert list(prepared.txs) == [good]
    assert app.process_proposal(abci.RequestProcessProposal(txs=[good])).status == abci.ResponseProcessProposal.ACCEPT
    assert app.process_proposal(abci.RequestProcessProposal(txs=[b"junk"])).status == abci.ResponseProcessProposal.REJECT


def test_paged_audit_queries(app):
    init(app)
    block(app, [Signer().tx("alice", "transfer", to="aitbc" + "00" * 20, amount=5)])
    first = query(app, "/accounts?limit=4")[1]
    assert len(first["items"]) == 4 and first["next"] == first["items"][-1]["key"]
    rest = query(app, f"/accounts?after={first['next']}&limit=100")[1]
    assert rest["next"] is None
    addresses = [i["key"] for i in first["items"] + rest["items"]]
    assert len(addresses) == 6 and addresses == sorted(addresses)
    assert query(app, "/escrows")[1] == {"items": [], "next": None}
    assert query(app, "/accounts?limit=x")[0] == Code.UNKNOWN_QUERY


def test_tx_results_query_names_the_failed_txs_of_recent_blocks(app):
    """/tx_results/<height>: the block's tx count and its failures by index, as FinalizeBlock
    answered them (what a coordinator needs instead of block_results' events)."""
    signer = Signer()
    init(app)
    good = signer.tx("alice", "transfer", to=KEYS["bob"].address, amount=5)
    result = block(app, [good, b"not a tx", signer.tx("alice", "transfer", to=KEYS["bob"].address, amount=5)])
    codes = [r.code for r in result.tx_results]
    assert codes[0] == 0 and codes[1] != 0 and codes[2] == 0
    code, answer = query(app, f"/tx_results/{app.height}")
    assert code == Code.OK
    assert answer == {"height": app.height, "txs": 3,
                      "failed": [[1, result.tx_results[1].code, result.tx_results[1].log]]}
    block(app, [])
    assert query(app, f"/tx_results/{app.height}")[1] == {"height": app.height, "txs": 0, "failed": []}
    # Heights not committed yet, never kept, or not a height: refused, not guessed.
    assert query(app, f"/tx_results/{app.height + 1}")[0] == Code.NOT_FOUND
    assert query(app, "/tx_results/0")[0] == Code.NOT_FOUND
    assert query(app, "/tx_results/tip")[0] == Code.UNKNOWN_QUERY


def test_tx_results_are_kept_for_the_last_heights_only(tmp_path):
    store = LevelDBStore(str(tmp_path / "db"))
    try:
        app = Application(store)
        app.recent_results.keep = 3
        init(app)
        for _ in range(5):
            block(app, [])
        assert [query(app, f"/tx_results/{h}")[0] == Code.OK for h in range(1, 6)] == [False, False, True, True, True]
        # Not state: a restarted app has none, and its app hash is the same without it.
        again = Application(store)
        assert again.app_hash == app.app_hash
        assert query(again, f"/tx_results/{app.height}")[0] == Code.NOT_FOUND
    finally:
        store.close()


def test_whole_state_answers_are_built_once_per_committed_state(app, monkeypatch):
    """/miners renders every miner record: the app builds it once per committed state, not once
    per call (a coordinator asks on every assignment pass, on the thread that runs CheckTx)."""
    from aitbc.abci_app import query as queries
    built: list[str] = []
    real = queries.answer
    monkeypatch.setattr(queries, "answer", lambda state, check, path, recent=None: built.append(path) or
                        real(state, check, path, recent))
    signer = Signer()
    assert query(app, "/miners") == (0, [])  # before InitChain, and after it (genesis is staged, not written)
    init(app)
    assert query(app, "/miners") == (0, []) and built == ["/miners"]
    block(app, [signer.tx("miner1", "register_miner", **register_fields())])
    first = [query(app, "/miners") for _ in range(3)]
    assert first[0][0] == 0 and [m["address"] for m in first[0][1]] == [KEYS["miner1"].address]
    assert first == [first[0]] * 3 and built == ["/miners"] * 2
    block(app, [signer.tx("miner2", "register_miner", **register_fields())])
    assert len(query(app, "/miners")[1]) == 2 and built == ["/miners"] * 3
    for _ in range(2):  # answers for one caller only (the mempool's nonce) or one record are not kept
        query(app, f"/nonce/{KEYS['alice'].address}")
        query(app, f"/miner/{KEYS['miner1'].address}")
    assert built.count(f"/nonce/{KEYS['alice'].address}") == 2 and built.count(f"/miner/{KEYS['miner1'].address}") == 2
