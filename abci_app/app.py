"""The ABCI 2.0 application: turns CometBFT's requests into state transitions.

Three views of the state:
- committed: the LevelDB store, as of the last Commit;
- block: an overlay that FinalizeBlock stages into and Commit writes;
- check: committed + the txs accepted into the mempool since, so one sender
  can have several txs with consecutive nonces in flight; after each Commit,
  RECHECK keeps only what is still valid (check_state.py).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import time
from collections import Counter, OrderedDict
from concurrent.futures import ThreadPoolExecutor

from google.protobuf.timestamp_pb2 import Timestamp

from aitbc.abci_app import block_answer, query, state as st, state_digest, transition
from aitbc.abci_app.base import BaseApplication
from aitbc.abci_app.check_state import Applied, CheckState, Replay
from aitbc.abci_app.metrics import UNDECODABLE, AppMetrics
from aitbc.abci_app.records import Genesis
from aitbc.abci_app.recent_results import RecentResults
from aitbc.abci_app.snapshots import Restore, Snapshots, wipe
from aitbc.abci_app.state import State
from aitbc.abci_app.store import Overlay, Store
from aitbc import crypto, tx as txlib
from aitbc.codes import CODESPACE, Code
from aitbc.errors import TxError
from aitbc.pb.tendermint.abci import types_pb2 as abci

log = logging.getLogger("aitbc.app")

APP_VERSION = 1
# Bookkeeping beside the state: written with each Commit, not part of the state digest.
HEIGHT_KEY, HASH_KEY, TIME_KEY = b"_app/height", b"_app/hash", b"_app/time"
# The app hash is built from two parts (state_digest.app_hash): the chain of every
# block's changes, and the digest of the whole state (what state sync verifies).
CHAIN_KEY, DIGEST_KEY = b"_app/chain", b"_app/digest"
EVERY_KEY = (b"", b"\xff")  # every key is ASCII
# Decoded txs that CheckTx accepted, kept for PrepareProposal/FinalizeBlock: bounded
# in bytes, and only txs that passed every check enter, so junk cannot pin memory.
# An entry holds its bytes and about 1.2 KiB of decoded tx (measured for a transfer),
# so the bound is ~47 000 small txs: more than a 30 000-tx mempool.
VERIFIED_CACHE_BYTES = 64 * 1024 * 1024
VERIFIED_ENTRY_OVERHEAD = 1200
# The signatures of txs that arrive together (CheckTx requests pipelined on the socket, a
# proposal, a block) are checked as native batches (crypto.verify_many: ~28 µs a signature in
# batches of 64 against ~56 alone), on this many threads, the caller's included: the library
# releases the GIL, so the batches run on separate cores. A batch of fewer than VERIFY_CHUNK_MIN
# stays on the caller's thread: handing work to a thread costs tens of µs. By default half the
# cores: CometBFT runs beside the app and needs the others. On this 2-core machine one thread
# committed more transfers/s than two, under saturation, in 4 alternated pairs of runs out of 4
# (about 6 % more, with 10-15 % less app CPU per tx).
VERIFY_THREADS = max(1, min(4, (os.cpu_count() or 1) // 2))
VERIFY_CHUNK_MIN, VERIFY_CHUNK_MAX = 32, 256


def block_app_hash(previous: bytes, height: int, changes: dict[bytes, bytes | None]) -> bytes:
    """Chain the previous app hash with this block's changes, in key order."""
    digest = hashlib.sha256()
    digest.update(previous)
    digest.update(height.to_bytes(8, "big"))
    for key in sorted(changes):
        value = changes[key]
        digest.update(len(key).to_bytes(4, "big") + key)
        digest.update(b"\xff" if value is None else len(value).to_bytes(4, "big") + value)
    return digest.digest()


def _time_ns(ts: Timestamp) -> int:
    return ts.seconds * 1_000_000_000 + ts.nanos


