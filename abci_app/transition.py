"""The pure state transition: genesis, one tx, the start of a block.

No clock, no randomness, no network, no floats: everything comes from the
state, the block (height, time) and the txs. Transport and storage are
elsewhere, so the tests can call this directly.
"""

from __future__ import annotations

from typing import Callable

from aitbc.abci_app import assignment, checks, coordinators, events, jobs, ledger, miners, state as st
from aitbc.abci_app.events import Event
from aitbc.abci_app.records import Account, Genesis, Supply
from aitbc.abci_app.state import State
from aitbc.errors import BadNonce, FeeTooLow, InsufficientFunds, TxError, UnknownAccount, WrongChainId
from aitbc.tx import SignedTx, required_fee

# A transfer's handler makes the ante step's write too (ledger.charged_transfer): its sender's
# account is written once, not twice, on the path most txs of a busy chain take.
CHARGING_HANDLERS: dict[str, Callable[[State, SignedTx, Account], None]] = {
    "transfer": lambda s, tx, account: ledger.charged_transfer(s, tx.sender, account, tx.fee, tx.msg.to,
                                                               tx.msg.amount),
}
HANDLERS: dict[str, Callable[[State, SignedTx], None]] = {
    "register_miner": miners.register,
    "update_miner": miners.update,
    "unbond": miners.unbond,
    "submit_job": jobs.submit,
    "cancel_job": jobs.cancel,
    "assign_job": jobs.assign,
    "record_receipt": jobs.record_receipt,
    "fail_job": jobs.fail,
    "assign_check": jobs.assign_check,
    "record_check": jobs.record_check,
    "decline_job": jobs.decline,
    "share_job_key": jobs.share_key,
    "register_coordinator": coordinators.register,
    "unregister_coordinator": coordinators.unregister,
    "dispute_result": jobs.dispute_result,
}


def init_genesis(state: State, genesis: Genesis, chain_id: str) -> None:
    """Write genesis accounts, parameters and the coordinator's address."""
    st.set_chain_id(state, chain_id)
    st.set_params(state, genesis.params)
    st.set_coordinator(state, genesis.coordinator)
    for address, balance in sorted(genesis.accounts.items()):
        st.set_account(state, address, Account(balance=balance))
    st.set_supply(state, Supply(total=sum(genesis.accounts.values())))


def begin_block(state: State) -> list[Event]:
    """Block-level work before the txs: expire overdue jobs and lapsed checks, pay out
    finished unbondings, draw checkers for checks still waiting for one, then miners for
    direct jobs still waiting for one. Returns its events."""
    state.events = []
    jobs.expire_overdue(state)
    jobs.expire_checks(state)
    miners.release_unbonded(state)
    checks.seat_waiting_checkers(state)
    assignment.assign_waiting(state)
    return state.events


def apply_tx(state: State, tx: SignedTx, charge_failed: bool = False) -> list[Event]:
    """Apply one decoded, signature-checked tx; returns its events.

    First the ante step (chain id, account, nonce, fee: the nonce is used and the
    fee burned), then the message. A tx refused by the ante step writes nothing.
    A tx whose message fails writes nothing either, unless `charge_failed`
    (FinalizeBlock): then, as in cosmos-sdk, its nonce stays used and its fee
    burned, so it costs its sender and its bytes can never be replayed later.
    CheckTx leaves it False: a refused tx never enters the mempool.
    Raises TxError subclasses; `err.charged` tells whether the ante step was kept.
    """
    work = execute(state, tx, charge_failed)
    work.store.merge_into_parent()
    return work.events


def execute(state: State, tx: SignedTx, charge_failed: bool = False, keep_reads: bool = False) -> State:
    """`apply_tx` up to its last step: the tx's own overlay (its writes, not yet merged
    into `state`) and its events, so the caller can see what the tx wrote (and, with
    `keep_reads`, what it read: a ReadingOverlay).

    Both steps write to that one overlay (every layer is a lookup on each read of the
    tx). A message that fails and is charged leaves nothing of its own: the ante step is
    made again, alone, on `state`.
    """
    if tx.chain_id != state.chain_id:
        raise WrongChainId(state.chain_id, tx.chain_id)
    work = state.child(keep_reads)
    account = st.get_account(work, tx.sender)
    if account is None:
        raise UnknownAccount(tx.sender)
    if tx.nonce != account.nonce:
        raise BadNonce(tx.sender, account.nonce, tx.nonce)
    params = st.get_params(work)
    needed = required_fee(len(tx.raw), params.min_fee, params.fee_per_byte)
    if tx.fee < needed:
        raise FeeTooLow(tx.fee, needed, len(tx.raw))
    if account.balance < tx.fee:
        raise InsufficientFunds(tx.sender, tx.fee, account.balance)
    message = events.message(tx.sender, tx.kind, tx.fee)
    try:
        charging = CHARGING_HANDLERS.get(tx.kind)
        if charging is not None:
            work.events.append(message)
            charging(work, tx, account)
        else:
            ledger.charge_tx(work, tx.sender, account, tx.fee)
            work.events.append(message)
            HANDLERS[tx.kind](work, tx)
    except TxError as err:
        if charge_failed:
            # The ante step alone, on the state the tx started from: its writes are what
            # they were before the message ran, whatever the message wrote meanwhile.
            charged = state.child()
            ledger.charge_tx(charged, tx.sender, account, tx.fee)
            charged.events.append(message)
            charged.store.merge_into_parent()
            err.charged, err.events = True, charged.events  # observers see who paid what for a failed tx
        raise
    return work
