"""Consuming bus events: SQS batches from the window's subscription queues.

Each (event type, consumer) pair has its own SQS queue fed by an EventBridge rule; the queue invokes
the consumer's function with batches. ``EventConsumer.handle`` processes a batch with Powertools'
batch utility and answers ``batchItemFailures``, so only the failed messages come back (after the
queue's visibility timeout) and a poison message reaches the DLQ once its receive count runs out.

Every event has its effect once, keyed on the contract's ``event_id`` (stable across re-publication
by the outbox relay). Two ways, chosen by the window when it builds its consumer:

- ``EventDeduplicator`` (the default): Powertools idempotency in the window's own table, a record
  "in progress" before the handler runs and "completed" after it: two more writes per delivery.
- ``IdempotentEffects``: the window declares its handlers idempotent by construction (the effect
  carries its own dedupe: a conditional write keyed on the event, or a marker item in the effect's
  own transaction, ``hmskit.idempotency.EventMarks``), so the platform writes nothing of its own.
  A handler says "this event was applied already" by raising ``AlreadyAppliedError`` or returning
  ``False``; the message is then acknowledged as a duplicate.

Either way a failing handler fails only its own message, which SQS delivers again; the handler then
finds what the first attempt left (nothing, or its effect) and answers accordingly.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from hmskit.contracts import Event

EVENT_IDEMPOTENCY_TTL_SECONDS = 15 * 24 * 3600  # beyond SQS's 14-day maximum retention, DLQ included


@dataclass(frozen=True)
class Delivery:
    """What the queue says about the message that carried an event."""

    message_id: str = ""
    receive_count: int = 1  # SQS ``ApproximateReceiveCount``: 1 on the first receive


#: A handler applies an event; ``False`` (or ``AlreadyAppliedError``) says it had been applied before.
EventHandler = Callable[["Event", Delivery], "bool | None"]

log = logging.getLogger("hmskit.consumer")


class UnroutableEventError(Exception):
    """A message that this window has no handler for, or that matches no contract (poison)."""


class RetryLaterError(Exception):
    """Not a fault: the message cannot be handled *yet* (it is retried after the visibility
    timeout). Logged at INFO without a traceback."""


class AlreadyAppliedError(Exception):
    """The event's effect was applied by an earlier delivery (nothing was written now): the message
    is acknowledged as a duplicate."""


class EventInProgressError(RetryLaterError):
    """Another delivery of the same event is being processed right now; retry later."""


def receive_count_of(record: Mapping[str, Any]) -> int:
    """The ``ApproximateReceiveCount`` of an SQS record; 1 when it does not say (a first receive)."""
    try:
        return max(int((record.get("attributes") or {}).get("ApproximateReceiveCount", 1)), 1)
    except (AttributeError, TypeError, ValueError):
        return 1


def bus_event_of(body: str) -> tuple[str, dict[str, Any]]:
    """(detail-type, detail) of an SQS message body that EventBridge delivered."""
    try:
        envelope = json.loads(body)
        return str(envelope["detail-type"]), dict(envelope["detail"])
    except (ValueError, KeyError, TypeError) as exc:
        raise UnroutableEventError(f"the message is not an EventBridge event: {exc}") from exc


class Deduplicator(Protocol):
    def once(self, event_id: str, effect: Callable[[], object], context: Any = None) -> bool:
        """Run ``effect`` unless this event already had it; True when it ran now."""
        ...


class EventDeduplicator:
    """Runs an event's effect once per ``event_id`` (Powertools idempotency on the window table)."""

    def __init__(
        self, client: Any, table_name: str, *, window: str, ttl_seconds: int = EVENT_IDEMPOTENCY_TTL_SECONDS
    ):
        self._client = client
        self._table_name = table_name
        self._window = window
        self._ttl = ttl_seconds
        self._layer: Any = None
        self._config: Any = None

    def _persistence(self) -> tuple[Any, Any]:
        if self._layer is None:
            from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

            from hmskit.idempotency import window_table_layer

            self._layer = window_table_layer(
                self._client, self._table_name, f"IDEMPOTENCY#{self._window}#events"
            )
            self._config = IdempotencyConfig(event_key_jmespath="event_id", expires_after_seconds=self._ttl)
        return self._layer, self._config

    def once(self, event_id: str, effect: Callable[[], object], context: Any = None) -> bool:
        """Run ``effect`` unless this event already had it; True when it ran now."""
        from aws_lambda_powertools.utilities.idempotency import idempotent_function
        from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

        layer, config = self._persistence()
        if context is not None and hasattr(context, "get_remaining_time_in_millis"):
            config.register_lambda_context(context)
        ran: list[bool] = []

        def apply(message: dict[str, str]) -> dict[str, str]:
            effect()
            ran.append(True)
            return {"event_id": message["event_id"]}

        guarded = idempotent_function(
            data_keyword_argument="message", persistence_store=layer, config=config
        )(apply)
        try:
            guarded(message={"event_id": event_id})
        except IdempotencyAlreadyInProgressError as exc:
            raise EventInProgressError(f"event {event_id} is being processed by another delivery") from exc
        return bool(ran)


