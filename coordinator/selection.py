"""Miner selection: score = stake weight x reputation x free capacity share.

Only miners within the job's price cap (if any), not jailed and with at least
the chain's minimum stake are eligible.
Exact fractions, so equal scores are really equal; ties go to the cheaper
miner, then to the lowest address. Checkers are not chosen here: the chain
draws them.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Iterable


@dataclass(frozen=True)
class Candidate:
    address: str
    stake: int
    models: tuple[str, ...]
    capacity: int
    chain_active_jobs: int     # open jobs the chain counts (committed state)
    local_active_jobs: int     # jobs this coordinator assigned and not yet closed
    completed: int
    failed: int
    online: bool
    endpoint: str
    price_per_second: int = 0
    jailed: bool = False
    min_stake: int = 1         # the chain's min_miner_stake: a miner slashed below it is refused (STAKE_TOO_LOW)

    @property
    def busy(self) -> int:
        # The chain lags behind our mempool txs; our own count lags behind nothing we did.
        return max(self.chain_active_jobs, self.local_active_jobs)

    @property
    def free(self) -> int:
        return max(0, self.capacity - self.busy)


def reputation(completed: int, failed: int) -> Fraction:
    """Laplace-smoothed success rate: a new miner starts at 1/2."""
    return Fraction(completed + 1, completed + failed + 2)


def within_cap(price: int, cap: int) -> bool:
    """Whether a miner asking `price` per second may take a job capped at `cap` (0: no cap)."""
    return not cap or price <= cap


def eligible(candidates: Iterable[Candidate], model: str, max_price: int = 0) -> list[Candidate]:
    """Miners that may take a job for `model` now; `max_price` 0 means no cap."""
    return [c for c in candidates if c.online and c.stake >= max(c.min_stake, 1) and not c.jailed
            and model in c.models and c.free > 0 and within_cap(c.price_per_second, max_price)]


def lowest_price(candidates: Iterable[Candidate], model: str) -> int | None:
    """The lowest price per second a miner that may take a job for `model` now asks (None: no
    such miner): a job capped below it has no miner (eligible with that cap is empty)."""
    return min((c.price_per_second for c in eligible(candidates, model)), default=None)


def score(candidate: Candidate, max_stake: int) -> Fraction:
    stake_weight = Fraction(candidate.stake, max_stake) if max_stake else Fraction(0)
    return stake_weight * reputation(candidate.completed, candidate.failed) * Fraction(candidate.free,
                                                                                       candidate.capacity)


def rank(candidates: Iterable[Candidate], model: str, max_price: int = 0) -> list[Candidate]:
    """Eligible miners for `model`, best first; at equal score the cheaper one."""
    pool = eligible(candidates, model, max_price)
    if not pool:
        return []
    max_stake = max(c.stake for c in pool)
    return sorted(pool, key=lambda c: (-score(c, max_stake), c.price_per_second, c.address))


def choose(candidates: Iterable[Candidate], model: str, exclude: set[str] = frozenset(),
           max_price: int = 0) -> Candidate | None:
    ranked = [c for c in rank(candidates, model, max_price) if c.address not in exclude]
    return ranked[0] if ranked else None
