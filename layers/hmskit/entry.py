"""The Lambda entry point of a window: what invoked it (HTTP, an SQS batch, the table stream, the
scheduled sweep) decides who handles it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hmskit.consumer import EventConsumer, UnroutableEventError


def event_kind(event: Mapping[str, Any]) -> str:
    """What invoked the function: ``http``, ``sqs``, ``stream`` (the table's) or ``schedule``."""
    records = event.get("Records")
    if isinstance(records, list) and records:
        source = records[0].get("eventSource") or records[0].get("EventSource")
        if source == "aws:sqs":
            return "sqs"
        if source == "aws:dynamodb":
            return "stream"
        return "unknown"
    if event.get("source") == "aws.scheduler" or event.get("detail-type") == "Scheduled Event":
        return "schedule"
    if "requestContext" in event:
        return "http"
    return "unknown"


def dispatch(
    event: Mapping[str, Any],
    context: Any,
    *,
    http: Callable[[dict[str, Any], Any], dict[str, Any]],
    consumer: Callable[[], EventConsumer] | None = None,
    relay: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    """One Lambda entry point for everything a window is invoked with.

    HTTP requests go to ``http``; SQS batches to the consumer; the table stream and the scheduled
    sweep to the outbox relay (``consumer``/``relay`` are factories: a window that never gets that
    kind of event never builds them).
    """
    kind = event_kind(event)
    if kind == "http":
        return http(dict(event), context)
    if kind == "sqs" and consumer is not None:
        return consumer().handle(event, context)
    if kind == "stream" and relay is not None:
        result: dict[str, Any] = relay().relay_stream(event)
        return result
    if kind == "schedule" and relay is not None:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        done = relay().relay_pending(keep_going=(lambda: remaining() > 10_000) if remaining else None)
        return {"published": len(done.published), "failed": len(done.failed)}
    raise UnroutableEventError(f"this window cannot handle a {kind!r} invocation")
