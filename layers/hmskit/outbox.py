"""The transactional outbox: a state change and its event are written together or not at all.

A window never calls ``put_events`` in the middle of a request. It writes its state item AND an
outbox item in ONE ``TransactWriteItems`` (``Outbox.op``), so a crash can only lose both or neither.
The relay then publishes outbox items to the bus and deletes each one only after EventBridge has
accepted it. A crash between publish and delete re-publishes the same event (same ``event_id``):
consumers deduplicate on it, so the effect happens exactly once.

Two relays share this code:

- in AWS, the window's table stream (INSERTs of ``pk = OUTBOX``, filtered in the event source
  mapping) invokes the window's own function: ``OutboxRelay.relay_stream``; a scheduled sweep
  (``relay_pending``) republishes anything a failed stream batch left behind;
- under ``hms up``, the supervisor runs ``relay_pending`` right after each invocation of a
  publishing window, and on a slow timer as the safety net.

Outbox items live in one partition (``pk = OUTBOX``) ordered by the time-ordered event id, so the
sweep reads the oldest first. They are deleted once published, so the partition stays small.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hmskit.store import TableStore, from_dynamo

if TYPE_CHECKING:
    from hmskit.contracts import Event, EventData

OUTBOX_PK = "OUTBOX"
_SK_PREFIX = "EVENT#"
PUT_EVENTS_BATCH = 10  # EventBridge's limit per PutEvents call

log = logging.getLogger("hmskit.outbox")


class PublishError(Exception):
    """Some events could not be published after the retries; they stay in the outbox."""


def outbox_item(event: Event, *, source: str, now: str) -> dict[str, Any]:
    """The outbox row of an event: everything ``PutEvents`` needs, frozen at write time."""
    return {
        "pk": OUTBOX_PK,
        "sk": _SK_PREFIX + event.id,
        "type": "outbox",
        "event_id": event.id,
        "source": source,
        "detail_type": event.type,
        "detail": json.dumps(event.detail(), separators=(",", ":"), sort_keys=True),
        "event_time": event.metadata.time.isoformat(),
        "created_at": now,
    }


class Outbox:
    """Builds events for one window and the transaction operations that record them."""

    def __init__(
        self,
        store: TableStore,
        *,
        window: str,
        new_id: Callable[[], str],
        now: Callable[[], float],
    ) -> None:
        self._store = store
        self.window = window
        self.source = f"hms.{window}"
        self._new_id = new_id
        self._now = now

    def event(self, data: EventData, *, correlation_id: str | None) -> Event:
        from hmskit.contracts import build

        return build(
            data,
            event_id=self._new_id(),
            source=self.window,
            time=datetime.fromtimestamp(self._now(), UTC),
            correlation_id=correlation_id,
        )

    def op(self, event: Event) -> dict[str, Any]:
        """The ``Put`` to include in the state change's transaction."""
        now = datetime.fromtimestamp(self._now(), UTC).isoformat(timespec="milliseconds")
        return self._store.put_op(outbox_item(event, source=self.source, now=now), new=True)


def entry(item: Mapping[str, Any], bus_name: str) -> dict[str, Any]:
    """A ``PutEvents`` entry from an outbox row."""
    out: dict[str, Any] = {
        "Source": str(item["source"]),
        "DetailType": str(item["detail_type"]),
        "Detail": str(item["detail"]),
        "EventBusName": bus_name,
    }
    when = item.get("event_time")
    if when:
        try:
            out["Time"] = datetime.fromisoformat(str(when))
        except ValueError:
            pass
    return out


