"""Composition root: settings -> the DynamoDB client -> the rate limiter, built once per process.

The client (the window's table holds only its rate-limit counters) is built on the first request
that needs it; a health check never imports boto3.

The window's own setting, ``HMS_TIMEZONE``: the service time zone, an IANA name (``UTC`` when unset
or blank). "Today" for the rules is the civil date there at the clock's instant. A bad name stops
the window at its first invocation with a ``SettingsError`` naming the variable.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from hmskit.clock import Clock, SystemClock
from hmskit.ratelimit import Counter, FixedWindowRateLimiter
from hmskit.settings import SettingsError, WindowSettings, load_settings

TIMEZONE_VARIABLE = "HMS_TIMEZONE"
DEFAULT_TIMEZONE = "UTC"


def parse_timezone(name: str) -> tzinfo:
    """The IANA time zone ``name`` (``zoneinfo``); ``ValueError`` saying what is wrong otherwise.

    ``UTC`` needs no time zone database; any other name is looked up in the system's, else in the
    ``tzdata`` package's. Surrounding whitespace is ignored; the name is case-sensitive."""
    key = name.strip()
    if key == DEFAULT_TIMEZONE:
        return UTC
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(key)
    except ZoneInfoNotFoundError:
        raise ValueError(
            f"{name!r} is not an IANA time zone name (e.g. 'Europe/London', 'America/New_York', "
            "'UTC'); if it is one, this runtime has no time zone database: package tzdata"
        ) from None
    except ValueError as exc:  # a path, an empty or otherwise malformed key
        raise ValueError(f"{name!r} is not an IANA time zone name: {exc}") from None


def timezone_from_env(environ: Mapping[str, str]) -> tzinfo:
    """``HMS_TIMEZONE`` (``UTC`` when unset or blank); ``SettingsError`` on a bad value."""
    name = environ.get(TIMEZONE_VARIABLE, "")
    if not name.strip():
        return UTC
    try:
        return parse_timezone(name)
    except ValueError as exc:
        raise SettingsError(
            f"invalid window settings from the environment: {TIMEZONE_VARIABLE}: {exc}"
        ) from exc


@dataclass
class Deps:
    settings: WindowSettings
    rate_limiter: FixedWindowRateLimiter | None
    clock: Clock = field(default_factory=SystemClock)
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
