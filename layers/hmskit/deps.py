"""What every window's dependencies share: the base of each ``bootstrap.Deps`` and the parts a
window with a table builds the same way (store, rate limiter, outbox, idempotency, relay).

Nothing here builds a client or imports boto3: a window's bootstrap passes its DynamoDB client in,
and the relay's EventBridge client is built on first use.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hmskit.clock import Clock, SystemClock
from hmskit.ids import new_id
from hmskit.ratelimit import FixedWindowRateLimiter
from hmskit.settings import WindowSettings

if TYPE_CHECKING:
    from hmskit.idempotency import Idempotency
    from hmskit.outbox import Outbox, OutboxRelay
    from hmskit.store import TableStore


@dataclass(kw_only=True)
class BaseDeps:
    """Settings, clock, rate limiter, relay, and the id and time helpers every window uses."""

    settings: WindowSettings
    rate_limiter: FixedWindowRateLimiter | None = None
    clock: Clock = field(default_factory=SystemClock)
    relay_factory: Callable[[], OutboxRelay] | None = None  # None: no bus, this deployment cannot relay

    def new_id(self) -> str:
        return new_id(int(self.clock.now() * 1000))

    def now_iso(self) -> str:
        return datetime.fromtimestamp(self.clock.now(), UTC).isoformat(timespec="milliseconds")

    def relay(self) -> OutboxRelay:
        if self.relay_factory is None:
            raise RuntimeError("HMS_EVENT_BUS is not set: this deployment cannot relay events")
        return self.relay_factory()


class TableParts:
    """The platform's pieces over a window's own table, built from its settings and DynamoDB client.

    ``source`` names the window in its events and idempotency records (``settings.window`` unless
    the window pins it)."""

    def __init__(
        self,
        settings: WindowSettings,
        dynamodb: Any,
        *,
        clock: Clock | None = None,
        source: str | None = None,
    ) -> None:
        from hmskit.store import TableStore  # boto3's stack: only for a window that has a table

        self.settings = settings
        self.dynamodb = dynamodb
        self.clock: Clock = clock or SystemClock()
        self.source = source or settings.window
        self.store: TableStore = TableStore(dynamodb, settings.table_name)
        self.rate_limiter = (
            FixedWindowRateLimiter(self.store, settings.rate_limit, self.clock)
            if settings.rate_limit
            else None
        )

    def base(self, *, relay: bool = True) -> dict[str, Any]:
        """The ``BaseDeps`` fields, to spread into a window's ``Deps``; ``relay=False`` for a window
        that publishes nothing."""
        from hmskit.outbox import relay_factory

        return {
            "settings": self.settings,
            "rate_limiter": self.rate_limiter,
            "clock": self.clock,
            "relay_factory": relay_factory(self.store, self.settings.event_bus) if relay else None,
        }

    @functools.cached_property
    def outbox(self) -> Outbox:
        from hmskit.outbox import Outbox

        clock = self.clock
        return Outbox(
            self.store, window=self.source, new_id=lambda: new_id(int(clock.now() * 1000)), now=clock.now
        )

    @functools.cached_property
    def idempotency(self) -> Idempotency:
        from hmskit.idempotency import Idempotency

        return Idempotency(
            self.dynamodb,
            self.settings.table_name,
            ttl_seconds=self.settings.idempotency_ttl_seconds,
            scope=self.source,
            clock=self.clock,
        )
