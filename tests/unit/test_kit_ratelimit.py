"""Per-principal fixed-window rate limiting, on an in-memory counter and a fake clock."""

from __future__ import annotations

import pytest
from support.kit import FakeClock, InMemoryCounter

from hmskit.ratelimit import FixedWindowRateLimiter, RateLimitError
from hmskit.settings import RateLimit


def limiter(
    limit: int = 3, window: int = 60, start: float = 1_800_000_000.0
) -> tuple[FixedWindowRateLimiter, FakeClock]:
    clock = FakeClock(start)
    return FixedWindowRateLimiter(InMemoryCounter(), RateLimit(limit=limit, window=window), clock), clock


def test_requests_within_the_limit_are_allowed_and_count_down() -> None:
    rl, _ = limiter(limit=3)

    decisions = [rl.hit("sub:alice") for _ in range(3)]

    assert all(d.allowed for d in decisions)
    assert [d.remaining for d in decisions] == [2, 1, 0]


def test_the_request_over_the_limit_is_refused_with_retry_after() -> None:
    rl, _ = limiter(limit=2, window=60, start=1_800_000_000.0 + 15)
    rl.hit("sub:alice")
    rl.hit("sub:alice")

    decision = rl.hit("sub:alice")

    assert not decision.allowed
    assert decision.remaining == 0
    assert decision.reset_after == 45
    assert decision.headers() == {
        "X-RateLimit-Limit": "2",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "45",
        "Retry-After": "45",
    }


def test_allowed_decisions_carry_no_retry_after() -> None:
    rl, _ = limiter()

    assert "Retry-After" not in rl.hit("sub:alice").headers()


def test_the_budget_resets_at_the_next_window() -> None:
    rl, clock = limiter(limit=1, window=60)
    rl.hit("sub:alice")
    assert not rl.hit("sub:alice").allowed

    clock.advance(60)

    assert rl.hit("sub:alice").allowed


def test_the_window_is_fixed_not_sliding() -> None:
    rl, clock = limiter(limit=1, window=60, start=1_800_000_000.0 + 59)
    rl.hit("sub:alice")

    clock.advance(1)  # the next fixed window starts one second later

    assert rl.hit("sub:alice").allowed


def test_separate_principals_have_separate_budgets() -> None:
    rl, _ = limiter(limit=1)
    rl.hit("sub:alice")

    assert rl.hit("sub:bob").allowed
    assert not rl.hit("sub:alice").allowed


def test_the_reset_is_never_less_than_one_second() -> None:
    rl, _ = limiter(limit=1, window=60, start=1_800_000_000.0 + 59.9)

    assert rl.hit("sub:alice").reset_after == 1


def test_the_counter_key_carries_the_window_start() -> None:
    counter = InMemoryCounter()
    rl = FixedWindowRateLimiter(counter, RateLimit(limit=5, window=60), FakeClock(1_800_000_030.0))

    rl.hit("sub:alice")

    assert counter.counts == {("RATE#sub:alice", "W#1800000000"): 1}


class BrokenCounter:
    def increment(self, pk: str, sk: str, *, attr: str, expires_at: int) -> int:
        raise OSError("table unreachable")


def test_a_failing_counter_is_a_rate_limit_error() -> None:
    rl = FixedWindowRateLimiter(BrokenCounter(), RateLimit(limit=1, window=60), FakeClock())

    with pytest.raises(RateLimitError, match="table unreachable"):
        rl.hit("sub:alice")
