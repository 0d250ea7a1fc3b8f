"""Composition root: settings -> clients -> adapters, built once per process (warm starts reuse).

boto3 finds a local emulator through ``AWS_ENDPOINT_URL``; nothing here plumbs an endpoint.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hmskit.clock import Clock, SystemClock
from hmskit.idempotency import Idempotency
from hmskit.ids import new_id
from hmskit.outbox import Outbox, OutboxRelay, relay_factory
from hmskit.ratelimit import FixedWindowRateLimiter
from hmskit.settings import WindowSettings, load_settings
from hmskit.store import TableStore
from payments.adapters import DynamoPaymentRepository
from payments.domain import PaymentRepository


@dataclass
class Deps:
    settings: WindowSettings
    payments: PaymentRepository
    rate_limiter: FixedWindowRateLimiter | None
    idempotency: Idempotency
    clock: Clock = field(default_factory=SystemClock)
    outbox: Outbox | None = None  # None: events are not recorded (unit tests that do not look at them)
    relay_factory: Any = None  # () -> OutboxRelay, built on the first stream/sweep invocation

    def new_id(self) -> str:
        return new_id(int(self.clock.now() * 1000))

    def now_iso(self) -> str:
        return datetime.fromtimestamp(self.clock.now(), UTC).isoformat(timespec="milliseconds")

    def relay(self) -> OutboxRelay:
        if self.relay_factory is None:
            raise RuntimeError("HMS_EVENT_BUS is not set: this deployment cannot relay events")
        relay: OutboxRelay = self.relay_factory()
        return relay


def build(settings: WindowSettings, *, dynamodb: Any, clock: Clock | None = None) -> Deps:
    clock = clock or SystemClock()
    store = TableStore(dynamodb, settings.table_name)
    limiter = FixedWindowRateLimiter(store, settings.rate_limit, clock) if settings.rate_limit else None
    outbox = Outbox(
        store, window=settings.window, new_id=lambda: new_id(int(clock.now() * 1000)), now=clock.now
    )
    idempotency = Idempotency(
        dynamodb,
        settings.table_name,
        ttl_seconds=settings.idempotency_ttl_seconds,
        scope=settings.window,
        clock=clock,
    )
    return Deps(
        settings=settings,
        payments=DynamoPaymentRepository(store, outbox, idempotency),
        outbox=outbox,
        relay_factory=relay_factory(store, settings.event_bus),
        rate_limiter=limiter,
        idempotency=idempotency,
        clock=clock,
    )


@functools.cache
def deps() -> Deps:
    import boto3

    return build(load_settings(), dynamodb=boto3.client("dynamodb"))
