"""A transfer writes its sender's account once (ledger.charged_transfer): the ante step's
charge and the transfer as one write. FinalizeBlock takes CheckTx's writes as they are and
other nodes run the tx, so both must be byte for byte what the two steps one after the
other make: the writes (in order), the events, what CheckTx records it read, the error and
what a failed, charged tx leaves. The two steps are spelled out here as they ran before."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings, strategies as hs

from aitbc import tx as txlib
from aitbc.abci_app import events, ledger, records, state as st, transition
from aitbc.abci_app.records import Account, Supply
from aitbc.abci_app.state import State
from aitbc.abci_app.store import MemoryStore, Overlay
from aitbc.errors import BadNonce, FeeTooLow, TxError, UnknownAccount, WrongChainId
from aitbc.ops.factories import CHAIN_ID, KEYS, PARAMS

FEE_RULE = replace(PARAMS, min_fee=100, fee_per_byte=1)
STRANGER = "aitbc" + "cd" * 20  # an address with no account yet


def two_steps(state: State, tx: txlib.SignedTx, charge_failed: bool, keep_reads: bool) -> State:
    """transition.execute for a transfer as it was before charged_transfer: charge_tx's write,
    then the transfer's debit and credit."""
    if tx.chain_id != state.chain_id:
        raise WrongChainId(state.chain_id, tx.chain_id)
    work = state.child(keep_reads)
    account = st.get_account(work, tx.sender)
    if account is None:
        raise UnknownAccount(tx.sender)
    if tx.nonce != account.nonce:
        raise BadNonce(tx.sender, account.nonce, tx.nonce)
    params = st.get_params(work)
    needed = txlib.required_fee(len(tx.raw), params.min_fee, params.fee_per_byte)
    if tx.fee < needed:
        raise FeeTooLow(tx.fee, needed, len(tx.raw))
    ledger.charge_tx(work, tx.sender, account, tx.fee)
    work.events.append(events.event(events.MESSAGE, sender=tx.sender, action=tx.kind, fee=tx.fee))
    ante_writes, ante_events = dict(work.store.changes), len(work.events)
    try:
        ledger.debit(work, tx.sender, tx.msg.amount)
        ledger.credit(work, tx.msg.to, tx.msg.amount)
        work.events.append(events.event(events.TRANSFER, recipient=tx.msg.to, amount=tx.msg.amount))
    except TxError as err:
        if charge_failed:
            work.store.changes = ante_writes
            del work.events[ante_events:]
            work.store.merge_into_parent()
            err.charged, err.events = True, work.events
        raise
    return work


def base_store(balance: int, nonce: int, recipient_balance: int | None, fees_burned: int) -> MemoryStore:
    store = MemoryStore()
    state = State(Overlay(store), 5, 0, CHAIN_ID)
    st.set_chain_id(state, CHAIN_ID)
    st.set_params(state, FEE_RULE)
    st.set_supply(state, Supply(total=10**15, fees=fees_burned))
    st.set_account(state, KEYS["alice"].address, Account(balance=balance, nonce=nonce))
    if recipient_balance is not None:
        st.set_account(state, KEYS["bob"].address, Account(balance=recipient_balance))
    store.write(state.store.changes)
    return store


def outcome(run, store: MemoryStore, tx: txlib.SignedTx, charge_failed: bool, keep_reads: bool) -> tuple:
    """Everything a caller can see of one run on a fresh block state over `store`."""
    block = State(Overlay(store), 6, 0, CHAIN_ID)
    try:
        work = run(block, tx, charge_failed, keep_reads)
    except TxError as err:
        return ("refused", type(err), err.code, err.log, getattr(err, "charged", False), getattr(err, "events", None),
                list(block.store.changes.items()))
    seen = (work.store.reads, work.store.added, work.store.iterated) if keep_reads else None
    return ("applied", list(work.store.changes.items()), work.events, seen, list(block.store.changes.items()))