class EventPublisher:
    """``PutEvents`` with partial failures checked and retried (bounded, with backoff).

    ``publish`` returns the keys of the entries that still failed; it never raises for a partial
    failure, because the caller (the relay) keeps those items and tries again later.
    """

    def __init__(
        self,
        client: Any | Callable[[], Any],
        bus_name: str,
        *,
        attempts: int = 3,
        backoff_seconds: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self.bus_name = bus_name
        self._attempts = attempts
        self._backoff = backoff_seconds
        self._sleep = sleep

    @property
    def client(self) -> Any:
        if callable(self._client) and not hasattr(self._client, "put_events"):
            self._client = self._client()
        return self._client

    def publish(self, entries: Iterable[tuple[str, dict[str, Any]]]) -> list[str]:
        pending = list(entries)
        failed: list[str] = []
        for start in range(0, len(pending), PUT_EVENTS_BATCH):
            failed.extend(self._publish_batch(pending[start : start + PUT_EVENTS_BATCH]))
        return failed

    def _publish_batch(self, batch: list[tuple[str, dict[str, Any]]]) -> list[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        todo = batch
        for attempt in range(self._attempts):
            if attempt:
                self._sleep(self._backoff * (2 ** (attempt - 1)))
            try:
                resp = self.client.put_events(Entries=[e for _k, e in todo])
            except (ClientError, BotoCoreError) as exc:
                log.warning("put_events failed (attempt %d/%d): %s", attempt + 1, self._attempts, exc)
                continue
            results = resp.get("Entries", [])
            if not resp.get("FailedEntryCount") and len(results) == len(todo):
                return []
            retry = []
            for (key, e), result in zip(todo, results + [{}] * (len(todo) - len(results)), strict=True):
                if result.get("EventId") and not result.get("ErrorCode"):
                    continue
                log.warning(
                    "put_events rejected %s: %s %s",
                    key,
                    result.get("ErrorCode", "no result"),
                    result.get("ErrorMessage", ""),
                )
                retry.append((key, e))
            todo = retry
            if not todo:
                return []
        return [k for k, _e in todo]


@dataclass
class RelayResult:
    published: list[str] = field(default_factory=list)  # event ids
    failed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.published or self.failed)


class OutboxRelay:
    """Publishes a window's outbox items and deletes each one once the bus has accepted it."""

    def __init__(self, store: TableStore, publisher: EventPublisher) -> None:
        self._store = store
        self._publisher = publisher

    def relay_pending(self, *, limit: int = 100, keep_going: Callable[[], bool] | None = None) -> RelayResult:
        """Publish pending items, oldest first, ``limit`` per page, until the outbox is drained or
        ``keep_going()`` says stop (the sweep passes "enough Lambda time left").

        Pages move forward by sort key, so rows that keep failing (left for the next run) never
        block the newer ones behind them.
        """
        total = RelayResult()
        after: str | None = None
        while True:
            items, after = self._store.query_page(
                OUTBOX_PK, sk_prefix=_SK_PREFIX, limit=limit, after_sk=after, newest_first=False
            )
            done = self._relay(items)
            total.published.extend(done.published)
            total.failed.extend(done.failed)
            if after is None or (keep_going is not None and not keep_going()):
                return total

    def relay_stream(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """The table stream's batch (``INSERT`` of outbox rows): publish, delete, report failures.

        Returns the partial-batch response (``batchItemFailures`` by ``SequenceNumber``), so a failed
        record is retried by the event source mapping without re-sending the others.
        """
        items: list[dict[str, Any]] = []
        seq_of: dict[str, str] = {}
        for record in event.get("Records", []):
            ddb = record.get("dynamodb") or {}
            image = ddb.get("NewImage")
            if record.get("eventName") != "INSERT" or not image:
                continue
            item = from_dynamo(image)
            if item.get("pk") != OUTBOX_PK:
                continue
            items.append(item)
            seq_of[str(item["event_id"])] = str(ddb.get("SequenceNumber", ""))
        result = self._relay(items)
        return {"batchItemFailures": [{"itemIdentifier": seq_of[e]} for e in result.failed]}

    def _relay(self, items: list[dict[str, Any]]) -> RelayResult:
        result = RelayResult()
        if not items:
            return result
        by_id = {str(i["event_id"]): i for i in items}
        failed = set(
            self._publisher.publish((k, entry(i, self._publisher.bus_name)) for k, i in by_id.items())
        )
        published = {event_id: item for event_id, item in by_id.items() if event_id not in failed}
        result.failed.extend(event_id for event_id in by_id if event_id in failed)
        result.published.extend(published)
        # published already: a row left behind is re-published by a later run (consumers deduplicate)
        kept = self._store.delete_many((OUTBOX_PK, str(item["sk"])) for item in published.values())
        if kept:
            log.warning("%d outbox item(s) published but not deleted: %s", len(kept), [sk for _, sk in kept])
        return result


def relay_factory(store: TableStore, bus_name: str | None) -> Callable[[], OutboxRelay] | None:
    """The window's relay, built on first use (the events client costs cold start); ``None`` when
    the deployment has no bus (``HMS_EVENT_BUS`` unset): the window then cannot relay."""
    if not bus_name:
        return None
    built: list[OutboxRelay] = []

    def relay() -> OutboxRelay:
        if not built:
            import boto3

            built.append(OutboxRelay(store, EventPublisher(boto3.client("events"), bus_name)))
        return built[0]

    return relay
