"""Miner registration: stake, models offered, price, capacity, endpoint."""

from __future__ import annotations

from dataclasses import replace

from abci_app import events, ledger, state as st
from abci_app.records import Miner
from abci_app.state import State
from aitbc.errors import MinerBusy, MinerExists, MinerNotFound, StakeTooLow
from aitbc.tx import SignedTx


def register(state: State, tx: SignedTx) -> None:
    """Raises MinerExists, StakeTooLow, InsufficientFunds."""
    msg = tx.msg
    previous = st.get_miner(state, tx.sender)
    if previous is not None and previous.stake > 0:
        raise MinerExists(tx.sender)
    minimum = st.get_params(state).min_miner_stake
    if msg.stake < minimum:
        raise StakeTooLow(minimum, msg.stake)
    ledger.bond(state, tx.sender, msg.stake)
    # A miner that unbonded and comes back keeps its record, reputation included.
    st.set_miner(state, Miner(
        address=tx.sender, public_key=tx.public_key.hex(), stake=msg.stake, models=tuple(msg.models),
        price_per_second=msg.price_per_second, capacity=msg.capacity, endpoint=msg.endpoint,
        registered_height=state.height,
        completed=previous.completed if previous else 0, failed=previous.failed if previous else 0,
    ))
    state.events.append(events.event(events.MINER, address=tx.sender, action="register", stake=msg.stake))


def update(state: State, tx: SignedTx) -> None:
    """Replace the offer and optionally add stake. Raises MinerNotFound, InsufficientFunds."""
    msg = tx.msg
    miner = st.get_miner(state, tx.sender)
    if miner is None or miner.stake == 0:
        raise MinerNotFound(tx.sender)
    if msg.add_stake:
        ledger.bond(state, tx.sender, msg.add_stake)
    st.set_miner(state, replace(
        miner, models=tuple(msg.models), price_per_second=msg.price_per_second, capacity=msg.capacity,
        endpoint=msg.endpoint, stake=miner.stake + msg.add_stake,
    ))
    state.events.append(events.event(events.MINER, address=tx.sender, action="update", stake=miner.stake + msg.add_stake))


def unbond(state: State, tx: SignedTx) -> None:
    """Return the whole stake and stop offering. Raises MinerNotFound, MinerBusy."""
    miner = st.get_miner(state, tx.sender)
    if miner is None or miner.stake == 0:
        raise MinerNotFound(tx.sender)
    if miner.active_jobs:
        raise MinerBusy(tx.sender, miner.active_jobs)
    ledger.unbond(state, tx.sender, miner.stake)
    # The record stays (stake 0, no models) so that reputation survives.
    st.set_miner(state, replace(miner, stake=0, models=(), capacity=0))
    state.events.append(events.event(events.MINER, address=tx.sender, action="unbond", stake=miner.stake))