def _verify_shared(chunks: list[list[txlib.Unverified]], results: list, taken: itertools.count) -> None:
    """Verify the chunks of `chunks` whose index `taken` hands out, into `results`: per chunk,
    each tx once its signature checks out, or the BadSignature that refuses it; or the
    exception that stopped it, for the caller to raise (a lost one would leave it waiting)."""
    for i in taken:
        if i >= len(chunks):
            return
        try:
            results[i] = txlib.verified_many(chunks[i])
        except BaseException as err:  # noqa: BLE001 - handed to the caller, which raises it
            results[i] = err


class Application(BaseApplication):
    """What AITBC answers to ABCI; one instance per node, called from one thread.

    Echo, Flush and vote extensions keep the defaults of BaseApplication; the
    snapshot methods too when the node keeps no `snapshots`.
    """

    def __init__(self, store: Store, metrics: AppMetrics | None = None, snapshots: Snapshots | None = None,
                 verify_threads: int = VERIFY_THREADS):
        crypto.require_chain_rule()  # every node checks every signature under the same rule
        self.store = store
        self.snapshots = snapshots
        self._restore: Restore | None = None
        # A restored state is live but CometBFT has not sent a Commit since (snapshots.RESTORED_MARK).
        self._restore_unrecorded = snapshots is not None and snapshots.restored_unrecorded()
        self._genesis_changes: dict[bytes, bytes | None] = {}
        self._block: Overlay | None = None
        self._block_txs: list[bytes] | None = None  # FinalizeBlock's txs, for the check state
        # FinalizeBlock's tx count and failures, kept at Commit for /tx_results (recent_results.py).
        self._block_outcome: tuple[int, list[tuple[int, int, str]]] = (0, [])
        self.recent_results = RecentResults()
        # query.PER_STATE answers, each with the (height, app hash) it was built at
        self._answers: dict[str, tuple[tuple[int, bytes], bytes]] = {}
        self.check_state = CheckState(store, self.decode)
        self._pending_hash = b""
        self._pending_chain = self._pending_digest = b""
        self._verified: OrderedDict[bytes, txlib.SignedTx] = OrderedDict()
        self._verified_bytes = 0
        # Decoded and verified ahead of their CheckTx, within one batch (check_tx_batch).
        self._ahead: dict[bytes, txlib.SignedTx | TxError] = {}
        # The last accepted proposal's txs, decoded, for its FinalizeBlock: one proposal at a
        # time, so a proposer cannot fill the cache of verified txs with junk it signed.
        self._proposed: dict[bytes, txlib.SignedTx] = {}
        self._verify_threads = max(1, verify_threads)
        self._verifiers = (ThreadPoolExecutor(self._verify_threads - 1, thread_name_prefix="verify")
                           if self._verify_threads > 1 else None)
        self.metrics = metrics or AppMetrics()
        self._load_committed()

    # --- helpers --------------------------------------------------------------
    def _load_committed(self) -> None:
        """Take height, hashes and time from the committed store (start-up, or a restored snapshot)."""
        store = self.store
        self.height = int(store.get(HEIGHT_KEY) or b"0")
        self.app_hash = store.get(HASH_KEY) or b""
        # A store from before the state digest: its chain goes on from its last app hash,
        # and its digest is computed once here.
        self._chain = store.get(CHAIN_KEY) or self.app_hash
        self._digest = store.get(DIGEST_KEY) or (
            state_digest.of_items(store.iterate(*EVERY_KEY)) if self.height else b"")
        self._last_time_ns = int(store.get(TIME_KEY) or b"0")
        self.chain_id = st.get_chain_id(State(Overlay(store)))
        self.check_state.reset(self.height + 1, self._last_time_ns, self.chain_id)
        self.metrics.height = self.height
        self.metrics.state.recount(store)  # once; each Commit then moves it by its changes

    @property
    def check(self) -> State:
        """The check state: what CheckTx accepted on top of the committed state."""
        return self.check_state.state

    def decode(self, raw: bytes) -> txlib.SignedTx:
        """Decode and verify a tx, reusing what CheckTx already verified."""
        cached = self._verified.get(raw) or self._proposed.get(raw)
        if cached is not None:
            return cached
        ahead = self._ahead.pop(raw, None)
        if ahead is None:
            return txlib.decode(raw)
        if isinstance(ahead, TxError):
            raise ahead
        return ahead

    def _verify_ahead(self, raws: list[bytes]) -> None:
        """Decode `raws` and check their signatures in batches, on `_verify_threads` threads
        at once, for `decode` to find in `_ahead` (until `_ahead` is cleared)."""
        parsed = []
        for raw in raws:
            try:
                parsed.append(txlib.parse(raw))
            except TxError as err:
                self._ahead[raw] = err
        if not parsed:
            return
        self.metrics.signature_batch.observe(len(parsed))
        # With helpers, two chunks per thread, so that a thread the machine does not run for a
        # while leaves at most one to the others: they take the next chunk from one counter,
        # this thread included, and this one only waits for the chunks a helper has taken.
        # Alone, one chunk: a bigger batch costs less per signature (2026-12-04, this machine,
        # CPU µs a signature in batches of 33 / 66 / 128 / 256: 19.1 / 18.6 / 17.3 / 14.9).
        per_thread = 2 if self._verifiers is not None else 1
        size = min(VERIFY_CHUNK_MAX,
                   max(VERIFY_CHUNK_MIN, -(-len(parsed) // (per_thread * self._verify_threads))))
        chunks = [parsed[i:i + size] for i in range(0, len(parsed), size)]
        results: list[list | None] = [None] * len(chunks)
        taken = itertools.count()  # next() is atomic under the GIL
        if self._verifiers is not None:
            for _ in range(min(self._verify_threads, len(chunks)) - 1):
                self._verifiers.submit(_verify_shared, chunks, results, taken)
        _verify_shared(chunks, results, taken)
        while None in results:
            time.sleep(0)
        for answers in results:
            if isinstance(answers, BaseException):
                raise answers
        for chunk, answers in zip(chunks, results):
            for unverified, result in zip(chunk, answers):
                self._ahead[unverified.tx.raw] = result

    def _remember(self, signed: txlib.SignedTx) -> None:
        if signed.raw in self._verified:
            return
        self._verified[signed.raw] = signed
        self._verified_bytes += len(signed.raw) + VERIFIED_ENTRY_OVERHEAD
        while self._verified_bytes > VERIFIED_CACHE_BYTES:
            raw, _ = self._verified.popitem(last=False)
            self._verified_bytes -= len(raw) + VERIFIED_ENTRY_OVERHEAD

    def _forget(self, raw: bytes) -> None:
        if self._verified.pop(raw, None) is not None:
            self._verified_bytes -= len(raw) + VERIFIED_ENTRY_OVERHEAD

    def _forget_all(self, raws: list[bytes]) -> None:
        pop = self._verified.pop
        self._verified_bytes -= sum(len(raw) + VERIFIED_ENTRY_OVERHEAD for raw in raws if pop(raw, None) is not None)

    # --- info and genesis -----------------------------------------------------
    def info(self, req: abci.RequestInfo) -> abci.ResponseInfo:
        return abci.ResponseInfo(data="aitbc", version="0.1.0", app_version=APP_VERSION,
                                 last_block_height=self.height, last_block_app_hash=self.app_hash)

    def init_chain(self, req: abci.RequestInitChain) -> abci.ResponseInitChain:
        genesis = Genesis.from_json(req.app_state_bytes)
        state = State(Overlay(self.store), 0, _time_ns(req.time), req.chain_id)
        transition.init_genesis(state, genesis, req.chain_id)
        # Staged like a block: written with block 1's Commit, so a crash before
        # that simply replays InitChain.
        self._genesis_changes = dict(state.store.changes)
        self.chain_id = req.chain_id
        self._last_time_ns = state.time_ns
        # Before block 1 is committed, every check sees genesis.
        self.check_state.reset(self.height + 1, self._last_time_ns, self.chain_id, self._genesis_changes)
        log.info("init_chain chain_id=%s accounts=%d", req.chain_id, len(genesis.accounts))
        digest = state_digest.updated(b"", self.store, self._genesis_changes)
        return abci.ResponseInitChain(app_hash=state_digest.app_hash(block_app_hash(b"", 0, self._genesis_changes),
                                                                     digest))

    # --- mempool --------------------------------------------------------------
    def check_tx(self, req: abci.RequestCheckTx) -> abci.ResponseCheckTx:
        refused = self._check(req.tx, req.type == abci.RECHECK)
        return abci.ResponseCheckTx(code=Code.OK) if refused is None else refused

    def check_tx_batch(self, requests: list[tuple[bytes, bool]]) -> list[bytes]:
        """CheckTx of pipelined requests, in order; the new txs' signatures checked at once."""
        self._verify_ahead(list(dict.fromkeys(raw for raw, recheck in requests
                                              if not recheck and raw not in self._verified)))
        try:
            return [b"" if (refused := self._check(raw, recheck)) is None else refused.SerializeToString()
                    for raw, recheck in requests]
        finally:
            self._ahead.clear()

    def _check(self, raw: bytes, recheck: bool) -> abci.ResponseCheckTx | None:
        """CheckTx or RECHECK of one tx: None when it passes, else the refusal."""
        if recheck and self.check_state.recheck_confirms(raw):
            self.metrics.reuse["recheck_confirmed"] += 1
            return None
        try:
            signed = self.decode(raw)
            if recheck:
                self.metrics.reuse["recheck_rerun"] += 1
                self.check_state.rerun(signed)
            else:
                self.check_state.check(signed)
        except TxError as err:
            if recheck:  # the tx leaves the mempool (a new tx refused may be a copy of one in it)
                self._forget(raw)
            self.metrics.check_refused(err.code, recheck)
            return abci.ResponseCheckTx(code=err.code, log=err.log, codespace=CODESPACE)
        self._remember(signed)
        return None

    # --- consensus ------------------------------------------------------------
    def prepare_proposal(self, req: abci.RequestPrepareProposal) -> abci.ResponsePrepareProposal:
        chosen, size = [], 0
        for raw in req.txs:
            if size + len(raw) > req.max_tx_bytes:
                break
            try:
                self.decode(raw)
            except TxError:
                continue
            chosen.append(raw)
            size += len(raw)
        return abci.ResponsePrepareProposal(txs=chosen)

    def process_proposal(self, req: abci.RequestProcessProposal) -> abci.ResponseProcessProposal:
        status = abci.ResponseProcessProposal.ACCEPT
        self._proposed = {}
        self._verify_ahead([raw for raw in req.txs if raw not in self._verified])
        decoded = {}
        try:
            for raw in req.txs:
                try:
                    decoded[raw] = self.decode(raw)
                except TxError:
                    status = abci.ResponseProcessProposal.REJECT
                    break
        finally:
            self._ahead.clear()
        if status == abci.ResponseProcessProposal.ACCEPT:
            self._proposed = decoded
        return abci.ResponseProcessProposal(status=status)

    def finalize_block(self, req: abci.RequestFinalizeBlock) -> abci.ResponseFinalizeBlock:
        """FinalizeBlock, as a message (for callers in this process; the node's socket server
        sends `finalize_block_encoded`'s bytes as they are)."""
        return abci.ResponseFinalizeBlock.FromString(self.finalize_block_encoded(req))

    def serialized(self, kind: str, request) -> bytes:
        if kind == "finalize_block":
            return self.finalize_block_encoded(request)
        return super().serialized(kind, request)

    def finalize_block_encoded(self, req: abci.RequestFinalizeBlock) -> bytes:
        """Run the block; its ResponseFinalizeBlock, serialized (block_answer.py)."""
        started = time.perf_counter()
        block = Overlay(self.store)
        if self.height == 0:
            block.changes.update(self._genesis_changes)
        state = State(block, req.height, _time_ns(req.time), self.chain_id, block_hash=req.hash)
        block_events = transition.begin_block(state)
        clean_start = not block.changes
        # Txs as CheckTx applied them, when they read here what they read there: the first
        # ones by the log's order, any other one by the values it read (check_state.py).
        # And the txs as applied, for the check state's RECHECK, kept while every tx succeeds.
        reused = self.check_state.reusable(req.txs) if clean_start else []
        logged = self.check_state.entries() if len(reused) < len(req.txs) else {}
        replay, taken = Replay(block), len(reused)
        failed: list[tuple[int, int, str]] = []
        tx_result = block_answer.tx_result
        changes = block.changes
        results = []
        for entry in reused:
            changes.update(entry.writes)
            results.append(tx_result(entry.events))
        finalized = Counter(entry.kind for entry in reused)
        self._forget_all(req.txs[:len(reused)])
        self._verify_ahead([raw for raw in req.txs[len(reused):]
                            if raw not in self._verified and raw not in self._proposed])
        for i in range(len(reused), len(req.txs)):
            raw = req.txs[i]
            kind = UNDECODABLE
            if (entry := logged.get(raw)) is not None and replay.take(entry):
                self._forget(raw)
                taken += 1
            else:
                replay.flush()
                try:
                    signed = self.decode(raw)
                    kind = signed.kind
                    work = transition.execute(state, signed, charge_failed=True)
                except TxError as err:
                    results.append(tx_result(err.events, err.code, err.log, CODESPACE))
                    self.metrics.tx_finalized(kind, err.code)
                    failed.append((i, err.code, err.log))
                    continue
                finally:
                    self._forget(raw)
                entry = Applied(raw, kind, signed.sender, work.store.changes, work.events)
                work.store.merge_into_parent()
            results.append(tx_result(entry.events))
            finalized[entry.kind] += 1
        replay.flush()
        for kind, count in finalized.items():
            self.metrics.tx_finalized(kind, Code.OK, count)
        self.metrics.reuse["finalize"] += taken
        self._ahead.clear()
        self._proposed = {}
        self._block = block
        self._block_txs = list(req.txs) if clean_start and not failed else None
        self._block_outcome = (len(req.txs), failed)
        self._last_time_ns = state.time_ns
        self._pending_chain = block_app_hash(self._chain, req.height, block.changes)
        self._pending_digest = state_digest.updated(self._digest, self.store, block.changes)
        self._pending_hash = state_digest.app_hash(self._pending_chain, self._pending_digest)
        self.metrics.block_txs.observe(len(req.txs))
        self.metrics.finalize_seconds.observe(time.perf_counter() - started)
        return block_answer.response(block_events, results, self._pending_hash)

    def commit(self, req: abci.RequestCommit) -> abci.ResponseCommit:
        assert self._block is not None, "Commit without FinalizeBlock"
        height = self.height + 1
        changes = dict(self._block.changes)
        changes[HEIGHT_KEY] = str(height).encode()
        changes[HASH_KEY] = self._pending_hash
        changes[CHAIN_KEY], changes[DIGEST_KEY] = self._pending_chain, self._pending_digest
        changes[TIME_KEY] = str(self._last_time_ns).encode()
        self.metrics.state.apply(self.store, changes)  # before the write: it reads the old values
        self.store.write(changes)
        self.metrics.height = height
        self.height, self.app_hash = height, self._pending_hash
        self._chain, self._digest = self._pending_chain, self._pending_digest
        self.check_state.committed(height, self._last_time_ns, self.chain_id, self._block_txs, self._block.changes)
        self.recent_results.record(height, *self._block_outcome)
        self._block, self._block_txs, self._genesis_changes = None, None, {}
        if self._restore_unrecorded:  # a Commit after a restore: CometBFT has recorded its height
            self.snapshots.clear_restored()
            self._restore_unrecorded = False
        if self.snapshots is not None and self.snapshots.due(height):
            self.snapshots.take_in_background(self.store.frozen_items(), height, self.app_hash)
        return abci.ResponseCommit(retain_height=0)

    # --- queries ---------------------------------------------------------------
    def query(self, req: abci.RequestQuery) -> abci.ResponseQuery:
        # (height, app hash) names the committed state: InitChain stages genesis without
        # writing it, and a restored snapshot brings both anew.
        built_from = (self.height, self.app_hash)
        kept = self._answers.get(req.path)
        if kept is not None and kept[0] == built_from:
            return abci.ResponseQuery(code=Code.OK, value=kept[1], height=self.height)
        committed = State(Overlay(self.store), self.height, self._last_time_ns, self.chain_id)
        try:
            answer = query.answer(committed, self.check, req.path, self.recent_results)
        except query.QueryError as err:
            return abci.ResponseQuery(code=err.code, log=str(err), codespace=CODESPACE, height=self.height)
        value = query.encode(answer)
        if req.path in query.PER_STATE:
            self._answers[req.path] = (built_from, value)
        return abci.ResponseQuery(code=Code.OK, value=value, height=self.height)

    # --- state sync --------------------------------------------------------------
    def list_snapshots(self, req: abci.RequestListSnapshots) -> abci.ResponseListSnapshots:
        if self.snapshots is None:
            return super().list_snapshots(req)
        return self.snapshots.list_snapshots(req)

    def load_snapshot_chunk(self, req: abci.RequestLoadSnapshotChunk) -> abci.ResponseLoadSnapshotChunk:
        if self.snapshots is None:
            return super().load_snapshot_chunk(req)
        return self.snapshots.load_snapshot_chunk(req)

    def offer_snapshot(self, req: abci.RequestOfferSnapshot) -> abci.ResponseOfferSnapshot:
        """Accept a snapshot of our format for an empty node (or one whose restored state
        CometBFT never recorded), and start restoring it into a fresh store beside the live one."""
        if self.snapshots is None or not hasattr(self.store, "restore_path"):
            return super().offer_snapshot(req)
        if self.height > 0 and self._restore_unrecorded:
            # CometBFT offers snapshots only while it has no state: it never recorded the
            # state we restored before a crash, so drop that state and restore again.
            log.warning("state sync: the state restored at height %d was never recorded by CometBFT "
                        "(a crash after the swap); dropping it to restore again", self.height)
            wipe(self.store)
            self._load_committed()
            self.snapshots.clear_restored()
            self._restore_unrecorded = False
        if self.height > 0:
            return super().offer_snapshot(req)
        result, meta = Restore.check_offer(req.snapshot)
        if meta is not None:
            if self._restore is not None:
                self._restore.discard()
            self._restore = Restore(meta, req.app_hash, self.store.restore_path(), type(self.store))
            log.info("restoring snapshot at height %d (%d chunks)", meta.height, len(meta.chunk_hashes))
        return abci.ResponseOfferSnapshot(result=result)

    def apply_snapshot_chunk(self, req: abci.RequestApplySnapshotChunk) -> abci.ResponseApplySnapshotChunk:
        """Write one verified chunk; after the last one, swap the proven state in."""
        restore = self._restore
        if restore is None:
            return super().apply_snapshot_chunk(req)
        answer = restore.apply(req)
        if answer.result == abci.ResponseApplySnapshotChunk.REJECT_SNAPSHOT:
            restore.discard()
            self._restore = None
        elif restore.finished:
            self._restore = None
            self.snapshots.mark_restored(restore.meta.height)  # until CometBFT's next Commit
            self._restore_unrecorded = True
            self.store.replace_with(restore.path)
            self._load_committed()
            log.info("state sync: now at height %d app_hash %s", self.height, self.app_hash.hex())
        return answer
