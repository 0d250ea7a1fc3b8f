"""Composition root: settings -> clients -> adapters, built once per process (warm starts reuse).

The DynamoDB client serves the notifications, the contacts, the rate-limit counters and the event
deduplicator (all on the window's own table). The SES client is built on the first email, so an
HTTP request never builds it. boto3 finds a local emulator through ``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hmskit.clock import Clock, SystemClock
from hmskit.consumer import EventConsumer, EventDeduplicator, InMemoryDeduplicator
from hmskit.ratelimit import FixedWindowRateLimiter
from hmskit.settings import WindowSettings, load_settings
from hmskit.store import TableStore
from notifications.adapters import DynamoNotificationRepository, SesMailer
from notifications.domain import Mailer, NotificationRepository

if TYPE_CHECKING:
    from hmskit.idempotency import Idempotency


@dataclass
class Deps:
    settings: WindowSettings
    notifications: NotificationRepository
    mailer: Mailer
    dedupe: EventDeduplicator | InMemoryDeduplicator
    rate_limiter: FixedWindowRateLimiter | None = None
    clock: Clock = field(default_factory=SystemClock)
    sleep: Callable[[float], None] = time.sleep  # between retries of a write after an email went
    _consumer: EventConsumer | None = field(default=None, init=False, repr=False)

    @property
    def idempotency(self) -> Idempotency:
        """``WindowApp`` asks every window for one; this window has no idempotent POST route."""
        raise RuntimeError("the notifications window has no Idempotency-Key routes")

    def now_iso(self) -> str:
        return datetime.fromtimestamp(self.clock.now(), UTC).isoformat(timespec="milliseconds")

    def consumer(self) -> EventConsumer:
        """The SQS batch consumer of ``notifications.consumers``, built on the first batch."""
        if self._consumer is None:
            from notifications import consumers

            self._consumer = EventConsumer(consumers.handlers(self), self.dedupe)
        return self._consumer


def _ses_client() -> Any:
    import boto3

    return boto3.client("ses")


def build(
    settings: WindowSettings,
    *,
    dynamodb: Any,
    ses: Callable[[], Any] = _ses_client,
    clock: Clock | None = None,
) -> Deps:
    """Deps over real clients. ``ses`` is a factory: it is called on the first email only."""
    clock = clock or SystemClock()
    store = TableStore(dynamodb, settings.table_name)
    limiter = FixedWindowRateLimiter(store, settings.rate_limit, clock) if settings.rate_limit else None
    return Deps(
        settings=settings,
        notifications=DynamoNotificationRepository(store),
        mailer=SesMailer(ses, sender=settings.email_sender),
        dedupe=EventDeduplicator(dynamodb, settings.table_name, window=settings.window),
        rate_limiter=limiter,
        clock=clock,
    )


@functools.cache
def deps() -> Deps:
    import boto3

    return build(load_settings(), dynamodb=boto3.client("dynamodb"))
