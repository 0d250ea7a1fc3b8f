"""Composition root: settings -> clients -> adapters, built once per process (warm starts reuse).

Built lazily, so a GET never pays for them: the A2A client and its discovery (first POST), the
event consumer and its deduplicator (first SQS batch), the EventBridge client of the outbox relay
(first stream batch or sweep). boto3 finds a local emulator through ``AWS_ENDPOINT_URL``; nothing
here plumbs an endpoint.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hmskit.clock import Clock, SystemClock
from hmskit.idempotency import Idempotency
from hmskit.ids import new_id
from hmskit.outbox import Outbox, OutboxRelay, relay_factory
from hmskit.ratelimit import FixedWindowRateLimiter
from hmskit.settings import WindowSettings, load_settings
from hmskit.store import TableStore
from passport.adapters import A2ACaller, A2AEligibility, DynamoRenewalRepository
from passport.domain import EligibilityChecker, EventFactory, RenewalRepository

if TYPE_CHECKING:
    from hmskit.consumer import EventConsumer, EventDeduplicator, InMemoryDeduplicator

WINDOW = "passport"  # the events' source (hms.passport), whatever the deployment calls the function


@dataclass
class Deps:
    settings: WindowSettings
    renewals: RenewalRepository
    eligibility: EligibilityChecker
    events: EventFactory  # the outbox: stamps event id, time and source
    rate_limiter: FixedWindowRateLimiter | None
    idempotency: Idempotency
    dedupe_factory: Callable[[], EventDeduplicator | InMemoryDeduplicator]
    clock: Clock = field(default_factory=SystemClock)
    relay_factory: Callable[[], OutboxRelay] | None = None  # None: no bus, this deployment cannot relay
    _consumer: EventConsumer | None = field(default=None, init=False, repr=False)

    def new_id(self) -> str:
        return new_id(int(self.clock.now() * 1000))

    def now_iso(self) -> str:
        return datetime.fromtimestamp(self.clock.now(), UTC).isoformat(timespec="milliseconds")

    def consumer(self) -> EventConsumer:
        """The SQS consumer (PaymentCaptured, DocumentUploaded), built on the first batch."""
        if self._consumer is None:
            from passport.consumers import RenewalSaga

            saga = RenewalSaga(self.renewals, self.events, now_iso=self.now_iso)
            self._consumer = saga.consumer(self.dedupe_factory())
        return self._consumer

    def relay(self) -> OutboxRelay:
        if self.relay_factory is None:
            raise RuntimeError("HMS_EVENT_BUS is not set: this deployment cannot relay events")
        return self.relay_factory()


def build(
    settings: WindowSettings,
    *,
    dynamodb: Any,
    clock: Clock | None = None,
    a2a: A2ACaller | None = None,
) -> Deps:
    """The window's dependencies; ``a2a`` replaces the discovered A2A client (tests)."""
    clock = clock or SystemClock()
    store = TableStore(dynamodb, settings.table_name)
    limiter = FixedWindowRateLimiter(store, settings.rate_limit, clock) if settings.rate_limit else None
    outbox = Outbox(store, window=WINDOW, new_id=lambda: new_id(int(clock.now() * 1000)), now=clock.now)

    def a2a_client() -> A2ACaller:
        if a2a is not None:
            return a2a
        from hmskit.a2a import A2AClient
        from hmskit.discovery import discovery_from_settings

        return A2AClient(discovery_from_settings(settings, clock), settings.a2a_timeout_ms)

    def dedupe() -> EventDeduplicator:
        from hmskit.consumer import EventDeduplicator

        return EventDeduplicator(dynamodb, settings.table_name, window=WINDOW)

    return Deps(
        settings=settings,
        renewals=DynamoRenewalRepository(store, outbox),
        eligibility=A2AEligibility(functools.cache(a2a_client)),
        events=outbox,
        rate_limiter=limiter,
        idempotency=Idempotency(
            dynamodb, settings.table_name, ttl_seconds=settings.idempotency_ttl_seconds, scope=WINDOW
        ),
        dedupe_factory=dedupe,
        clock=clock,
        relay_factory=relay_factory(store, settings.event_bus),
    )


@functools.cache
def deps() -> Deps:
    import boto3

    return build(load_settings(), dynamodb=boto3.client("dynamodb"))
