"""The per-container token bucket (pure: no servers, the time is given)."""
from __future__ import annotations

from chalicelib.core.throttle import TokenBuckets


def test_a_full_bucket_admits_its_capacity_then_says_how_long_to_wait() -> None:
    buckets = TokenBuckets()
    assert [buckets.take("t", rate=5, capacity=5, now=100.0) for _ in range(5)] == [0.0] * 5
    assert buckets.take("t", rate=5, capacity=5, now=100.0) == 1 / 5


def test_tokens_come_back_at_the_rate_and_never_past_capacity() -> None:
    buckets = TokenBuckets()
    for _ in range(4):
        buckets.take("t", rate=2, capacity=4, now=0.0)
    assert buckets.take("t", rate=2, capacity=4, now=0.5) == 0.0  # one back after 0.5 s
    assert buckets.take("t", rate=2, capacity=4, now=0.5) > 0
    admitted = sum(buckets.take("t", rate=2, capacity=4, now=1000.0) == 0.0 for _ in range(10))
    assert admitted == 4  # a long pause refills to capacity, not beyond


def test_keys_are_independent_and_a_clock_moved_back_refills_nothing() -> None:
    buckets = TokenBuckets()
    assert buckets.take("a", rate=1, capacity=1, now=50.0) == 0.0
    assert buckets.take("b", rate=1, capacity=1, now=50.0) == 0.0
    assert buckets.take("a", rate=1, capacity=1, now=10.0) > 0  # earlier time: no refill
    assert buckets.take("a", rate=1, capacity=1, now=11.0) == 0.0
