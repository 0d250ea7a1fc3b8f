"""Composition root: settings -> clients -> adapters, built once per process (warm starts reuse).

The DynamoDB client serves the notifications, the contacts and the rate-limit counters (all on the
window's own table). The consumer's handlers are idempotent by construction (``IdempotentEffects``:
a notification's id is derived from its event), so no event dedupe record is written. The SES
client is built on the first email, so an HTTP request never builds it.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hmskit.clock import Clock
from hmskit.consumer import Deduplicator, EventConsumer, IdempotentEffects
from hmskit.deps import BaseDeps, TableParts
from hmskit.settings import WindowSettings, load_settings
from notifications.adapters import DynamoNotificationRepository, SesMailer
from notifications.domain import Mailer, NotificationRepository


@dataclass(kw_only=True)
class Deps(BaseDeps):
    notifications: NotificationRepository
    mailer: Mailer
    dedupe: Deduplicator
    sleep: Callable[[float], None] = time.sleep  # between retries of a write after an email went
    _consumer: EventConsumer | None = field(default=None, init=False, repr=False)

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
    parts = TableParts(settings, dynamodb, clock=clock)
    return Deps(
        **parts.base(relay=False),
        notifications=DynamoNotificationRepository(parts.store),
        mailer=SesMailer(ses, sender=settings.email_sender),
        dedupe=IdempotentEffects(),
    )


@functools.cache
def deps() -> Deps:
    import boto3

    return build(load_settings(), dynamodb=boto3.client("dynamodb"))
