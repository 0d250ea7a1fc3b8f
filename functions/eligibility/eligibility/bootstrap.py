"""Composition root: settings -> the DynamoDB client -> the rate limiter, built once per process.

The window's table holds only its rate-limit counters; a health check never imports boto3.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from eligibility.settings import timezone_from_env
from hmskit.clock import Clock, SystemClock
from hmskit.deps import BaseDeps
from hmskit.ratelimit import Counter, FixedWindowRateLimiter
from hmskit.settings import WindowSettings, load_settings


@dataclass(kw_only=True)
class Deps(BaseDeps):
    timezone: tzinfo = UTC  # the service time zone: where "today" is

    def today(self) -> date:
        """Today's civil date in the service time zone, at the injected clock's instant (the rules
        never ask the system)."""
        return datetime.fromtimestamp(self.clock.now(), self.timezone).date()


def build(
    settings: WindowSettings,
    *,
    dynamodb: Any = None,
    counter: Counter | None = None,
    clock: Clock | None = None,
    timezone: tzinfo = UTC,
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
    return Deps(settings=settings, rate_limiter=limiter, clock=clock, timezone=timezone)


@functools.cache
def deps() -> Deps:
    settings = load_settings()
    timezone = timezone_from_env(os.environ)  # a bad name stops the window before any client is built
    import boto3

    return build(settings, dynamodb=boto3.client("dynamodb"), timezone=timezone)
