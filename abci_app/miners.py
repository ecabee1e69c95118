"""Miners: registration, offers, unbonding, slashing and jail.

A miner's stake answers for its work. It cannot leave faster than its work can
be judged: unbonded stake waits `unbonding_period_s` (longer than a job's
timeout plus a check window) and can be slashed meanwhile. Its history
(completed, failed, expired, slashed) follows the address for good, through
unbonding and re-registering. Repeated faults jail it for a while.
"""

from __future__ import annotations

from dataclasses import replace

from aitbc.abci_app import events, ledger, state as st
from aitbc.abci_app.records import Miner, Params
from aitbc.abci_app.state import State
from aitbc.errors import InvalidField, MinerBusy, MinerExists, MinerNotFound, StakeTooLow
from aitbc.tx import SignedTx

BPS = 10_000
NS = 1_000_000_000


def rate_for(miner: Miner, model: str, params: Params) -> int:
    """The miner's declared ceiling in ms per token for `model` (the chain's maximum when undeclared)."""
    return min(miner.ms_per_token.get(model, params.max_ms_per_token), params.max_ms_per_token)


def is_jailed(miner: Miner, time_ns: int) -> bool:
    return miner.jailed_until_ns > time_ns


def stake_weighted(pool: list[Miner], seed: bytes) -> Miner | None:
    """One miner of `pool` (in a fixed order), each with odds of its stake: the chain's only draw.

    `seed` fixes the outcome, so every node draws the same miner; None when the pool has no stake.
    """
    total = sum(m.stake for m in pool)
    if not total:
        return None
    point = int.from_bytes(seed, "big") % total
    for miner in pool:
        if point < miner.stake:
            return miner
        point -= miner.stake
    raise AssertionError("stake-weighted draw fell off the pool")


def _check_offer(msg, params: Params) -> dict[str, int]:
    """Stateful limits of an offer. Raises InvalidField."""
    if msg.capacity > params.max_capacity:
        raise InvalidField("capacity", f"at most {params.max_capacity} jobs at once (params.max_capacity)")
    rates = dict(sorted(msg.ms_per_token.items()))
    for model, ms in rates.items():
        if ms > params.max_ms_per_token:
            raise InvalidField("ms_per_token", f"{model}: {ms} ms is above the chain's ceiling of "
                               f"{params.max_ms_per_token} ms per token")
    return rates


def register(state: State, tx: SignedTx) -> None:
    """Raises MinerExists, StakeTooLow, InvalidField, InsufficientFunds."""
    msg = tx.msg
    params = st.get_params(state)
    previous = st.get_miner(state, tx.sender)
    if previous is not None and previous.stake > 0:
        raise MinerExists(tx.sender)
    if msg.stake < params.min_miner_stake:
        raise StakeTooLow(params.min_miner_stake, msg.stake)
    rates = _check_offer(msg, params)
    ledger.bond(state, tx.sender, msg.stake)
    offer = dict(address=tx.sender, public_key=tx.public_key.hex(), stake=msg.stake, models=tuple(msg.models),
                 price_per_second=msg.price_per_second, capacity=msg.capacity, endpoint=msg.endpoint,
                 registered_height=state.height, ms_per_token=rates, encryption_key=msg.encryption_key.hex())
    # A miner that unbonded and comes back keeps its record: reputation, slashes,
    # strikes, jail and any stake still unbonding.
    miner = replace(previous, **offer) if previous is not None else Miner(**offer)
    st.set_miner(state, miner)
    state.events.append(events.event(events.MINER, address=tx.sender, action="register", stake=msg.stake))


def update(state: State, tx: SignedTx) -> None:
    """Replace the offer and optionally add stake. Raises MinerNotFound, InvalidField, InsufficientFunds.

    The encryption key is part of the offer: an update without one takes no more direct jobs.
    """
    msg = tx.msg
    miner = st.get_miner(state, tx.sender)
    if miner is None or miner.stake == 0:
        raise MinerNotFound(tx.sender)
    rates = _check_offer(msg, st.get_params(state))
    if msg.add_stake:
        ledger.bond(state, tx.sender, msg.add_stake)
    # Jobs and checks already assigned keep the price and rate fixed into them.
    st.set_miner(state, replace(
        miner, models=tuple(msg.models), price_per_second=msg.price_per_second, capacity=msg.capacity,
        endpoint=msg.endpoint, stake=miner.stake + msg.add_stake, ms_per_token=rates,
        encryption_key=msg.encryption_key.hex(),
    ))
    state.events.append(events.event(events.MINER, address=tx.sender, action="update", stake=miner.stake + msg.add_stake))


