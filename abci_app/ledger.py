"""Balances, escrow, stake and fees: every movement of money goes through here.

Supply accounting: `Supply.total` is fixed at genesis; escrow, stake (bonded
and unbonding), burned stake and burned fees are running totals, so
balances = total - escrow - staked - burned - fees at every height.
"""

from __future__ import annotations

from aitbc.abci_app import events, state as st
from aitbc.abci_app.records import Account, evolve
from aitbc.abci_app.state import State
from aitbc.errors import InsufficientFunds, UnknownAccount


def credit(state: State, address: str, amount: int) -> None:
    """Add to a balance, creating the account on first receipt of funds."""
    st.add_to_account(state, address, balance=amount)


def debit(state: State, address: str, amount: int) -> None:
    """Take from a balance. Raises UnknownAccount, InsufficientFunds."""
    account = st.get_account(state, address)
    if account is None:
        raise UnknownAccount(address)
    if account.balance < amount:
        raise InsufficientFunds(address, amount, account.balance)
    st.set_account(state, address, evolve(account, balance=account.balance - amount))


def charged_transfer(state: State, sender: str, account: Account, fee: int, recipient: str, amount: int) -> None:
    """A transfer tx past its ante checks: `charge_tx` and then `amount` moved to `recipient`,
    with the sender's account (`account`, as the ante step read it) written once instead of
    twice. The same writes and events as the two steps one after the other; a transfer is
    most of the txs a busy chain checks. Raises InsufficientFunds, and writes nothing then."""
    if account.balance < fee:
        raise InsufficientFunds(sender, fee, account.balance)
    after = _charged(account, fee)
    if after.balance < amount:
        raise InsufficientFunds(sender, amount, after.balance)
    st.set_account(state, sender, evolve(after, balance=after.balance - amount))
    if fee:
        _burn_fee(state, fee)
    credit(state, recipient, amount)
    state.events.append(events.transfer(recipient, amount))


def lock_escrow(state: State, job_id: str, client: str, amount: int) -> None:
    """Lock a job's max reward. Raises UnknownAccount, InsufficientFunds."""
    debit(state, client, amount)
    st.set_escrow(state, job_id, amount)
    supply = st.get_supply(state)
    st.set_supply(state, evolve(supply, escrow=supply.escrow + amount))
    state.events.append(events.event(events.ESCROW, job_id=job_id, action="lock", amount=amount))


def settle_escrow(state: State, job_id: str, client: str, miner: str, payment: int) -> int:
    """Close a job's escrow: `payment` to the miner, the rest back to the client.

    Returns the refund. The caller guarantees 0 <= payment <= escrow.
    """
    locked = st.get_escrow(state, job_id)
    assert locked is not None and 0 <= payment <= locked, "escrow settled twice or overpaid"
    refund = locked - payment
    st.delete_escrow(state, job_id)
    supply = st.get_supply(state)
    st.set_supply(state, evolve(supply, escrow=supply.escrow - locked))
    if payment:
        credit(state, miner, payment)
    if refund:
        credit(state, client, refund)
    state.events.append(events.event(events.ESCROW, job_id=job_id, action="settle", paid=payment, refunded=refund))
    return refund


def release_escrow(state: State, job_id: str, address: str, amount: int) -> None:
    """Pay part of a job's escrow out (a checker's fee) while the job stays open."""
    locked = st.get_escrow(state, job_id)
    assert locked is not None and 0 <= amount <= locked, "escrow overdrawn"
    st.set_escrow(state, job_id, locked - amount)
    supply = st.get_supply(state)
    st.set_supply(state, evolve(supply, escrow=supply.escrow - amount))
    if amount:
        credit(state, address, amount)


def burn_escrow(state: State, job_id: str, amount: int) -> None:
    """Destroy part of a job's escrow (a held payment nobody earned) while the job stays open."""
    locked = st.get_escrow(state, job_id)
    assert locked is not None and 0 <= amount <= locked, "escrow overdrawn"
    st.set_escrow(state, job_id, locked - amount)
    supply = st.get_supply(state)
    st.set_supply(state, evolve(supply, escrow=supply.escrow - amount, burned=supply.burned + amount))


def bond(state: State, address: str, amount: int) -> None:
    """Lock stake from a balance. Raises UnknownAccount, InsufficientFunds."""
    debit(state, address, amount)
    supply = st.get_supply(state)
    st.set_supply(state, evolve(supply, staked=supply.staked + amount))


def release_stake(state: State, address: str, amount: int) -> None:
    """Pay unbonded stake back to a balance (at the end of its unbonding period)."""
    supply = st.get_supply(state)
    st.set_supply(state, evolve(supply, staked=supply.staked - amount))
    credit(state, address, amount)


def take_stake(state: State, amount: int, beneficiary: str, to_beneficiary: int) -> None:
    """Remove slashed stake: `to_beneficiary` of it credited to `beneficiary`, the rest burned.

    The caller has already lowered the miner's own stake by `amount`.
    """
    assert 0 <= to_beneficiary <= amount
    supply = st.get_supply(state)
    st.set_supply(state, evolve(supply, staked=supply.staked - amount,
                                 burned=supply.burned + amount - to_beneficiary))
    if to_beneficiary:
        credit(state, beneficiary, to_beneficiary)


def pay_fee(state: State, address: str, fee: int) -> None:
    """Burn a tx's fee from its signer's balance. Raises UnknownAccount, InsufficientFunds."""
    if not fee:
        return
    debit(state, address, fee)
    _burn_fee(state, fee)


def charge_tx(state: State, address: str, account: Account, fee: int) -> None:
    """The ante step's write: `account` (the signer's, as read) with its nonce used and `fee`
    burned, in one write. Raises InsufficientFunds."""
    if account.balance < fee:
        raise InsufficientFunds(address, fee, account.balance)
    st.set_account(state, address, _charged(account, fee))
    if fee:
        _burn_fee(state, fee)


def _charged(account: Account, fee: int) -> Account:
    """The signer's account after the ante step: its nonce used and `fee` taken."""
    return evolve(account, balance=account.balance - fee, nonce=account.nonce + 1)


def _burn_fee(state: State, fee: int) -> None:
    st.add_to_supply(state, fees=fee)
