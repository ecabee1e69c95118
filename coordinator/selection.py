"""Miner selection: score = stake weight x reputation x free capacity share.

Exact fractions, so equal scores are really equal and the tie-break (lowest
address) decides deterministically.
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


def eligible(candidates: Iterable[Candidate], model: str) -> list[Candidate]:
    return [c for c in candidates if c.online and c.stake > 0 and model in c.models and c.free > 0]


def score(candidate: Candidate, max_stake: int) -> Fraction:
    stake_weight = Fraction(candidate.stake, max_stake) if max_stake else Fraction(0)
    return stake_weight * reputation(candidate.completed, candidate.failed) * Fraction(candidate.free,
                                                                                       candidate.capacity)


def rank(candidates: Iterable[Candidate], model: str) -> list[Candidate]:
    """Eligible miners for `model`, best first."""
    pool = eligible(candidates, model)
    if not pool:
        return []
    max_stake = max(c.stake for c in pool)
    return sorted(pool, key=lambda c: (-score(c, max_stake), c.address))


def choose(candidates: Iterable[Candidate], model: str, exclude: set[str] = frozenset()) -> Candidate | None:
    ranked = [c for c in rank(candidates, model) if c.address not in exclude]
    return ranked[0] if ranked else None
