"""Per-key token buckets: `burst` requests at once, refilled at `per_minute`."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic,
                 max_buckets: int = 100_000):
        if per_minute <= 0 or burst < 1:
            raise ValueError("rate limit needs per_minute > 0 and burst >= 1")
        self.rate = per_minute / 60.0  # tokens per second
        self.burst = burst
        self.clock = clock
        # Per-IP buckets are keyed by what callers choose (an IPv6 /64 is many addresses):
        # past this many, buckets that have refilled to full are dropped (they hold no state).
        self.max_buckets = max_buckets
        self._buckets: dict[str, _Bucket] = {}
        self._pruned_at = float("-inf")

    def __len__(self) -> int:
        return len(self._buckets)

    def _prune(self, now: float) -> None:
        full_after = self.burst / self.rate
        for key in [k for k, b in self._buckets.items() if now - b.updated >= full_after]:
            del self._buckets[key]

    def acquire(self, key: str) -> float:
        """Take one token for `key`: 0.0 when allowed, else seconds until one is free."""
        now = self.clock()
        if key not in self._buckets and len(self._buckets) >= self.max_buckets and now - self._pruned_at >= 1.0:
            self._pruned_at = now  # at most one scan a second, so new keys cannot make every call O(n)
            self._prune(now)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate

    @staticmethod
    def retry_after(wait_s: float) -> int:
        """Retry-After is whole seconds, never 0 for a refused request."""
        return max(1, math.ceil(wait_s))
