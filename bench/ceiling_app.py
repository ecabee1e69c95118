"""Stand-in ABCI apps that do a part of our app's work and nothing else: what a saturated node
could commit at best if the rest cost nothing (bench/chain_ceiling.py). Not a chain: they keep
no state, write no app hash, and accept every tx whose signature checks out.

- `bare`: our socket server (abci_app/server.py) answering every CheckTx, RECHECK and
  FinalizeBlock with code 0, looking at nothing.
- `signatures`: `bare`, and each new tx decoded and checked as our app does before it
  applies it (tx.parse), its signature checked in the batch it arrived in (crypto.verify_many,
  the chain's native verifier, on the server's thread as VERIFY_THREADS = 1 does here).
- `events`: `signatures`, and FinalizeBlock answers each transfer with the events our app
  gives it (`message` and `transfer`, indexed as abci_app/events.py says), from what CheckTx
  decoded: what CometBFT does with a transfer's events (its tx index, the stored results).
- `unindexed`: `events`, with no attribute marked for CometBFT's tx index.

Usage: python -m bench.ceiling_app MODE --address tcp://127.0.0.1:PORT
"""

from __future__ import annotations

import argparse
import asyncio

from aitbc import crypto, tx as txlib
from aitbc.abci_app import block_answer, events
from aitbc.abci_app.base import BaseApplication
from aitbc.abci_app.server import serve
from aitbc.errors import TxError
from aitbc.pb.tendermint.abci import types_pb2 as abci

MODES = ("bare", "signatures", "events", "unindexed")
_EMPTY_RESULT = abci.ResponseFinalizeBlock(tx_results=[abci.ExecTxResult()]).SerializeToString()
_REFUSED = abci.ResponseCheckTx(code=1, log="refused").SerializeToString()


class Bare(BaseApplication):
    """Code 0 for everything, from the same socket server and CheckTx batches as our app's."""

    def check_tx_batch(self, requests: list[tuple[bytes, bool]]) -> list[bytes]:
        return [b""] * len(requests)

    def serialized(self, kind: str, request) -> bytes:
        if kind == "finalize_block":  # an empty ExecTxResult (code 0) per tx: tx_results is field 2
            return _EMPTY_RESULT * len(request.txs)
        return super().serialized(kind, request)


class Signatures(Bare):
    """`Bare`, with each new tx parsed and its signature checked in its batch."""

    def check_tx_batch(self, requests: list[tuple[bytes, bool]]) -> list[bytes]:
        answers: list[bytes | None] = [None if not recheck else b"" for _, recheck in requests]
        parsed: list[tuple[int, txlib.Unverified]] = []
        for i, (raw, recheck) in enumerate(requests):
            if recheck:
                continue
            try:
                parsed.append((i, txlib.parse(raw)))
            except TxError:
                answers[i] = _REFUSED
        valid = crypto.verify_many([(u.tx.public_key, u.body, u.signature) for _, u in parsed])
        for (i, _), ok in zip(parsed, valid):
            answers[i] = b"" if ok else _REFUSED
        self.checked(parsed, valid)
        return answers  # type: ignore[return-value]

    def checked(self, parsed: list[tuple[int, txlib.Unverified]], valid: list[bool]) -> None:
        """What a subclass keeps of the txs CheckTx accepted."""


class Events(Signatures):
    """`Signatures`, with each transfer's events in FinalizeBlock's answer."""

    def __init__(self) -> None:
        self.transfers: dict[bytes, list[events.Event]] = {}

    def checked(self, parsed: list[tuple[int, txlib.Unverified]], valid: list[bool]) -> None:
        for (_, unverified), ok in zip(parsed, valid):
            tx = unverified.tx
            if ok and tx.kind == "transfer":
                self.transfers[tx.raw] = [
                    events.message(tx.sender, tx.kind, tx.fee),
                    events.transfer(tx.msg.to, tx.msg.amount)]

    def serialized(self, kind: str, request) -> bytes:
        if kind == "finalize_block":
            return block_answer.response([], [block_answer.tx_result(self.transfers.pop(raw, [])) for raw in request.txs],
                                         b"")
        return super().serialized(kind, request)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=MODES)
    parser.add_argument("--address", required=True)
    args = parser.parse_args()
    crypto.require_chain_rule()
    if args.mode == "unindexed":
        events.INDEXED.clear()  # block_answer marks an attribute indexed when INDEXED names it
    app = {"bare": Bare, "signatures": Signatures, "events": Events, "unindexed": Events}[args.mode]()
    asyncio.run(serve(app, args.address))


if __name__ == "__main__":
    main()
