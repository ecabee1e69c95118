"""The client side of direct jobs without a node: which miners are candidates, what is sealed."""

from __future__ import annotations

import pytest

from aitbc import sealing
from aitbc.cli.context import CLIError
from aitbc.cli.direct_jobs import Candidate, _can_take, sealed_direct
from aitbc.crypto import PrivateKey

CLIENT, MINER = PrivateKey(b"\x07" * 32), PrivateKey(b"\x08" * 32)
NOW = 1_000 * 10**9


def miner(**changes) -> dict:
    base = {"address": MINER.address, "encryption_key": sealing.encryption_public_key(MINER).hex(),
            "stake": 100_000_000, "models": ["aitbc-tiny"], "active_jobs": 0, "capacity": 1,
            "jailed_until_ns": 0, "price_per_second": 20_000}
    return {**base, **changes}


@pytest.mark.parametrize("changes, takes", [
    ({}, True),
    ({"encryption_key": ""}, False),            # nothing can be sealed to it
    ({"stake": 99_999_999}, False),
    ({"models": ["other"]}, False),
    ({"active_jobs": 1}, False),
    ({"jailed_until_ns": NOW + 1}, False),
    ({"jailed_until_ns": NOW - 1}, True),
    ({"price_per_second": 30_000}, False),      # above the cap below
])
def test_candidates_are_the_miners_the_chain_could_assign(changes: dict, takes: bool) -> None:
    assert _can_take(miner(**changes), "aitbc-tiny", 25_000, 100_000_000, NOW) is takes


def test_no_price_cap_takes_any_price() -> None:
    assert _can_take(miner(price_per_second=10**9), "aitbc-tiny", 0, 100_000_000, NOW)


def test_the_prompt_is_sealed_for_each_candidate_and_bounded() -> None:
    direct = sealed_direct(CLIENT, "job_1", "hello", [Candidate(MINER.address, sealing.encryption_public_key(MINER))])
    [entry] = direct["miners"]
    key = sealing.open_job_key(entry["sealed_key"], MINER)
    assert key == sealing.job_key(CLIENT, "job_1") and sealing.open_text(key, direct["sealed_prompt"]) == "hello"
    with pytest.raises(CLIError, match="at most 8192"):
        sealed_direct(CLIENT, "job_1", "x" * (sealing.MAX_PROMPT_BYTES + 1), [])
