"""The stand-in apps of bench/chain_ceiling.py do what they say, and `events` answers a block
of transfers with the very events our app gives it."""

from __future__ import annotations

import tempfile

from aitbc.pb.tendermint.abci import types_pb2 as abci
from bench import chain_throughput, finalize_block as fb
from bench.ceiling_app import Bare, Events, Signatures


def _block(app, txs: list[bytes]) -> abci.ResponseFinalizeBlock:
    return abci.ResponseFinalizeBlock.FromString(app.serialized("finalize_block", abci.RequestFinalizeBlock(txs=txs)))


def test_bare_answers_code_0_to_anything() -> None:
    app = Bare()
    assert app.check_tx_batch([(b"not a tx", False), (b"", True)]) == [b"", b""]
    assert [r.code for r in _block(app, [b"x", b"y"]).tx_results] == [0, 0]


def test_signatures_refuses_what_our_app_cannot_decode_or_verify() -> None:
    good = fb.transfers(fb.wallet(), 2)
    forged = good[1][:-1] + bytes([good[1][-1] ^ 1])  # the signature is the envelope's last field
    answers = Signatures().check_tx_batch([(good[0], False), (forged, False), (b"junk", False), (b"junk", True)])
    codes = [abci.ResponseCheckTx.FromString(a).code for a in answers]
    assert codes == [0, 1, 1, 0]  # a RECHECK is answered without a look, as our app's confirmed ones


def test_events_answers_a_block_as_our_app_does() -> None:
    txs = fb.transfers(fb.wallet(), 5)
    stand_in = Events()
    assert stand_in.check_tx_batch([(raw, False) for raw in txs]) == [b""] * 5
    with tempfile.TemporaryDirectory() as directory:
        app = fb.fresh_app(directory)
        fb.check(app, txs, batch=5)
        _, ours = fb.finalize(app, txs)
    theirs = _block(stand_in, txs)
    assert [list(r.events) for r in theirs.tx_results] == [list(r.events) for r in ours.tx_results]
    assert any(a.index for r in theirs.tx_results for e in r.events for a in e.attributes)
    assert not stand_in.transfers  # nothing kept once the block is answered


def test_each_stand_in_has_its_command() -> None:
    command = chain_throughput.app_command("ceiling-events", 26658, None)  # type: ignore[arg-type]
    assert command is not None and command[-3:] == ["events", "--address", "tcp://127.0.0.1:26658"]
    assert chain_throughput.app_command("aitbc", 26658, None) is None  # type: ignore[arg-type]
