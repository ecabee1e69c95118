"""The ABCI socket server, spoken to as CometBFT does: framing, order, Flush, pipelining."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from aitbc.abci_app.app import Application
from aitbc.abci_app.server import ABCIServer, decode_varint, encode_varint
from aitbc.abci_app.store import LevelDBStore
from aitbc.ops import procs
from aitbc.codes import Code
from aitbc.pb.tendermint.abci import types_pb2 as abci
from tests.abci_client import ABCIClient
from aitbc.ops.factories import CHAIN_ID, KEYS, Signer, genesis, receipt_fields, register_fields, submit_fields


@pytest.fixture
def server(tmp_path):
    store = LevelDBStore(str(tmp_path / "db"))
    port = procs.free_port()
    loop = asyncio.new_event_loop()
    srv = ABCIServer(Application(store), f"tcp://127.0.0.1:{port}")
    loop.run_until_complete(srv.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield port
    asyncio.run_coroutine_threadsafe(srv.close(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    store.close()


def test_varint_round_trip():
    for value in (0, 1, 127, 128, 300, 2**32, 2**63 - 1):
        encoded = encode_varint(value)
        assert decode_varint(encoded, 0) == (value, len(encoded))
    assert decode_varint(b"\x80", 0) is None  # incomplete


def test_job_lifecycle_over_four_connections(server):
    consensus, mempool, query, snapshot = (ABCIClient(server) for _ in range(4))
    assert consensus.call(echo=abci.RequestEcho(message="hi")).echo.message == "hi"
    assert consensus.call(info=abci.RequestInfo()).info.last_block_height == 0
    init = consensus.call(init_chain=abci.RequestInitChain(
        chain_id=CHAIN_ID, app_state_bytes=json.dumps(genesis().to_json()).encode(), time=Timestamp(seconds=1000)))
    assert len(init.init_chain.app_hash) == 32

    signer = Signer(fee=None)
    txs = [signer.tx("miner1", "register_miner", **register_fields())]
    job_id = signer.next_job_id("alice")
    txs.append(signer.tx("alice", "submit_job", **submit_fields()))
    txs.append(signer.tx("coordinator", "assign_job", job_id=job_id, miner=KEYS["miner1"].address))
    txs.append(signer.tx("coordinator", "record_receipt", **receipt_fields(job_id)))
    # Mempool CheckTx is pipelined: many requests, one Flush, answers in order.
    for raw in txs + [b"garbage"]:
        mempool.send(check_tx=abci.RequestCheckTx(tx=raw))
    mempool.send(flush=abci.RequestFlush())
    answers = [mempool.receive() for _ in range(len(txs) + 2)]
    assert [a.WhichOneof("value") for a in answers] == ["check_tx"] * (len(txs) + 1) + ["flush"]
    assert [a.check_tx.code for a in answers[:-1]] == [0, 0, 0, 0, Code.TX_DECODE]

    assert snapshot.call(list_snapshots=abci.RequestListSnapshots()).list_snapshots.snapshots == []
    done = consensus.call(finalize_block=abci.RequestFinalizeBlock(txs=txs, height=1, time=Timestamp(seconds=1001)))
    assert [r.code for r in done.finalize_block.tx_results] == [0, 0, 0, 0]
    consensus.call(commit=abci.RequestCommit())
    answer = query.call(query=abci.RequestQuery(path=f"/receipt/{job_id}")).query
    assert answer.code == 0 and json.loads(answer.value)["amount_paid"] == 250_000
    info = query.call(info=abci.RequestInfo()).info
    assert (info.last_block_height, info.last_block_app_hash) == (1, done.finalize_block.app_hash)
    for client in (consensus, mempool, query, snapshot):
        client.close()