class InMemoryDeduplicator:
    """The unit-test deduplicator: same contract, no table."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def once(self, event_id: str, effect: Callable[[], object], context: Any = None) -> bool:
        if event_id in self.seen:
            return False
        effect()
        self.seen.add(event_id)
        return True


class IdempotentEffects:
    """The declaration that a consumer's handlers are idempotent by construction: no record of the
    platform's beside the effect, so a delivery costs only its effect's own calls.

    A handler qualifies when a redelivery of an event it applied (the same ``event_id`` in a new SQS
    message, after a crash between the effect and the acknowledgement, or a re-publication) finds
    the effect and writes nothing: a conditional write keyed on the event, or an
    ``hmskit.idempotency.EventMarks`` marker in the effect's own transaction. A handler that raises
    leaves nothing applied (or what a redelivery resumes), and its message is retried.
    """

    def once(self, event_id: str, effect: Callable[[], object], context: Any = None) -> bool:
        return effect() is not False


class EventConsumer:
    """Routes each message of an SQS batch to the window's handler for its event type."""

    def __init__(self, handlers: Mapping[str, EventHandler], dedupe: Deduplicator):
        self._handlers = dict(handlers)
        self._dedupe = dedupe

    @property
    def event_types(self) -> tuple[str, ...]:
        return tuple(sorted(self._handlers))

    def handle(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        """Process an SQS batch event; answer ``{"batchItemFailures": [...]}``."""
        from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

        from hmskit.observability import logger

        def record_handler(record: Any) -> None:
            receives = receive_count_of(record.raw_event)
            try:
                self.process(
                    record.body, message_id=record.message_id, context=context, receive_count=receives
                )
            except Exception as exc:
                # Powertools logs a failed record only at DEBUG: say which message failed, and why,
                # where operators look (it is retried, then lands in the DLQ)
                extra = {"message_id": record.message_id, "receive_count": receives, "error": repr(exc)}
                if isinstance(exc, RetryLaterError):
                    logger().info("event message deferred; it will be retried", extra=extra)
                else:
                    logger().warning(
                        "event message failed; it will be retried, then moved to the DLQ",
                        extra=extra,
                        exc_info=not isinstance(exc, UnroutableEventError),
                    )
                raise

        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        response: dict[str, Any] = process_partial_response(  # type: ignore[assignment]
            event=dict(event), record_handler=record_handler, processor=processor, context=context
        )
        return response

    def process(
        self, body: str, *, message_id: str = "", context: Any = None, receive_count: int = 1
    ) -> bool:
        """One message: parse it with the current contract, run its handler once. Raises on failure."""
        from hmskit.contracts import ContractError, parse_detail
        from hmskit.observability import logger

        detail_type, detail = bus_event_of(body)
        handler = self._handlers.get(detail_type)
        if handler is None:
            raise UnroutableEventError(
                f"no handler for {detail_type!r} (handles {', '.join(self.event_types)})"
            )
        try:
            event = parse_detail(detail)
        except ContractError as exc:
            raise UnroutableEventError(str(exc)) from exc
        if event.type != detail_type:
            raise UnroutableEventError(f"detail-type {detail_type!r} carries a {event.type!r} event")
        log_ = logger()
        log_.set_correlation_id(event.metadata.correlation_id)
        log_.append_keys(event_id=event.id, event_type=event.type, message_id=message_id)
        try:
            delivery = Delivery(message_id=message_id, receive_count=receive_count)
            ran = self._dedupe.once(event.id, lambda: handler(event, delivery), context)
        except AlreadyAppliedError:
            ran = False
        finally:
            log_.remove_keys(["event_id", "event_type", "message_id"])
        if not ran:
            log_.info("duplicate event ignored", extra={"event_id": event.id, "event_type": event.type})
        return ran
