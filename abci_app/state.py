"""Typed access to the state held in an Overlay.

Every function takes the State first. Key layout (all under one keyspace,
which is what the app hash covers):

    acct/<address>            Account
    miner/<address>           Miner
    job/<id>                  Job
    escrow/<job id>           locked amount (exists exactly while the job is open)
    dl/<deadline ns>/<job id> expiry index of pending and assigned jobs
    cw/<height>/<job id>      window of jobs under a spot check
    ck/<job id>               jobs under check waiting for the chain to draw a checker
    ub/<release ns>/<address> unbonding stake, paid out at that block time
    am/<job id>               direct jobs waiting for the chain to assign a candidate miner
    coord/<address>           Coordinator (registered; the genesis one is meta/coordinator)
    rcpt/<id>                 Receipt
    meta/params, meta/coordinator, meta/supply, meta/chain_id, meta/assign_cursor

Every key and range builder is here, beside the accessors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aitbc.abci_app import records
from aitbc.abci_app.events import Event
from aitbc.abci_app.records import Account, Coordinator, Job, Miner, Params, Receipt, Supply
from aitbc.abci_app.store import Overlay, ReadingOverlay


@dataclass
class State:
    """The state a tx or block works on, and what it happens in."""

    store: Overlay
    height: int = 0
    time_ns: int = 0
    chain_id: str = ""
    events: list[Event] = field(default_factory=list)
    block_hash: bytes = b""  # of the block being finalized; empty in CheckTx

    def child(self, keep_reads: bool = False) -> "State":
        """A nested overlay for one tx: merged on success, dropped on error; a ReadingOverlay
        when `keep_reads`."""
        overlay = ReadingOverlay(self.store) if keep_reads else Overlay(self.store)
        return State(overlay, self.height, self.time_ns, self.chain_id, block_hash=self.block_hash)


def _get(state: State, key: str, cls):
    data = state.store.get(key.encode())
    return None if data is None else records.decode(cls, data)


def _add(state: State, key: str, cls, **amounts: int) -> None:
    """Add `amounts` to fields of the record of ints at `key` (at its defaults when absent),
    telling the overlay that nothing is decided on its value (Overlay.get_to_add)."""
    encoded = key.encode()
    state.store.set_added(encoded, records.plus(cls, state.store.get_to_add(encoded, cls, amounts), amounts))


def _put(state: State, key: str, record) -> None:
    state.store.set(key.encode(), records.encode(record))


# Prefixes of the record kinds that audits and paged queries walk in key order.
ACCOUNT_PREFIX, MINER_PREFIX, JOB_PREFIX, ESCROW_PREFIX, RECEIPT_PREFIX = "acct/", "miner/", "job/", "escrow/", "rcpt/"
COORDINATOR_PREFIX = "coord/"


def prefix_range(prefix: str) -> tuple[bytes, bytes]:
    """Every key under `prefix` (which ends in '/'; the stop's '0' sorts right after '/')."""
    return prefix.encode(), (prefix[:-1] + "0").encode()


def get_account(state: State, address: str) -> Account | None:
    return _get(state, ACCOUNT_PREFIX + address, Account)


def add_to_account(state: State, address: str, **amounts: int) -> None:
    """Add to an account's fields (creating it), deciding nothing on them: a credit."""
    _add(state, ACCOUNT_PREFIX + address, Account, **amounts)


def set_account(state: State, address: str, account: Account) -> None:
    _put(state, ACCOUNT_PREFIX + address, account)


def get_miner(state: State, address: str) -> Miner | None:
    return _get(state, MINER_PREFIX + address, Miner)


def set_miner(state: State, miner: Miner) -> None:
    _put(state, MINER_PREFIX + miner.address, miner)


def get_job(state: State, job_id: str) -> Job | None:
    return _get(state, JOB_PREFIX + job_id, Job)


def set_job(state: State, job: Job) -> None:
    _put(state, JOB_PREFIX + job.id, job)


def get_receipt(state: State, receipt_id: str) -> Receipt | None:
    return _get(state, RECEIPT_PREFIX + receipt_id, Receipt)


def set_receipt(state: State, receipt: Receipt) -> None:
    _put(state, RECEIPT_PREFIX + receipt.id, receipt)


def get_escrow(state: State, job_id: str) -> int | None:
    data = state.store.get((ESCROW_PREFIX + job_id).encode())
    return None if data is None else int(data)


def set_escrow(state: State, job_id: str, amount: int) -> None:
    state.store.set((ESCROW_PREFIX + job_id).encode(), str(amount).encode())


def delete_escrow(state: State, job_id: str) -> None:
    state.store.delete((ESCROW_PREFIX + job_id).encode())


def deadline_key(deadline_ns: int, job_id: str) -> bytes:
    return f"dl/{deadline_ns:020d}/{job_id}".encode()


# Range stops end in '0', which sorts right after '/': an entry due exactly now is included.
def deadlines_due(time_ns: int) -> tuple[bytes, bytes]:
    return b"dl/", f"dl/{time_ns:020d}0".encode()


ALL_DEADLINES = (b"dl/", b"dl0")


def move_deadline(state: State, job_id: str, old_ns: int, new_ns: int | None) -> None:
    """Re-index an open job's expiry from `old_ns` to `new_ns` (None: the job left the index)."""
    state.store.delete(deadline_key(old_ns, job_id))
    if new_ns is not None:
        state.store.set(deadline_key(new_ns, job_id), b"")


def check_window_key(deadline_height: int, job_id: str) -> bytes:
    return f"cw/{deadline_height:012d}/{job_id}".encode()


def check_windows_due(height: int) -> tuple[bytes, bytes]:
    return b"cw/", f"cw/{height:012d}0".encode()


ALL_CHECK_WINDOWS = (b"cw/", b"cw0")


def awaiting_checker_key(job_id: str) -> bytes:
    return f"ck/{job_id}".encode()


AWAITING_CHECKER = (b"ck/", b"ck0")


def awaiting_miner_key(job_id: str) -> bytes:
    return f"am/{job_id}".encode()


AWAITING_MINER = (b"am/", b"am0")
# The last job of the am/ index a block start tried, when it could not try them all: the
# next block start goes on from there, so jobs nobody can take do not starve the others.
ASSIGN_CURSOR = b"meta/assign_cursor"


def get_assign_cursor(state: State) -> str:
    data = state.store.get(ASSIGN_CURSOR)
    return data.decode() if data else ""


def set_assign_cursor(state: State, job_id: str) -> None:
    if job_id:
        state.store.set(ASSIGN_CURSOR, job_id.encode())
    elif state.store.get(ASSIGN_CURSOR) is not None:
        state.store.delete(ASSIGN_CURSOR)


def unbonding_key(release_ns: int, address: str) -> bytes:
    return f"ub/{release_ns:020d}/{address}".encode()


def unbondings_due(time_ns: int) -> tuple[bytes, bytes]:
    return b"ub/", f"ub/{time_ns:020d}0".encode()


MINERS = prefix_range(MINER_PREFIX)


def last_segments(state: State, key_range: tuple[bytes, bytes], limit: int | None = None) -> list[str]:
    """The last '/'-separated part (a job id or an address) of each key in `key_range`, in key order."""
    found = []
    for key, _ in state.store.iterate(*key_range):
        found.append(key.decode().rsplit("/", 1)[1])
        if limit is not None and len(found) >= limit:
            break
    return found


def all_miners(state: State) -> list[Miner]:
    """Every miner record, in address order."""
    return [records.decode(Miner, value) for _, value in state.store.iterate(*MINERS)]


def get_registered_coordinator(state: State, address: str) -> Coordinator | None:
    return _get(state, COORDINATOR_PREFIX + address, Coordinator)


def set_registered_coordinator(state: State, coordinator: Coordinator) -> None:
    _put(state, COORDINATOR_PREFIX + coordinator.address, coordinator)


def delete_registered_coordinator(state: State, address: str) -> None:
    state.store.delete((COORDINATOR_PREFIX + address).encode())


def all_registered_coordinators(state: State) -> list[Coordinator]:
    """Every registered coordinator, in address order (bounded by the bond each locks)."""
    return [records.decode(Coordinator, value)
            for _, value in state.store.iterate(*prefix_range(COORDINATOR_PREFIX))]


def get_params(state: State) -> Params:
    return _get(state, "meta/params", Params) or Params()


def set_params(state: State, params: Params) -> None:
    _put(state, "meta/params", params)


_SUPPLY = "meta/supply"


def get_supply(state: State) -> Supply:
    return _get(state, _SUPPLY, Supply) or Supply()


def add_to_supply(state: State, **amounts: int) -> None:
    """Add to supply's totals, deciding nothing on them: a fee burned."""
    _add(state, _SUPPLY, Supply, **amounts)


def set_supply(state: State, supply: Supply) -> None:
    _put(state, _SUPPLY, supply)


def get_coordinator(state: State) -> str:
    """The genesis coordinator's address."""
    data = state.store.get(b"meta/coordinator")
    return data.decode() if data else ""


def set_coordinator(state: State, address: str) -> None:
    state.store.set(b"meta/coordinator", address.encode())


def get_chain_id(state: State) -> str:
    data = state.store.get(b"meta/chain_id")
    return data.decode() if data else ""


def set_chain_id(state: State, chain_id: str) -> None:
    state.store.set(b"meta/chain_id", chain_id.encode())
