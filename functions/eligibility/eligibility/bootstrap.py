"""Composition root: settings -> clients -> the rate limiter, built once per process.

The boto3 DynamoDB client (the only client: the window's table holds its rate-limit counters) is
built on the first request that needs it, then reused by every warm request. A health check never
builds it, nor imports boto3. boto3 finds a local emulator through ``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from hmskit.clock import Clock, SystemClock
from hmskit.ratelimit import Counter, FixedWindowRateLimiter
from hmskit.settings import WindowSettings, load_settings


@dataclass
class Deps:
    settings: WindowSettings
    rate_limiter: FixedWindowRateLimiter | None
    clock: Clock = field(default_factory=SystemClock)

    def today(self) -> date:
        """Today's date in UTC, from the injected clock (the rules never ask the system)."""
        return datetime.fromtimestamp(self.clock.now(), UTC).date()


def build(
    settings: WindowSettings,
    *,
    dynamodb: Any = None,
    counter: Counter | None = None,
    clock: Clock | None = None,
) -> Deps:
    """Deps from settings and either a DynamoDB client or a ready ``counter`` (tests: in-memory)."""
    clock = clock or SystemClock()
    limiter = None
    if settings.rate_limit is not None:
        if counter is None:
            if dynamodb is None:
                raise ValueError("a rate-limited window needs a DynamoDB client or a counter")
            from hmskit.store import TableStore  # boto3's stack: only when a counter is needed

            counter = TableStore(dynamodb, settings.table_name)
        limiter = FixedWindowRateLimiter(counter, settings.rate_limit, clock)
    return Deps(settings=settings, rate_limiter=limiter, clock=clock)


@functools.cache
def deps() -> Deps:
    import boto3

    return build(load_settings(), dynamodb=boto3.client("dynamodb"))
