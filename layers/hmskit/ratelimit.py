"""Per-principal fixed-window rate limiting on the window's own table.

Each (principal, window start) pair is one counter item, incremented atomically with ``ADD`` in a
single ``UpdateItem``. The window start is part of the key, so an old window's counter is simply
never read again: correctness does not depend on TTL deletion (moto never expires items, and
DynamoDB may take days to). TTL only tidies the table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from hmskit.clock import Clock, SystemClock
from hmskit.settings import RateLimit


class RateLimitError(Exception):
    """The limiter could not count the request."""


class Counter(Protocol):
    def increment(self, pk: str, sk: str, *, attr: str, expires_at: int) -> int: ...


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_after: int  # seconds until the window resets

    def headers(self) -> dict[str, str]:
        out = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_after),
        }
        if not self.allowed:
            out["Retry-After"] = str(self.reset_after)
        return out


class FixedWindowRateLimiter:
    def __init__(self, counter: Counter, rule: RateLimit, clock: Clock | None = None) -> None:
        self._counter = counter
        self._rule = rule
        self._clock = clock or SystemClock()

    @property
    def rule(self) -> RateLimit:
        return self._rule

    def hit(self, principal_key: str) -> Decision:
        now = self._clock.now()
        window = self._rule.window
        start = int(now // window) * window
        end = start + window
        try:
            count = self._counter.increment(
                f"RATE#{principal_key}", f"W#{start}", attr="hits", expires_at=end + window
            )
        except Exception as exc:  # the counter's own errors; translated for the caller
            raise RateLimitError(f"rate limit counter failed: {exc}") from exc
        reset_after = max(1, math.ceil(end - now))
        remaining = max(0, self._rule.limit - count)
        return Decision(count <= self._rule.limit, self._rule.limit, remaining, reset_after)
