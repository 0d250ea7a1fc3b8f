"""Composition root: settings -> clients -> adapters, built once per process (warm starts reuse).

Built lazily, so a GET never pays for them: the A2A client and its discovery (first POST), the
event consumer (first SQS batch), the EventBridge client of the outbox relay (first stream batch or
sweep).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hmskit.clock import Clock
from hmskit.consumer import EventConsumer
from hmskit.deps import BaseDeps, TableParts
from hmskit.idempotency import EventMarks, Idempotency
from hmskit.outbox import Outbox
from hmskit.settings import WindowSettings, load_settings
from passport.adapters import A2ACaller, A2AEligibility, DynamoRenewalRepository
from passport.domain import EligibilityChecker, Fee, RenewalRepository
from passport.events import RenewalEvents
from passport.settings import DEFAULT_FEE, renewal_fee_from_env

if TYPE_CHECKING:
    from hmskit.consumer import Deduplicator

WINDOW = "passport"  # the events' source (hms.passport), whatever the deployment calls the function


@dataclass(kw_only=True)
class Deps(BaseDeps):
    renewals: RenewalRepository
    eligibility: EligibilityChecker
    events: Outbox  # the outbox: stamps event id, time and source
    idempotency: Idempotency
    dedupe_factory: Callable[[], Deduplicator]
    renewal_fee: Fee = DEFAULT_FEE  # what a payment must be, exactly, to pay a renewal
    _consumer: EventConsumer | None = field(default=None, init=False, repr=False)

    @property
    def renewal_events(self) -> RenewalEvents:
        """The domain's events, built from its renewals for the outbox."""
        return RenewalEvents(self.events)

    def consumer(self) -> EventConsumer:
        """The SQS consumer of ``passport.consumers`` (the saga), built on the first batch."""
        if self._consumer is None:
            from passport import consumers

            self._consumer = EventConsumer(consumers.handlers(self), self.dedupe_factory())
        return self._consumer


def build(
    settings: WindowSettings,
    *,
    dynamodb: Any,
    clock: Clock | None = None,
    a2a: A2ACaller | None = None,
    renewal_fee: Fee = DEFAULT_FEE,
) -> Deps:
    """The window's dependencies; ``a2a`` replaces the discovered A2A client (tests)."""
    parts = TableParts(settings, dynamodb, clock=clock, source=WINDOW)

    def a2a_client() -> A2ACaller:
        if a2a is not None:
            return a2a
        from hmskit.a2a import A2AClient
        from hmskit.discovery import discovery_from_settings

        return A2AClient(discovery_from_settings(settings, parts.clock), settings.a2a_timeout_ms)

    marks = EventMarks(parts.store, scope=WINDOW, clock=parts.clock)  # the saga's steps carry their dedupe
    return Deps(
        **parts.base(),
        renewals=DynamoRenewalRepository(parts.store, parts.outbox, parts.idempotency, marks),
        eligibility=A2AEligibility(functools.cache(a2a_client)),
        events=parts.outbox,
        idempotency=parts.idempotency,
        dedupe_factory=lambda: marks,
        renewal_fee=renewal_fee,
    )


@functools.cache
def deps() -> Deps:
    settings = load_settings()
    fee = renewal_fee_from_env(os.environ)  # a bad value stops the window before any client is built
    import boto3

    return build(settings, dynamodb=boto3.client("dynamodb"), renewal_fee=fee)
