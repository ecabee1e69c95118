"""The socket server's CheckTx path: requests read without protobuf, answers framed around the app's
bytes, and a batch of new txs verified on several threads answered exactly as one at a time."""

from __future__ import annotations

import json
import threading

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from aitbc import crypto
from aitbc.abci_app import app as app_module
from aitbc.abci_app.app import Application
from aitbc.abci_app.server import answer_all, check_tx_request, decode_varint, frame, frame_response
from aitbc.abci_app.store import LevelDBStore
from aitbc.codes import Code
from aitbc.ops.factories import CHAIN_ID, KEYS, Signer, genesis, submit_fields
from aitbc.pb.tendermint.abci import types_pb2 as abci


def serialized(**request) -> bytes:
    return abci.Request(**request).SerializeToString()


def test_check_tx_requests_are_read_as_protobuf_reads_them():
    for tx, kind in ((b"\x01" * 166, abci.NEW), (b"x" * 300, abci.RECHECK), (b"", abci.NEW), (b"", abci.RECHECK)):
        assert check_tx_request(serialized(check_tx=abci.RequestCheckTx(tx=tx, type=kind))) == \
            (tx, kind == abci.RECHECK)


def test_anything_unusual_takes_the_general_path():
    check = serialized(check_tx=abci.RequestCheckTx(tx=b"abc", type=abci.RECHECK))
    assert check_tx_request(serialized(flush=abci.RequestFlush())) is None
    assert check_tx_request(check + b"\x08\x01") is None                # a second field after the oneof
    assert check_tx_request(check[:-1]) is None                          # cut short
    inner = abci.RequestCheckTx(tx=b"abc").SerializeToString() + b"\x18\x05"  # an unknown field inside
    assert check_tx_request(b"\x42" + bytes([len(inner)]) + inner) is None
    odd = abci.RequestCheckTx(tx=b"abc").SerializeToString() + b"\x10\x07"   # a type CometBFT never sends
    assert check_tx_request(b"\x42" + bytes([len(odd)]) + odd) is None


@pytest.mark.parametrize("kind, message", [
    ("check_tx", abci.ResponseCheckTx(code=5, log="nonce", codespace="aitbc")),
    ("check_tx", abci.ResponseCheckTx()),
    ("finalize_block", abci.ResponseFinalizeBlock(tx_results=[abci.ExecTxResult(code=1)], app_hash=b"h" * 32)),
    ("flush", abci.ResponseFlush()),
])
def test_an_answer_is_framed_as_the_response_protobuf_would_write(kind, message):
    assert frame_response(kind, message.SerializeToString()) == frame(abci.Response(**{kind: message}).SerializeToString())


def fresh(tmp_path, name: str, threads: int) -> Application:
    app = Application(LevelDBStore(str(tmp_path / name)), verify_threads=threads)
    app.init_chain(abci.RequestInitChain(chain_id=CHAIN_ID, app_state_bytes=json.dumps(genesis().to_json()).encode(),
                                         time=Timestamp(seconds=1000)))
    return app


def test_alone_a_batch_is_checked_in_as_few_native_calls_as_its_size_allows(tmp_path, monkeypatch):
    signer = Signer()
    txs = [signer.tx("alice", "transfer", to=KEYS["bob"].address, amount=1) for _ in range(300)]
    sizes = []
    real = crypto.verify_many
    monkeypatch.setattr(crypto, "verify_many", lambda items: sizes.append(len(items)) or real(items))
    app = fresh(tmp_path, "alone", 1)
    assert app.check_tx_batch([(raw, False) for raw in txs[:100]]) == [b""] * 100
    assert sizes == [100]  # one batch, not two halves: nobody to share them with
    sizes.clear()
    assert app.check_tx_batch([(raw, False) for raw in txs[100:]]) == [b""] * 200
    assert sizes == [200]
    sizes.clear()
    more = [signer.tx("alice", "transfer", to=KEYS["bob"].address, amount=1) for _ in range(300)]
    assert app.check_tx_batch([(raw, False) for raw in more]) == [b""] * 300
    assert sizes == [app_module.VERIFY_CHUNK_MAX, 300 - app_module.VERIFY_CHUNK_MAX]


