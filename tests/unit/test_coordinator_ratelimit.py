"""Per-key token buckets."""

import pytest

from aitbc.coordinator.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refill_at_the_rate():
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=3, clock=clock)
    assert [limiter.acquire("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.acquire("k")
    assert wait == pytest.approx(1.0)
    assert RateLimiter.retry_after(wait) == 1
    clock.now += 1.0
    assert limiter.acquire("k") == 0.0
    assert limiter.acquire("k") > 0


def test_keys_have_separate_buckets_and_never_exceed_burst():
    clock = Clock()
    limiter = RateLimiter(per_minute=6, burst=1, clock=clock)
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("b") == 0.0
    assert limiter.acquire("a") == pytest.approx(10.0)
    clock.now += 3600  # a long idle time refills to burst, not beyond
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0


def test_retry_after_is_whole_seconds_at_least_one():
    assert RateLimiter.retry_after(0.01) == 1
    assert RateLimiter.retry_after(2.2) == 3


def test_bad_settings():
    with pytest.raises(ValueError):
        RateLimiter(per_minute=0, burst=1)
