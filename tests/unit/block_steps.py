"""Block steps the pure-transition tests of direct jobs and coordinators share: a block
whose txs must all pass (and keep every invariant), and a tx that must be refused
moving nothing."""

from __future__ import annotations

from aitbc.abci_app import invariants, state as st
from aitbc.errors import TxError
from aitbc.ops.factories import KEYS, Chain, Signer


def ok(chain: Chain, *txs: bytes, seconds: float = 1.0) -> None:
    results = chain.block(list(txs), seconds)
    assert results == [0] * len(txs), [getattr(r, "log", r) for r in results]
    assert invariants.broken(chain.view()) == []


def refused(chain: Chain, signer: Signer, raw: bytes) -> int:
    """Apply `raw` in a block; it must fail, moving nothing but its sender's nonce (fees are 0 here)."""
    chain.begin()
    block = chain._block

    def state() -> tuple[dict, dict]:
        items = dict(block.store.iterate(b"", b"\xff"))
        balances = {name: st.get_account(block, k.address).balance for name, k in KEYS.items()}
        return {k: v for k, v in items.items() if not k.startswith(b"acct/")}, balances

    before = state()
    result = chain.apply(raw)
    assert isinstance(result, TxError), "tx should have been refused"
    assert result.log
    assert state() == before
    chain.end()
    signer.forget(raw, result)
    return result.code