def test_a_batch_verified_on_threads_is_answered_in_order_as_one_at_a_time(tmp_path, monkeypatch):
    signer = Signer()
    txs = [signer.tx("alice", "transfer", to=KEYS["bob"].address, amount=1) for _ in range(70)]
    forged = bytearray(signer.tx("bob", "transfer", to=KEYS["alice"].address, amount=1))
    forged[-1] ^= 1  # the last byte is the signature's
    txs[7:7] = [bytes(forged), b"junk", txs[3]]  # a bad signature, no tx at all, a duplicate
    txs.append(signer.tx("alice", "submit_job", **submit_fields()))
    calls = []
    real = crypto.verify_many
    monkeypatch.setattr(crypto, "verify_many", lambda items: calls.extend(items) or real(items))
    threaded, single = fresh(tmp_path, "threaded", 2), fresh(tmp_path, "single", 1)
    assert len(txs) - 1 >= 2 * app_module.VERIFY_CHUNK_MIN  # more than one chunk, on two threads
    batch = [(raw, False) for raw in txs]
    answers = threaded.check_tx_batch(batch)
    assert answers == single.check_tx_batch(batch)
    assert len(calls) == 2 * (len(txs) - 2)  # once per signature in each app (not the junk, not the duplicate)
    codes = [abci.ResponseCheckTx.FromString(a).code for a in answers]
    assert codes[7:10] == [Code.BAD_SIGNATURE, Code.TX_DECODE, Code.NONCE_TOO_LOW]
    assert codes[:7] + codes[10:] == [0] * (len(txs) - 3)
    calls.clear()
    threaded.finalize_block(abci.RequestFinalizeBlock(txs=[t for t, c in zip(txs, codes) if c == 0], height=1,
                                                      time=Timestamp(seconds=1001)))
    assert calls == []  # verified once, in CheckTx


def test_an_error_on_a_verify_thread_reaches_the_caller_instead_of_a_hang(tmp_path, monkeypatch):
    """A verify thread that fails must not leave CheckTx waiting forever for its answer: the
    error reaches the socket server, which halts the node."""
    signer = Signer()
    txs = [signer.tx("alice", "transfer", to=KEYS["bob"].address, amount=1) for _ in range(4 * app_module.VERIFY_CHUNK_MIN)]
    app = fresh(tmp_path, "threaded", 2)
    real = app_module.txlib.verified_many
    calls = []

    def fails_once(chunk):
        calls.append(1)
        if len(calls) == 2:
            raise MemoryError("out of memory on a verify thread")
        return real(chunk)

    monkeypatch.setattr(app_module.txlib, "verified_many", fails_once)
    outcome = []
    caller = threading.Thread(target=lambda: outcome.append(_raised(app.check_tx_batch, [(t, False) for t in txs])))
    caller.start()
    caller.join(10)
    assert not caller.is_alive(), "check_tx_batch never returned"
    assert isinstance(outcome[0], MemoryError)


def _raised(call, *args):
    try:
        call(*args)
    except BaseException as err:  # noqa: BLE001 - the test looks at it
        return err
    return None


def test_answer_all_batches_consecutive_check_tx_and_keeps_order(tmp_path):
    app = fresh(tmp_path, "db", 2)
    signer = Signer()
    good = [signer.tx("alice", "transfer", to=KEYS["bob"].address, amount=1) for _ in range(20)]
    messages = [serialized(check_tx=abci.RequestCheckTx(tx=raw)) for raw in good[:10]]
    messages.append(serialized(echo=abci.RequestEcho(message="between")))
    messages += [serialized(check_tx=abci.RequestCheckTx(tx=raw)) for raw in good[10:]]
    messages.append(serialized(flush=abci.RequestFlush()))
    out, failed = answer_all(app, messages)
    assert not failed
    responses = [abci.Response.FromString(m[decode_varint(m, 0)[1]:]) for m in out]
    assert [r.WhichOneof("value") for r in responses] == ["check_tx"] * 10 + ["echo"] + ["check_tx"] * 10 + ["flush"]
    assert [r.check_tx.code for r in responses if r.HasField("check_tx")] == [0] * 20


def test_finalize_block_goes_out_as_the_bytes_the_app_made(tmp_path):
    """The server sends FinalizeBlock's hand-made answer (block_answer.py) as it is: the bytes are
    protobuf's own for the message they parse to, and they say what the block did."""
    signer = Signer()
    checked = [signer.tx("alice", "transfer", to=KEYS["bob"].address, amount=1) for _ in range(3)]
    unchecked = signer.tx("bob", "transfer", to=KEYS["alice"].address, amount=2)
    replayed = checked[0]  # its nonce is used by then: refused, with its events and log
    block = abci.RequestFinalizeBlock(txs=[*checked, unchecked, b"junk", replayed], height=1,
                                      time=Timestamp(seconds=1001))
    apps = [fresh(tmp_path, name, 1) for name in ("a", "b")]
    for app in apps:
        assert app.check_tx_batch([(raw, False) for raw in checked]) == [b""] * 3
    out, failed = answer_all(apps[0], [serialized(finalize_block=block)])
    assert not failed
    sent = abci.Response.FromString(out[0][decode_varint(out[0], 0)[1]:]).finalize_block
    assert out[0] == frame_response("finalize_block", sent.SerializeToString())
    assert sent == apps[1].finalize_block(block)
    assert [r.code for r in sent.tx_results][:4] == [0, 0, 0, 0]
    assert sent.tx_results[4].code == Code.TX_DECODE and sent.tx_results[5].code == Code.NONCE_TOO_LOW
    assert sent.tx_results[5].codespace and sent.tx_results[5].log
    assert [e.type for e in sent.tx_results[3].events] == ["message", "transfer"]
    assert len(sent.app_hash) == 32
