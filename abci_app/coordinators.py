"""Coordinators: who may assign a job and record its receipt.

The genesis coordinator (`meta/coordinator`) has no record and no bond. Any
other address joins by locking at least `min_coordinator_bond` and leaves by
taking it back once no job naming it is open: `open_jobs` counts them from
submit to a final status, so a coordinator cannot walk away from jobs whose
clients chose it (the chain still refunds them at their deadlines if it dies).
"""

from __future__ import annotations

from dataclasses import replace

from aitbc.abci_app import events, ledger, state as st
from aitbc.abci_app.records import Coordinator, Job
from aitbc.abci_app.state import State
from aitbc.errors import CoordinatorBusy, CoordinatorExists, StakeTooLow, Unauthorized, UnknownCoordinator
from aitbc.tx import SignedTx


def is_coordinator(state: State, address: str) -> bool:
    """The genesis coordinator, or a registered one."""
    return bool(address) and (address == st.get_coordinator(state)
                              or st.get_registered_coordinator(state, address) is not None)


def of_job(state: State, job: Job) -> str:
    """The address that alone may assign `job` and record its receipt; "" for a direct job.

    A coordinator job stores its coordinator; jobs from before there were several
    name nobody, and were the genesis coordinator's.
    """
    if job.is_direct:
        return ""
    return job.coordinator or st.get_coordinator(state)


def for_new_job(state: State, named: str) -> str:
    """The coordinator a new (not direct) job names: `named`, or the genesis one for "".

    Raises UnknownCoordinator for an address that is neither (or when the chain has no
    genesis coordinator and none is named).
    """
    address = named or st.get_coordinator(state)
    if not is_coordinator(state, address):
        raise UnknownCoordinator(address)
    return address


def count_open_job(state: State, address: str, delta: int) -> None:
    """Count a job naming `address` opening (+1) or reaching a final status (-1).

    Only registered coordinators keep the count (the genesis one never leaves).
    """
    coordinator = st.get_registered_coordinator(state, address) if address else None
    if coordinator is None:
        return
    assert coordinator.open_jobs + delta >= 0, f"coordinator {address} closed more jobs than it had"
    st.set_registered_coordinator(state, replace(coordinator, open_jobs=coordinator.open_jobs + delta))


def register(state: State, tx: SignedTx) -> None:
    """Lock the bond and list the coordinator. Raises CoordinatorExists, StakeTooLow, InsufficientFunds."""
    if is_coordinator(state, tx.sender):
        raise CoordinatorExists(tx.sender)
    minimum = st.get_params(state).min_coordinator_bond
    if tx.msg.bond < minimum:
        raise StakeTooLow(minimum, tx.msg.bond)
    ledger.bond(state, tx.sender, tx.msg.bond)  # counted in Supply.staked, like a miner's stake
    st.set_registered_coordinator(state, Coordinator(address=tx.sender, url=tx.msg.url, bond=tx.msg.bond,
                                                     registered_height=state.height))
    state.events.append(events.event(events.COORDINATOR, address=tx.sender, action="register",
                                     url=tx.msg.url, bond=tx.msg.bond))


def unregister(state: State, tx: SignedTx) -> None:
    """Return the bond and drop the record. Raises Unauthorized, UnknownCoordinator, CoordinatorBusy."""
    if tx.sender == st.get_coordinator(state):
        raise Unauthorized(tx.sender, "unregister", "a registered coordinator (the genesis one has no record)")
    coordinator = st.get_registered_coordinator(state, tx.sender)
    if coordinator is None:
        raise UnknownCoordinator(tx.sender)
    if coordinator.open_jobs:
        raise CoordinatorBusy(tx.sender, coordinator.open_jobs)
    ledger.release_stake(state, tx.sender, coordinator.bond)
    st.delete_registered_coordinator(state, tx.sender)
    state.events.append(events.event(events.COORDINATOR, address=tx.sender, action="unregister",
                                     bond=coordinator.bond))