def unbond(state: State, tx: SignedTx) -> None:
    """Stop offering and start the unbonding period of the whole stake. Raises MinerNotFound, MinerBusy."""
    miner = st.get_miner(state, tx.sender)
    if miner is None or miner.stake == 0:
        raise MinerNotFound(tx.sender)
    if miner.active_jobs:
        raise MinerBusy(tx.sender, miner.active_jobs)
    params = st.get_params(state)
    release = state.time_ns + params.unbonding_period_s * NS
    if miner.unbonding:
        state.store.delete(st.unbonding_key(miner.unbonding_release_ns, miner.address))
    state.store.set(st.unbonding_key(release, miner.address), b"")
    # The record stays (stake 0, no models) so that its history survives. The release also
    # waits for the last check window it may be judged in, which counts blocks, not seconds:
    # slow blocks must not let stake out before a check decides.
    st.set_miner(state, replace(miner, stake=0, models=(), capacity=0, unbonding=miner.unbonding + miner.stake,
                                unbonding_release_ns=release,
                                unbonding_release_height=state.height + params.check_window_blocks + 1))
    state.events.append(events.event(events.MINER, address=tx.sender, action="unbond", stake=miner.stake,
                                     release_ns=release))


def release_unbonded(state: State) -> list[str]:
    """Pay out every unbonding whose period ended at or before this block's time and height."""
    due = st.last_segments(state, st.unbondings_due(state.time_ns))
    released = []
    for address in due:
        miner = st.get_miner(state, address)
        assert miner is not None and miner.unbonding_release_ns <= state.time_ns, f"unbonding index: {address}"
        if miner.unbonding_release_height > state.height:
            continue  # a check window may still be open: wait for its height
        released.append(address)
        state.store.delete(st.unbonding_key(miner.unbonding_release_ns, address))
        if miner.unbonding:
            ledger.release_stake(state, address, miner.unbonding)
        st.set_miner(state, replace(miner, unbonding=0, unbonding_release_ns=0, unbonding_release_height=0))
        state.events.append(events.event(events.MINER, address=address, action="unbonded", amount=miner.unbonding))
    return released


def slash(state: State, address: str, bps: int, beneficiary: str, job_id: str, why: str,
          beneficiary_cap: int = 0, owed: int = 0) -> int:
    """Take `bps` of a miner's bonded and unbonding stake (bonded first); `slash_to_client_bps` of it,
    at most `beneficiary_cap`, to `beneficiary`, or what it is `owed` (a payment it made for a
    result proven unreadable) when that is more; the rest burned. Counts a strike, and jails the
    miner when it has too many. Returns the amount."""
    params = st.get_params(state)
    miner = st.get_miner(state, address)
    assert miner is not None, f"slashing unknown miner {address}"
    amount = (miner.stake + miner.unbonding) * bps // BPS
    from_stake = min(amount, miner.stake)
    miner = replace(miner, stake=miner.stake - from_stake, unbonding=miner.unbonding - (amount - from_stake),
                    slashed=miner.slashed + int(why == "wrong result"),
                    expired=miner.expired + int(why == "expired"))
    # Capped, so that a client gains at most what its job was worth from a slash it may have arranged.
    to_beneficiary = min(amount, max(owed, min(amount * params.slash_to_client_bps // BPS, beneficiary_cap)))
    ledger.take_stake(state, amount, beneficiary, to_beneficiary)
    st.set_miner(state, _strike(state, miner, params))
    state.events.append(events.event(events.SLASH, miner=address, job_id=job_id, amount=amount, reason=why,
                                     to_client=to_beneficiary, burned=amount - to_beneficiary))
    return amount


def strike(state: State, address: str) -> None:
    """A fault that costs no stake (a miner giving up a job it took) but counts towards jail."""
    miner = st.get_miner(state, address)
    assert miner is not None
    st.set_miner(state, _strike(state, miner, st.get_params(state)))


def _strike(state: State, miner: Miner, params: Params) -> Miner:
    strikes = miner.strikes + 1
    if strikes < params.jail_strikes:
        return replace(miner, strikes=strikes)
    until = state.time_ns + params.jail_duration_s * NS
    state.events.append(events.event(events.MINER, address=miner.address, action="jail", until_ns=until))
    return replace(miner, strikes=0, jailed_until_ns=until)
