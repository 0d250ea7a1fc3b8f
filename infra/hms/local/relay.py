"""The local outbox relay: publishes what the windows wrote to their outbox.

In AWS a window's table stream invokes its own function to relay its outbox (``OutboxRelay``); the
emulator has no streams, so under ``hms up`` the supervisor runs the same ``OutboxRelay.relay_pending``
for every publishing window:

* right after each invocation of that window (``RelayingInvoker`` wraps the worker pool: the gateway
  and the event pump invoke through it). The invocation only sets a flag, so the response is never
  delayed, and several invocations in a row coalesce into one relay run;
* every second as the safety net: this is what still delivers an event whose window crashed between
  its write and the end of the invocation (the outbox row survived; nothing kicked the relay).

The boto3 calls run in the relay's own small thread pool. Failures are logged (once per distinct
reason) and retried on the next tick: an unpublished row simply stays in the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from hms.local.invoker import Invoker

RELAY_INTERVAL_SECONDS = 1.0
RELAY_PAGE = 100  # OutboxRelay.relay_pending's default page
REPEAT_LOG_SECONDS = 30.0  # the same failure is logged again at most this often

Log = Callable[[str], None]


class PendingRelay(Protocol):
    """What the loop needs of ``hmskit.outbox.OutboxRelay``."""

    def relay_pending(self, *, limit: int = ...) -> Any: ...


class LocalRelay:
    """One relay loop per publishing window; ``kick(window)`` asks for a run now."""

    def __init__(
        self,
        relays: Mapping[str, PendingRelay],
        *,
        interval: float = RELAY_INTERVAL_SECONDS,
        log: Log | None = None,
    ) -> None:
        self._relays = dict(relays)
        self.interval = interval
        self._log = log if log is not None else (lambda _line: None)
        self._kicks: dict[str, asyncio.Event] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._executor: ThreadPoolExecutor | None = None
        self._last_error: dict[str, tuple[str, float]] = {}
        self.published: dict[str, int] = dict.fromkeys(self._relays, 0)  # events published, per window
        self.runs: dict[str, int] = dict.fromkeys(self._relays, 0)

    @classmethod
    def for_platform(
        cls,
        platform: Any,
        provisioned: Any,
        *,
        dynamodb: Any,
        events: Any,
        interval: float = RELAY_INTERVAL_SECONDS,
        log: Log | None = None,
        on_published: Callable[[Mapping[str, Any]], None] | None = None,
    ) -> LocalRelay:
        """A relay per publishing window: its table's outbox -> the provisioned bus; ``on_published``
        is told of each ``PutEvents`` entry the bus accepted (the trace recorder)."""
        from hmskit.outbox import EventPublisher, OutboxRelay
        from hmskit.store import TableStore

        relays: dict[str, PendingRelay] = {}
        if provisioned.event_bus is not None:
            publisher: Any = EventPublisher(events, provisioned.event_bus)
            if on_published is not None:
                publisher = ObservedPublisher(publisher, on_published)
            for w in platform.windows:
                if platform.topology.publishes(w.name):
                    relays[w.name] = OutboxRelay(TableStore(dynamodb, provisioned.table_name(w)), publisher)
        return cls(relays, interval=interval, log=log)

    @property
    def windows(self) -> tuple[str, ...]:
        return tuple(sorted(self._relays))

    def kick(self, window: str) -> None:
        """Relay ``window``'s outbox soon (never blocks; kicks coalesce). Unknown windows: nothing."""
        event = self._kicks.get(window)
        if event is not None:
            event.set()

    async def start(self) -> None:
        if self._tasks or not self._relays:
            return
        self._executor = ThreadPoolExecutor(
            max_workers=min(4, len(self._relays)), thread_name_prefix="hms-relay"
        )
        for window in self._relays:
            self._kicks[window] = asyncio.Event()
            self._tasks.append(asyncio.create_task(self._loop(window), name=f"hms-relay-{window}"))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks = []
        self._kicks = {}
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def __aenter__(self) -> LocalRelay:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def run_once(self, window: str) -> Any:
        """One ``relay_pending`` of ``window`` in the relay's thread pool (logged; never raises)."""
        relay = self._relays[window]
        loop = asyncio.get_running_loop()
        self.runs[window] += 1
        try:
            result = await loop.run_in_executor(self._executor, lambda: relay.relay_pending(limit=RELAY_PAGE))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._report(window, f"outbox relay failed: {type(exc).__name__}: {exc}")
            return None
        published = list(getattr(result, "published", []) or [])
        failed = list(getattr(result, "failed", []) or [])
        if published:
            self.published[window] += len(published)
            self._log(f"[outbox] {window}: {len(published)} event(s) published")
        if failed:
            self._report(window, f"{len(failed)} event(s) not accepted by the bus; they stay in the outbox")
        else:
            self._last_error.pop(window, None)
        return result

    def _report(self, window: str, reason: str) -> None:
        now = time.monotonic()
        last = self._last_error.get(window)
        if last is None or last[0] != reason or now - last[1] >= REPEAT_LOG_SECONDS:
            self._log(f"[outbox] {window}: {reason}; retrying every {self.interval:g}s")
            self._last_error[window] = (reason, now)

    async def _loop(self, window: str) -> None:
        kick = self._kicks[window]
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(kick.wait(), self.interval)
            kick.clear()
            result = await self.run_once(window)
            handled = len(getattr(result, "published", []) or []) + len(getattr(result, "failed", []) or [])
            if handled >= RELAY_PAGE and not getattr(result, "failed", None):
                kick.set()  # a full page: there may be more, go again at once


class ObservedPublisher:
    """An ``EventPublisher`` that reports each entry the bus accepted (from the relay's threads)."""

    def __init__(self, inner: Any, on_published: Callable[[Mapping[str, Any]], None]) -> None:
        self._inner = inner
        self._on_published = on_published
        self.bus_name = inner.bus_name

    def publish(self, entries: Any) -> list[Any]:
        entries = list(entries)
        failed = self._inner.publish(entries)
        left = set(failed)
        for key, entry in entries:
            if key not in left:
                self._on_published(entry)
        return list(failed)


# what can add an outbox row; an invocation that made none of these calls leaves nothing to relay
WRITES = frozenset(
    f"dynamodb.{op}" for op in ("TransactWriteItems", "PutItem", "UpdateItem", "BatchWriteItem")
)


class RelayingInvoker:
    """The worker pool, with the relay kicked after every invocation that wrote to a table (or failed,
    crashed or timed out: it may have written before it did); a read never costs a relay run."""

    def __init__(self, inner: Invoker, after: Callable[[str], None]) -> None:
        self._inner = inner
        self._after = after

    async def invoke(
        self,
        window_name: str,
        event: Any,
        *,
        timeout: float | None = None,
        request_id: str | None = None,
        throttle: bool = True,
        calls: dict[str, int] | None = None,
    ) -> Any:
        kwargs: dict[str, Any] = {"timeout": timeout}
        if request_id is not None:
            kwargs["request_id"] = request_id
        if not throttle:
            kwargs["throttle"] = False
        made: dict[str, int] = {}
        wrote = True  # unless the invocation answers and says otherwise
        try:
            result = await self._inner.invoke(window_name, event, calls=made, **kwargs)
            wrote = not WRITES.isdisjoint(made)
            return result
        finally:
            if calls is not None:
                for op, n in made.items():
                    calls[op] = calls.get(op, 0) + n
            if wrote:
                self._after(window_name)

    def __getattr__(self, name: str) -> Any:  # status(), windows, ...: the pool's own
        return getattr(self._inner, name)
