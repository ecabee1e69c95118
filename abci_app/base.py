"""Every ABCI 2.0 method with a harmless answer, as CometBFT's `abci/types.BaseApplication`.

The AITBC `Application` overrides only what it does; the socket server
dispatches each request kind to the method of the same name (`REQUESTS`).
The answers here say "nothing to do": no vote extensions, no state sync
(snapshots are neither offered nor accepted), every proposal accepted as it
comes, and an empty app hash.
"""

from __future__ import annotations

from aitbc.codes import Code
from aitbc.pb.tendermint.abci import types_pb2 as abci

# The Request oneof names; each is answered by the method of the same name and
# goes into the Response field of the same name.
REQUESTS = frozenset({
    "echo", "flush", "info", "init_chain", "query", "check_tx", "commit", "list_snapshots",
    "offer_snapshot", "load_snapshot_chunk", "apply_snapshot_chunk", "prepare_proposal",
    "process_proposal", "extend_vote", "verify_vote_extension", "finalize_block",
})


class BaseApplication:
    """Answers every ABCI request and changes nothing; subclasses override what they do."""

    def serialized(self, kind: str, request) -> bytes:
        """The answer to `request` (the Request oneof `kind`), serialized: what the socket
        server sends. A subclass may make the bytes of a kind without building its message."""
        return getattr(self, kind)(request).SerializeToString()

    # --- connection --------------------------------------------------------------
    def echo(self, req: abci.RequestEcho) -> abci.ResponseEcho:
        return abci.ResponseEcho(message=req.message)

    def flush(self, req: abci.RequestFlush) -> abci.ResponseFlush:
        return abci.ResponseFlush()

    def info(self, req: abci.RequestInfo) -> abci.ResponseInfo:
        return abci.ResponseInfo()

    def query(self, req: abci.RequestQuery) -> abci.ResponseQuery:
        return abci.ResponseQuery(code=Code.OK)

    # --- mempool and consensus ---------------------------------------------------------
    def init_chain(self, req: abci.RequestInitChain) -> abci.ResponseInitChain:
        return abci.ResponseInitChain()

    def check_tx(self, req: abci.RequestCheckTx) -> abci.ResponseCheckTx:
        return abci.ResponseCheckTx(code=Code.OK)

    def check_tx_batch(self, requests: list[tuple[bytes, bool]]) -> list[bytes]:
        """CheckTx of several (tx, is RECHECK) in order, each answer serialized (b"": code 0,
        nothing else). The socket server's path for pipelined CheckTx requests."""
        return [self.check_tx(abci.RequestCheckTx(tx=tx, type=abci.RECHECK if recheck else abci.NEW))
                .SerializeToString() for tx, recheck in requests]

    def prepare_proposal(self, req: abci.RequestPrepareProposal) -> abci.ResponsePrepareProposal:
        """The mempool's txs in order, as many as fit in `max_tx_bytes`."""
        chosen, size = [], 0
        for raw in req.txs:
            if size + len(raw) > req.max_tx_bytes:
                break
            chosen.append(raw)
            size += len(raw)
        return abci.ResponsePrepareProposal(txs=chosen)

    def process_proposal(self, req: abci.RequestProcessProposal) -> abci.ResponseProcessProposal:
        return abci.ResponseProcessProposal(status=abci.ResponseProcessProposal.ACCEPT)

    def finalize_block(self, req: abci.RequestFinalizeBlock) -> abci.ResponseFinalizeBlock:
        return abci.ResponseFinalizeBlock(tx_results=[abci.ExecTxResult(code=Code.OK) for _ in req.txs])

    def commit(self, req: abci.RequestCommit) -> abci.ResponseCommit:
        return abci.ResponseCommit()

    # --- vote extensions: none -----------------------------------------------------------
    def extend_vote(self, req: abci.RequestExtendVote) -> abci.ResponseExtendVote:
        return abci.ResponseExtendVote()

    def verify_vote_extension(self, req: abci.RequestVerifyVoteExtension) -> abci.ResponseVerifyVoteExtension:
        return abci.ResponseVerifyVoteExtension(status=abci.ResponseVerifyVoteExtension.ACCEPT)

    # --- state sync: no snapshots offered or taken ---------------------------------------
    def list_snapshots(self, req: abci.RequestListSnapshots) -> abci.ResponseListSnapshots:
        return abci.ResponseListSnapshots()

    def offer_snapshot(self, req: abci.RequestOfferSnapshot) -> abci.ResponseOfferSnapshot:
        return abci.ResponseOfferSnapshot(result=abci.ResponseOfferSnapshot.REJECT)

    def load_snapshot_chunk(self, req: abci.RequestLoadSnapshotChunk) -> abci.ResponseLoadSnapshotChunk:
        return abci.ResponseLoadSnapshotChunk()

    def apply_snapshot_chunk(self, req: abci.RequestApplySnapshotChunk) -> abci.ResponseApplySnapshotChunk:
        return abci.ResponseApplySnapshotChunk(result=abci.ResponseApplySnapshotChunk.ABORT)
