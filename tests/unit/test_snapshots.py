"""State sync in process: snapshots taken from one app restore another to the same app hash."""

from __future__ import annotations

import hashlib

import pytest

from aitbc.abci_app import snapshots as snap, state_digest
from aitbc.abci_app.app import EVERY_KEY, Application
from aitbc.abci_app.snapshots import Metadata, Snapshots
from aitbc.abci_app.store import LevelDBStore
from aitbc.pb.tendermint.abci import types_pb2 as abci
from aitbc.ops.factories import KEYS, Signer, submit_fields
from tests.unit.test_app import block, init, query

Offer, Apply = abci.ResponseOfferSnapshot, abci.ResponseApplySnapshotChunk


@pytest.fixture
def source(tmp_path):
    """An app at height 6 with transfers and jobs in state, and a snapshot every 3 blocks
    in chunks of 2 KiB (so the state spans several)."""
    (tmp_path / "source").mkdir()
    store = LevelDBStore(str(tmp_path / "source" / "db"))
    app = Application(store, snapshots=Snapshots(tmp_path / "source" / "snapshots", interval=3, keep=2,
                                                 chunk_bytes=2048))
    signer = Signer()
    init(app)
    for _ in range(6):
        block(app, [signer.tx("alice", "transfer", to=KEYS["bob"].address, amount=7)]
              + [signer.tx("bob", "submit_job", **submit_fields()) for _ in range(4)])
        app.snapshots.wait()
    yield app
    store.close()


@pytest.fixture
def target(tmp_path):
    (tmp_path / "target").mkdir()
    store = LevelDBStore(str(tmp_path / "target" / "db"))
    app = Application(store, snapshots=Snapshots(tmp_path / "target" / "snapshots", interval=0))
    yield app
    store.close()


def newest(app: Application) -> abci.Snapshot:
    return app.list_snapshots(abci.RequestListSnapshots()).snapshots[-1]


def chunks(app: Application, snapshot: abci.Snapshot) -> list[bytes]:
    return [app.load_snapshot_chunk(abci.RequestLoadSnapshotChunk(
        height=snapshot.height, format=snapshot.format, chunk=i)).chunk for i in range(snapshot.chunks)]


def apply_all(app: Application, pieces: list[bytes]) -> list[int]:
    return [app.apply_snapshot_chunk(abci.RequestApplySnapshotChunk(index=i, chunk=c, sender="peer")).result
            for i, c in enumerate(pieces)]


def test_round_trip_restores_the_same_state(source, target):
    snapshot = newest(source)
    assert (snapshot.height, snapshot.format) == (6, snap.FORMAT) and snapshot.chunks > 1
    assert snapshot.hash == hashlib.sha256(snapshot.metadata).digest()
    assert Metadata.from_bytes(snapshot.metadata).app_hash == source.app_hash
    offer = target.offer_snapshot(abci.RequestOfferSnapshot(snapshot=snapshot, app_hash=source.app_hash))
    assert offer.result == Offer.ACCEPT
    assert apply_all(target, chunks(source, snapshot)) == [Apply.ACCEPT] * snapshot.chunks
    info = target.info(abci.RequestInfo())
    assert (info.last_block_height, info.last_block_app_hash) == (6, source.app_hash)
    for path in (f"/account/{KEYS['bob'].address}", "/supply", "/jobs?status=pending"):
        assert query(target, path) == query(source, path)
    # Restored state plus the same next block gives the same next app hash.
    signer = Signer()
    tx = [signer.tx("alice", "transfer", to=KEYS["bob"].address, amount=1)]
    source_next = source.finalize_block(abci.RequestFinalizeBlock(txs=tx, height=7))
    target_next = target.finalize_block(abci.RequestFinalizeBlock(txs=tx, height=7))
    assert source_next.app_hash == target_next.app_hash


def test_the_digest_in_the_app_hash_is_the_whole_state(source):
    assert state_digest.of_items(source.store.iterate(*EVERY_KEY)) == source._digest


def test_tampered_chunk_is_refetched_from_another_sender(source, target):
    snapshot = newest(source)
    pieces = chunks(source, snapshot)
    target.offer_snapshot(abci.RequestOfferSnapshot(snapshot=snapshot, app_hash=source.app_hash))
    bad = bytearray(pieces[0])
    bad[-1] ^= 1
    answer = target.apply_snapshot_chunk(abci.RequestApplySnapshotChunk(index=0, chunk=bytes(bad), sender="evil"))
    assert answer.result == Apply.RETRY and list(answer.refetch_chunks) == [0]
    assert list(answer.reject_senders) == ["evil"]
    assert apply_all(target, pieces) == [Apply.ACCEPT] * snapshot.chunks
    assert target.info(abci.RequestInfo()).last_block_app_hash == source.app_hash


def test_snapshot_whose_state_does_not_prove_the_app_hash_is_refused(source, target, tmp_path):
    snapshot = newest(source)
    wrong = hashlib.sha256(b"another chain").digest()
    assert target.offer_snapshot(abci.RequestOfferSnapshot(snapshot=snapshot, app_hash=wrong)).result == Offer.ACCEPT
    results = apply_all(target, chunks(source, snapshot))
    assert results[-1] == Apply.REJECT_SNAPSHOT
    assert target.info(abci.RequestInfo()).last_block_height == 0
    assert not (tmp_path / "target" / "db.restore").exists()


