"""Coordinators: who may assign a job and record its receipt.

The genesis coordinator (`meta/coordinator`) has no record and no bond. Any
other address joins by locking at least `min_coordinator_bond`. `open_jobs`
counts the jobs naming it from submit to a final status. `unregister` with no
job open returns the bond at once; with jobs open the coordinator is *leaving*:
new jobs may no longer name it, it still serves (or fails) the open ones, and
the bond comes back when the last of them closes (`count_open_job`, the one
place every job's close passes). So nobody can keep a coordinator's bond locked
by submitting jobs that name it (each would expire and be refunded, costing the
griefer only fees), and no coordinator walks away from jobs its clients chose
before they close (the chain still refunds them at their deadlines if it dies).
"""

from __future__ import annotations

from dataclasses import replace

from aitbc.abci_app import events, ledger, state as st
from aitbc.abci_app.records import Coordinator, Job
from aitbc.abci_app.state import State
from aitbc.errors import CoordinatorExists, CoordinatorLeaving, StakeTooLow, Unauthorized, UnknownCoordinator
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
    genesis coordinator and none is named), CoordinatorLeaving for one that unregistered.
    """
    address = named or st.get_coordinator(state)
    if not is_coordinator(state, address):
        raise UnknownCoordinator(address)
    registered = st.get_registered_coordinator(state, address)
    if registered is not None and registered.leaving_height:
        raise CoordinatorLeaving(address, registered.open_jobs)
    return address


def count_open_job(state: State, address: str, delta: int) -> None:
    """Count a job naming `address` opening (+1) or reaching a final status (-1); the last job of
    a leaving coordinator to close returns its bond.

    Only registered coordinators keep the count (the genesis one never leaves).
    """
    coordinator = st.get_registered_coordinator(state, address) if address else None
    if coordinator is None:
        return
    assert coordinator.open_jobs + delta >= 0, f"coordinator {address} closed more jobs than it had"
    coordinator = replace(coordinator, open_jobs=coordinator.open_jobs + delta)
    if coordinator.leaving_height and not coordinator.open_jobs:
        _leave(state, coordinator)
    else:
        st.set_registered_coordinator(state, coordinator)


def register(state: State, tx: SignedTx) -> None:
    """Lock the bond and list the coordinator. Raises CoordinatorExists (also while it is leaving),
    StakeTooLow, InsufficientFunds."""
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
    """Return the bond and drop the record; with jobs open, start leaving instead (the bond comes
    back when the last closes). Raises Unauthorized, UnknownCoordinator, CoordinatorLeaving."""
    if tx.sender == st.get_coordinator(state):
        raise Unauthorized(tx.sender, "unregister", "a registered coordinator (the genesis one has no record)")
    coordinator = st.get_registered_coordinator(state, tx.sender)
    if coordinator is None:
        raise UnknownCoordinator(tx.sender)
    if coordinator.leaving_height:
        raise CoordinatorLeaving(tx.sender, coordinator.open_jobs)
    if not coordinator.open_jobs:
        _leave(state, coordinator)
        return
    st.set_registered_coordinator(state, replace(coordinator, leaving_height=state.height))
    state.events.append(events.event(events.COORDINATOR, address=tx.sender, action="leaving",
                                     open_jobs=coordinator.open_jobs))


def _leave(state: State, coordinator: Coordinator) -> None:
    """Return the bond of a coordinator with no job open and drop its record."""
    ledger.release_stake(state, coordinator.address, coordinator.bond)
    st.delete_registered_coordinator(state, coordinator.address)
    state.events.append(events.event(events.COORDINATOR, address=coordinator.address, action="unregister",
                                     bond=coordinator.bond))