def transfer(to: str, amount: int, nonce: int = 0, fee_offset: int = 0, chain_id: str = CHAIN_ID) -> txlib.SignedTx:
    """Alice's transfer paying the fee rule's exact fee plus `fee_offset` (a negative offset
    pays too little: then its size may differ by a byte, which the fee check sees)."""
    exact = txlib.decode(txlib.build(KEYS["alice"], chain_id, nonce, "transfer", min_fee=FEE_RULE.min_fee,
                                     fee_per_byte=FEE_RULE.fee_per_byte, to=to, amount=amount))
    if not fee_offset:
        return exact
    return txlib.decode(txlib.build(KEYS["alice"], chain_id, nonce, "transfer", fee=max(0, exact.fee + fee_offset),
                                    to=to, amount=amount))


amounts = hs.integers(min_value=1, max_value=3_000)


@settings(max_examples=400, deadline=None)
@given(balance=hs.integers(min_value=0, max_value=3_000), nonce=hs.integers(min_value=0, max_value=3),
       tx_nonce=hs.integers(min_value=0, max_value=3), fee_offset=hs.integers(min_value=-5, max_value=600),
       amount=amounts, recipient=hs.sampled_from(["bob", "self", "stranger"]),
       recipient_exists=hs.booleans(), fees_burned=hs.integers(min_value=0, max_value=10**6),
       charge_failed=hs.booleans(), keep_reads=hs.booleans(), chain_id=hs.sampled_from([CHAIN_ID, "other-chain"]))
def test_a_transfer_makes_what_the_charge_and_the_transfer_made_one_after_the_other(
        balance, nonce, tx_nonce, fee_offset, amount, recipient, recipient_exists, fees_burned, charge_failed,
        keep_reads, chain_id):
    to = {"bob": KEYS["bob"].address, "self": KEYS["alice"].address, "stranger": STRANGER}[recipient]
    tx = transfer(to, amount, tx_nonce, fee_offset, chain_id)
    store = base_store(balance, nonce, 7 if recipient_exists else None, fees_burned)
    new = outcome(transition.execute, store, tx, charge_failed, keep_reads)
    old = outcome(two_steps, store, tx, charge_failed, keep_reads)
    assert new == old


def test_the_examples_cover_every_outcome():
    """The property above reaches each way a transfer ends (guards against a generator that
    only ever makes one kind)."""
    seen = set()
    for balance, fee_offset, amount, charge_failed in [(10**6, 0, 5, False), (0, 0, 5, False), (400, 0, 200, True),
                                                       (400, 0, 200, False), (10**6, -1, 5, False)]:
        tx = transfer(KEYS["bob"].address, amount, fee_offset=fee_offset)
        result = outcome(transition.execute, base_store(balance, 0, None, 0), tx, charge_failed, True)
        seen.add(result[0] if result[0] == "applied" else (result[1].__name__, result[4]))
    assert seen == {"applied", ("InsufficientFunds", False), ("InsufficientFunds", True), ("FeeTooLow", False)}


def test_a_failed_charged_transfer_keeps_the_charge_only():
    """A transfer over the balance left after its fee, in a block: nonce used, fee burned,
    nothing moved, only the message event."""
    to = KEYS["bob"].address
    tx = transfer(to, 250)
    fee = tx.fee
    store = base_store(fee + 100, 0, None, 0)
    block = State(Overlay(store), 6, 0, CHAIN_ID)
    try:
        transition.execute(block, tx, charge_failed=True)
    except TxError as err:
        assert err.charged and [e.type for e in err.events] == [events.MESSAGE]
    else:
        raise AssertionError("the transfer should have failed")
    assert st.get_account(block, KEYS["alice"].address) == Account(balance=100, nonce=1)
    assert st.get_account(block, to) is None
    assert st.get_supply(block).fees == fee
    assert records.decode(Account, block.store.changes[(st.ACCOUNT_PREFIX + KEYS["alice"].address).encode()]).nonce == 1