def test_forged_state_with_consistent_metadata_is_refused(source, target):
    """A peer that rewrites a balance and re-hashes its chunks still cannot prove the app hash."""
    snapshot = newest(source)
    items = [(k, v) for piece in chunks(source, snapshot) for k, v in snap.decode_chunk(piece)]
    bob = f"acct/{KEYS['bob'].address}".encode()
    forged_items = [(k, v.replace(b'"balance"', b'"balance" ') if k == bob else v) for k, v in items]
    assert forged_items != items
    forged_chunks = list(snap.encode_chunks(forged_items, 2048))
    meta = Metadata(height=6, app_hash=source.app_hash, keys=len(items),
                    chunk_hashes=tuple(hashlib.sha256(c).digest() for c in forged_chunks))
    forged = meta.to_abci()
    assert target.offer_snapshot(abci.RequestOfferSnapshot(snapshot=forged, app_hash=source.app_hash)).result \
        == Offer.ACCEPT
    assert apply_all(target, forged_chunks)[-1] == Apply.REJECT_SNAPSHOT
    assert target.info(abci.RequestInfo()).last_block_height == 0


def test_unknown_format_and_bad_metadata_are_refused(source, target):
    snapshot = newest(source)
    other = abci.Snapshot(height=snapshot.height, format=99, chunks=snapshot.chunks, hash=snapshot.hash,
                          metadata=snapshot.metadata)
    assert target.offer_snapshot(abci.RequestOfferSnapshot(snapshot=other)).result == Offer.REJECT_FORMAT
    lying = abci.Snapshot(height=snapshot.height, format=snap.FORMAT, chunks=snapshot.chunks,
                          hash=b"\0" * 32, metadata=snapshot.metadata)
    assert target.offer_snapshot(abci.RequestOfferSnapshot(snapshot=lying)).result == Offer.REJECT
    # A node with state of its own takes no snapshot.
    assert source.offer_snapshot(abci.RequestOfferSnapshot(snapshot=snapshot,
                                                           app_hash=source.app_hash)).result == Offer.REJECT


def test_retention_keeps_the_newest(source, tmp_path):
    heights = [s.height for s in source.list_snapshots(abci.RequestListSnapshots()).snapshots]
    assert heights == [3, 6]
    store = source.store
    keeper = Snapshots(tmp_path / "more", interval=1, keep=2)
    for height in range(1, 6):
        keeper.take(store.frozen_items(), height, b"h")
    assert [s.height for s in keeper.list()] == [4, 5]
    assert keeper.load_chunk(3, snap.FORMAT, 0) == b""


def test_chunks_cut_at_record_boundaries():
    items = [(f"k{i:03d}".encode(), bytes(100)) for i in range(50)]
    pieces = list(snap.encode_chunks(items, 1000))
    assert len(pieces) > 1 and all(len(p) <= 1000 for p in pieces)
    assert [kv for p in pieces for kv in snap.decode_chunk(p)] == items
    with pytest.raises(ValueError):
        snap.decode_chunk(pieces[0][:-3])


def restored_node(tmp_path, name: str) -> Application:
    """The app of a node home at tmp_path/name (as __main__ opens it after a restart)."""
    return Application(LevelDBStore(str(tmp_path / name / "db")),
                       snapshots=Snapshots(tmp_path / name / "snapshots", interval=0))


def restore(app: Application, source: Application) -> None:
    snapshot = newest(source)
    assert app.offer_snapshot(abci.RequestOfferSnapshot(snapshot=snapshot, app_hash=source.app_hash)).result \
        == Offer.ACCEPT
    assert apply_all(app, chunks(source, snapshot)) == [Apply.ACCEPT] * snapshot.chunks


def next_transfer(source: Application) -> list[bytes]:
    """A transfer that the block after the snapshot takes (the right nonce for alice)."""
    _, account = query(source, f"/account/{KEYS['alice'].address}")
    return [Signer(nonces={KEYS["alice"].address: account["nonce"]}).tx("alice", "transfer",
                                                                        to=KEYS["bob"].address, amount=1)]


def test_restore_that_cometbft_never_recorded_is_dropped_and_done_again(source, tmp_path):
    """A crash after the swap, before CometBFT stored the snapshot height: CometBFT, with no
    state, state-syncs again, and the app (no longer empty) must take the offer."""
    (tmp_path / "joiner").mkdir()
    app = restored_node(tmp_path, "joiner")
    restore(app, source)
    assert app.snapshots.restored_unrecorded()
    app.store.close()  # the crash

    app = restored_node(tmp_path, "joiner")
    assert app.height == 6 and app.snapshots.restored_unrecorded()
    restore(app, source)  # offered again: dropped, then restored again
    assert (app.height, app.app_hash) == (6, source.app_hash)
    assert app.snapshots.restored_unrecorded()
    tx = next_transfer(source)
    block(source, tx)
    assert [r.code for r in block(app, tx).tx_results] == [0]
    assert app.app_hash == source.app_hash
    assert not app.snapshots.restored_unrecorded()
    app.store.close()


def test_restore_recorded_by_cometbft_survives_a_restart(source, tmp_path):
    """A crash after CometBFT stored the snapshot height but before the next block: it
    replays nothing and sends the next block, which clears the marker; offers are refused."""
    (tmp_path / "joiner").mkdir()
    app = restored_node(tmp_path, "joiner")
    restore(app, source)
    app.store.close()

    app = restored_node(tmp_path, "joiner")
    assert app.info(abci.RequestInfo()).last_block_app_hash == source.app_hash
    assert app.snapshots.restored_unrecorded()
    tx = next_transfer(source)
    block(source, tx)
    assert [r.code for r in block(app, tx).tx_results] == [0]
    assert app.app_hash == source.app_hash
    assert not app.snapshots.restored_unrecorded()
    assert app.offer_snapshot(abci.RequestOfferSnapshot(snapshot=newest(source),
                                                        app_hash=source.app_hash)).result == Offer.REJECT
    app.store.close()
