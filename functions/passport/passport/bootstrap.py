"""Composition root: settings -> clients -> adapters, built once per process (warm starts reuse).

Built lazily, so a GET never pays for them: the A2A client and its discovery (first POST), the
event consumer (first SQS batch), the EventBridge client of the outbox relay
(first stream batch or sweep). boto3 finds a local emulator through ``AWS_ENDPOINT_URL``; nothing
here plumbs an endpoint.

The window's own setting, read here beside ``hmskit.settings`` (which every window shares):

- ``HMS_RENEWAL_FEE``: the renewal fee, ``AMOUNT CURRENCY`` (``"130.00 USD"``, the default when
  unset or blank). The amount is plain decimal notation greater than 0, with no more decimal places
  than the currency's minor unit; the currency an ISO 4217 code in capitals. Anything else stops
  the window at its first invocation with a ``SettingsError`` naming the variable.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from hmskit.clock import Clock, SystemClock
from hmskit.consumer import EventConsumer
from hmskit.currencies import MINOR_UNITS
from hmskit.idempotency import EventMarks, Idempotency
from hmskit.ids import new_id
from hmskit.outbox import Outbox, OutboxRelay, relay_factory
from hmskit.ratelimit import FixedWindowRateLimiter
from hmskit.settings import SettingsError, WindowSettings, load_settings
from hmskit.store import TableStore
from passport.adapters import A2ACaller, A2AEligibility, DynamoRenewalRepository
from passport.domain import EligibilityChecker, Fee, RenewalRepository
from passport.events import RenewalEvents

if TYPE_CHECKING:
    from hmskit.consumer import Deduplicator

WINDOW = "passport"  # the events' source (hms.passport), whatever the deployment calls the function

RENEWAL_FEE_VARIABLE = "HMS_RENEWAL_FEE"
DEFAULT_RENEWAL_FEE = "130.00 USD"
# Plain decimal notation, as the events' Money (at most 9 digits, 3 places), one space, a code.
_FEE = re.compile(r"(?P<amount>[0-9]{1,9}(?:\.[0-9]{1,3})?) (?P<currency>[A-Z]{3})")


def parse_fee(text: str) -> Fee:
    """``"130.00 USD"`` as a ``Fee``; ``ValueError`` saying what is wrong otherwise.

    Strict: the amount in plain decimal notation (no sign, exponent, separators or float), greater
    than 0, with no more decimal places than the currency's minor unit (padded to them: ``"130 USD"``
    is 130.00 USD); one space; an ISO 4217 currency code in capitals."""
    match = _FEE.fullmatch(text.strip())
    if match is None:
        raise ValueError(
            f"{text!r} is not AMOUNT CURRENCY: a plain decimal amount, one space and an ISO 4217 "
            f"code in capitals, e.g. {DEFAULT_RENEWAL_FEE!r}"
        )
    currency = match["currency"]
    places = MINOR_UNITS.get(currency)
    if places is None:
        raise ValueError(f"{text!r}: {currency!r} is not an ISO 4217 currency code")
    amount = Decimal(match["amount"])
    if amount <= 0:
        raise ValueError(f"{text!r}: the fee must be greater than 0")
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        raise ValueError(f"{text!r}: {currency} amounts have at most {places} decimal places")
    return Fee(amount.quantize(Decimal(1).scaleb(-places)), currency)


DEFAULT_FEE = parse_fee(DEFAULT_RENEWAL_FEE)


def renewal_fee_from_env(environ: Mapping[str, str]) -> Fee:
    """``HMS_RENEWAL_FEE`` (the default when unset or blank); ``SettingsError`` on a bad value."""
    text = environ.get(RENEWAL_FEE_VARIABLE, "")
    if not text.strip():
        return DEFAULT_FEE
    try:
        return parse_fee(text)
    except ValueError as exc:
        raise SettingsError(
            f"invalid window settings from the environment: {RENEWAL_FEE_VARIABLE}: {exc}"
        ) from exc


@dataclass
class Deps:
    settings: WindowSettings
    renewals: RenewalRepository
    eligibility: EligibilityChecker
    events: Outbox  # the outbox: stamps event id, time and source
    rate_limiter: FixedWindowRateLimiter | None
    idempotency: Idempotency
    dedupe_factory: Callable[[], Deduplicator]
    clock: Clock = field(default_factory=SystemClock)
    relay_factory: Callable[[], OutboxRelay] | None = None  # None: no bus, this deployment cannot relay
    renewal_fee: Fee = DEFAULT_FEE  # what a payment must be, exactly, to pay a renewal
    _consumer: EventConsumer | None = field(default=None, init=False, repr=False)

    def new_id(self) -> str:
        return new_id(int(self.clock.now() * 1000))

    def now_iso(self) -> str:
        return datetime.fromtimestamp(self.clock.now(), UTC).isoformat(timespec="milliseconds")

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
    renewal_fee: Fee = DEFAULT_FEE,
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

    idempotency = Idempotency(
        dynamodb, settings.table_name, ttl_seconds=settings.idempotency_ttl_seconds, scope=WINDOW, clock=clock
    )
    marks = EventMarks(store, scope=WINDOW, clock=clock)  # the saga's steps carry their event's dedupe
    return Deps(
        settings=settings,
        renewals=DynamoRenewalRepository(store, outbox, idempotency, marks),
        eligibility=A2AEligibility(functools.cache(a2a_client)),
        events=outbox,
        rate_limiter=limiter,
        idempotency=idempotency,
        dedupe_factory=lambda: marks,
        clock=clock,
        relay_factory=relay_factory(store, settings.event_bus),
        renewal_fee=renewal_fee,
    )


@functools.cache
def deps() -> Deps:
    settings = load_settings()
    fee = renewal_fee_from_env(os.environ)  # a bad value stops the window before any client is built
    import boto3

    return build(settings, dynamodb=boto3.client("dynamodb"), renewal_fee=fee)
