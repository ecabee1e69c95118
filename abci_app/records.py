"""What the chain stores: plain frozen records, integers for every amount.

Records are stored as canonical JSON (sorted keys, no spaces) so the bytes,
and so the app hash, are the same on every node.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from json.encoder import c_make_encoder, encode_basestring_ascii
from operator import attrgetter
from typing import Any, Callable, TypeVar

from aitbc.jobspec import OPEN_ON_CHAIN

T = TypeVar("T")


# The canonical form, by definition: what this encoder makes of a record's fields as a dict.
# encode() below gives the same bytes faster; tests hold it to this one.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"))
# JSONEncoder.encode builds a new C encoder on every call; this one is built once.
# (markers=None: no circular-reference check; a record holds only ints, strings, tuples and dicts of them.)
_C_ENCODE = (c_make_encoder(None, _ENCODER.default, encode_basestring_ascii, None, ":", ",", True, False, True)
             if c_make_encoder is not None else None)
# json.loads without its per-call wrapping (encoding detection, whitespace skipping); see decode().
_SCAN = json.JSONDecoder().scan_once
_JUST_INT = {int}


class _Codec:
    """How one record class is encoded: its fields in key order, read in one C call,
    and for a record of int fields only (Account, Supply, Params) a %d template."""

    def __init__(self, cls: type):
        declared = fields(cls)
        self.names = tuple(sorted(f.name for f in declared))
        getter = attrgetter(*self.names)
        self.values: Callable[[Any], tuple] = getter if len(self.names) > 1 else (lambda record: (getter(record),))
        # With `from __future__ import annotations` a field's type is its annotation's text.
        self.template = ("{" + ",".join(f'"{name}":%d' for name in self.names) + "}"
                         if all(f.type in ("int", int) for f in declared) else None)
        self.tuples = tuple(f.name for f in declared if str(f.type).startswith("tuple["))


_CODECS: dict[type, _Codec] = {}


def _codec(cls: type) -> _Codec:
    codec = _CODECS.get(cls)
    if codec is None:
        codec = _CODECS[cls] = _Codec(cls)
    return codec


# Records are immutable and decode is a pure function of (class, bytes): the
# records last encoded or decoded are kept by their bytes, so that reading back
# what a tx just wrote (an account after its nonce bump, say) costs no parsing.
# Bounded: it is emptied when full, so it never holds more than this many records
# (a decoded job is a few KiB: at most some tens of MiB, whatever the state's size).
_DECODED: dict[tuple[type, bytes], Any] = {}
DECODED_CACHE_SIZE = 8_192


def _remember(cls: type, data: bytes, record: Any) -> None:
    if len(_DECODED) >= DECODED_CACHE_SIZE:
        _DECODED.clear()
    _DECODED[(cls, data)] = record


def encode(record: Any) -> bytes:
    """Canonical JSON of a flat record: exactly the bytes `_ENCODER` gives for its fields as a dict."""
    cls = type(record)
    codec = _CODECS.get(cls) or _codec(cls)
    values = codec.values(record)
    # %d writes an int as json does (int.__repr__); a bool or anything else takes the general path.
    if codec.template is not None and _JUST_INT.issuperset(map(type, values)):
        text = codec.template % values
    elif _C_ENCODE is not None:
        text = "".join(_C_ENCODE(dict(zip(codec.names, values)), 0))
    else:
        text = _ENCODER.encode(dict(zip(codec.names, values)))
    data = text.encode()
    _remember(cls, data, record)
    return data


def decode(cls: type[T], data: bytes) -> T:
    cached = _DECODED.get((cls, data))
    if cached is not None:
        return cached
    try:  # what encode() wrote: ASCII, no whitespace around it
        raw, end = _SCAN(data.decode("ascii"), 0)
    except (UnicodeDecodeError, StopIteration, ValueError):
        raw, end = None, -1
    if end != len(data):  # anything else: json.loads, with its own errors
        raw = json.loads(data)
    for name in _codec(cls).tuples:
        if name in raw:
            raw[name] = tuple(raw[name])
    record = cls(**raw)
    _remember(cls, data, record)
    return record


def plus(cls: type, data: bytes | None, amounts: dict[str, int]) -> bytes:
    """The record of ints encoded in `data` (None: every field at its default) with `amounts`
    added to its fields, encoded."""
    record = cls() if data is None else decode(cls, data)
    new = object.__new__(cls)  # evolve() without building its keyword arguments: on every credit and fee
    values = new.__dict__
    values.update(record.__dict__)
    for name, amount in amounts.items():
        if name not in values:
            raise TypeError(f"{cls.__name__} has no field {name!r}")
        values[name] += amount
    return encode(new)


def evolve(record: T, **changes: Any) -> T:
    """`dataclasses.replace` for these flat frozen records (no __post_init__, no InitVar),
    without its walk over every field on each call: a copy with `changes` set."""
    new = object.__new__(type(record))
    values = new.__dict__
    values.update(record.__dict__)
    for name in changes:
        if name not in values:
            raise TypeError(f"{type(record).__name__} has no field {name!r}")
    values.update(changes)
    return new


@dataclass(frozen=True)
class Params:
    price_per_second: int = 20_000       # uaitbc per compute second (0.02 AITBC)
    pending_timeout_s: int = 60          # unassigned job expires after this
    job_timeout_s: int = 600             # assigned job expires after this
    min_miner_stake: int = 100_000_000   # 100 AITBC
    check_share_bps: int = 0             # share of checkable jobs re-run by another miner (1/10000)
    check_window_blocks: int = 30        # a check not decided by then lapses; held payment released
    max_check_rounds: int = 2            # a mismatch escalates to one more checker; majority decides
    slash_bps: int = 5_000               # share of stake taken from a miner proven wrong
    # Share of a slash paid to the job's client (at most its max_reward); the rest is burned.
    # 0 by default: a client whose sybils sit on the checker seats must not profit from a slash.
    slash_to_client_bps: int = 0
    # Metering: billed ms = min(claimed ms, (prompt + generated tokens) x the miner's ms per token)
    max_ms_per_token: int = 200          # ceiling on what a miner may declare (and the default)
    max_tokens_per_job: int = 8_192      # ceiling on either token count in a proof
    prompt_token_overhead: int = 64      # prompt tokens a chat template may add beyond one per prompt byte
    check_time_tolerance_x: int = 10     # a claimed time above x times a checker's re-run time ...
    check_time_grace_ms: int = 2_000     # ... plus this grace is out of bounds
    # Stake: leaving takes time, faults cost stake and, repeated, a spell in jail
    unbonding_period_s: int = 1_200      # > job_timeout_s + check window: stake stays slashable meanwhile
    expiry_slash_bps: int = 100          # share of stake taken when an assigned job expires
    jail_strikes: int = 3                # slashes + expiries that jail a miner
    jail_duration_s: int = 600           # how long a jailed miner gets no jobs or checks
    max_capacity: int = 16               # jobs one miner may declare to run at once
    # Fees: every successful tx burns at least min_fee + fee_per_byte x its size
    min_fee: int = 100
    fee_per_byte: int = 1
    # Coordinators beside the genesis one lock this bond while registered
    min_coordinator_bond: int = 100_000_000
    # A direct job's miner may decline it without a strike this long after it was assigned (what
    # opening the key and prompt and checking the model take); later, a decline counts like fail_job
    decline_grace_s: int = 30


@dataclass(frozen=True)
class Account:
    balance: int = 0
    nonce: int = 0


@dataclass(frozen=True)
class Miner:
    address: str
    public_key: str
    stake: int
    models: tuple[str, ...]
    price_per_second: int
    capacity: int
    endpoint: str
    active_jobs: int = 0
    completed: int = 0
    failed: int = 0
    registered_height: int = 0
    slashed: int = 0       # times proven wrong; follows the address for good
    checks_done: int = 0   # re-runs delivered for others
    ms_per_token: dict[str, int] = field(default_factory=dict)  # declared ceilings per model
    unbonding: int = 0             # stake on its way out: still slashable until released
    unbonding_release_ns: int = 0
    unbonding_release_height: int = 0  # and not before every check window it may be judged in has closed
    expired: int = 0               # assigned jobs it let expire
    strikes: int = 0               # slashes + expiries since its last jail
    jailed_until_ns: int = 0       # no jobs or checks before this block time
    encryption_key: str = ""       # X25519 public key (hex) direct jobs seal to; "" takes no direct jobs


@dataclass(frozen=True)
class Job:
    id: str
    client: str
    job_type: str
    model: str
    prompt_hash: str
    temperature_milli: int
    seed: int
    num_predict: int
    max_reward: int
    status: str
    submitted_height: int
    submitted_time_ns: int
    deadline_ns: int
    miner: str = ""
    price_per_second: int = 0     # fixed when the job is assigned
    assigned_height: int = 0
    max_price_per_second: int = 0  # the client's cap; 0 = none
    ms_per_token: int = 0         # the miner's ceiling for this model, fixed when assigned
    billed_ms: int = 0            # what the receipt pays for
    claimed_tokens: str = ""      # "<prompt>:<generated>" from the miner's proof
    prompt_bytes: int = 0         # the client's prompt length, bounding the prompt tokens billed
    finished_height: int = 0
    receipt_id: str = ""
    payment: int = 0
    refund: int = 0
    reason: str = ""
    # spot checks
    model_digest: str = ""
    result_hash: str = ""
    held_payment: int = 0         # owed to the miner once the check passes or lapses
    check_status: str = ""        # "", pending, passed, failed, inconclusive, unresolved, lapsed
    check_deadline_height: int = 0
    checker: str = ""             # the checker now re-running the job (drawn by the chain)
    checker_price_per_second: int = 0  # its price and ceiling, fixed when it was drawn
    checker_ms_per_token: int = 0
    checkers: tuple[str, ...] = ()
    check_hashes: tuple[str, ...] = ()
    check_tokens: tuple[str, ...] = ()  # each re-run's "<prompt>:<generated>"
    check_ms: tuple[int, ...] = ()      # each re-run's claimed time
    check_digests: tuple[str, ...] = ()  # each re-run's model digest
    check_costs: tuple[int, ...] = ()  # what each checker's re-run costs at its price
    check_paid: int = 0           # paid to checkers out of the escrow
    check_burned: int = 0         # a held payment nobody earned (contradicted, undecided), burned
    claimed_ms: int = 0           # the miner's claimed compute time, compared with re-runs
    # who may assign it and record its receipt: a coordinator's address; "" for a direct job
    coordinator: str = ""
    # direct jobs: the candidates the client sealed the job key to, those that declined,
    # the tx carrying the sealed prompt, the tx carrying the sealed result, and job keys
    # the client shared with checkers ("<address>:<sealed key hex>")
    candidates: tuple[str, ...] = ()
    declined: tuple[str, ...] = ()
    submit_tx: str = ""
    receipt_tx: str = ""
    shared_keys: tuple[str, ...] = ()
    assigned_time_ns: int = 0     # block time of the assignment (a decline after the grace costs a strike)
    # disputes (direct jobs): sha256 of the sealed prompt and of the sealed result as on chain, the
    # height of a dispute that proved the sealed result wrong, and what the client got back from the slash
    sealed_prompt_hash: str = ""
    sealed_result_hash: str = ""
    disputed_height: int = 0
    compensation: int = 0

    @property
    def is_direct(self) -> bool:
        return bool(self.candidates)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_ON_CHAIN  # escrow still held


@dataclass(frozen=True)
class Coordinator:
    """A coordinator registered on chain (the genesis coordinator has no record)."""

    address: str
    url: str
    bond: int
    registered_height: int = 0
    open_jobs: int = 0            # jobs naming it not yet final: its bond stays until they close
    leaving_height: int = 0       # unregistered at this height with jobs open: takes no new ones


@dataclass(frozen=True)
class Receipt:
    id: str
    job_id: str
    client: str
    miner: str
    model: str
    result_hash: str
    compute_time_ms: int
    tokens_generated: int
    prompt_tokens: int
    price_per_second: int
    amount_paid: int
    refund: int
    block_height: int
    block_time_ns: int
    proof: str
    miner_signature: str
    model_digest: str = ""
    prompt_hash: str = ""
    temperature_milli: int = 0
    seed: int = 0
    num_predict: int = 0
    check_status: str = ""        # as the job's; final once the check is decided
    slashed: int = 0              # taken from the miner's stake when proven wrong
    ms_per_token: int = 0         # the ceiling in force for this job
    billed_ms: int = 0            # min(compute_time_ms, tokens x ms_per_token): what was paid for


@dataclass(frozen=True)
class Supply:
    total: int = 0     # fixed at genesis: balances + escrow + staked
    escrow: int = 0
    staked: int = 0    # bonded and unbonding stake
    burned: int = 0    # slashed stake destroyed
    fees: int = 0      # tx fees burned: balances + escrow + staked + burned + fees = total


@dataclass(frozen=True)
class Genesis:
    """Genesis `app_state`: accounts, the coordinator's address and parameters."""

    accounts: dict[str, int] = field(default_factory=dict)
    coordinator: str = ""
    params: Params = field(default_factory=Params)

    @classmethod
    def from_json(cls, data: bytes) -> "Genesis":
        raw = json.loads(data or b"{}")
        accounts = {a["address"]: int(a["balance"]) for a in raw.get("accounts", [])}
        params = Params(**{k: int(v) for k, v in raw.get("params", {}).items()})
        return cls(accounts=accounts, coordinator=raw.get("coordinator", ""), params=params)

    def to_json(self) -> dict[str, Any]:
        return {
            "accounts": [{"address": a, "balance": str(b)} for a, b in sorted(self.accounts.items())],
            "coordinator": self.coordinator,
            "params": {k: str(v) for k, v in asdict(self.params).items()},
        }


__all__ = ["Account", "Coordinator", "Genesis", "Job", "Miner", "Params", "Receipt", "Supply", "encode", "decode", "evolve", "replace"]
