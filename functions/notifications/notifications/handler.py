"""Notifications handler: HTTP routes and bus events, each translated into domain calls.

One Lambda entry point (``hmskit.entry.dispatch``): API Gateway requests go to the routes, SQS
batches from the window's subscription queues to the consumer. This window publishes nothing, so
it has no outbox relay.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

# boto3's stack first (as payments): measured to cold-start faster than after Powertools.
import hmskit.store  # noqa: F401  # isort: skip
from hmskit.entry import dispatch
from hmskit.http import WindowApp, json_response
from hmskit.observability import entrypoint, logger, metrics
from hmskit.problems import BadRequestError
from notifications import bootstrap, domain

if TYPE_CHECKING:
    from hmskit.contracts import Event

BASE = "/api/v1/notifications"

app = WindowApp("notifications", errors={domain.InvalidCursorError: BadRequestError})

_METRIC = {
    domain.SENT: "NotificationSent",
    domain.NO_ADDRESS: "NotificationWithoutAddress",
    domain.FAILED: "NotificationRejected",
    domain.PENDING: "NotificationPending",
}


@app.get(BASE)
def list_notifications() -> Any:
    from notifications.models import ListQuery  # pydantic (~50 ms): only the routes that parse input

    query = app.query(ListQuery)
    page = domain.list_notifications(
        app.deps.notifications, owner=app.principal().sub, limit=query.limit, cursor=query.cursor
    )
    return json_response(200, {"items": [n.public() for n in page.items], "next_cursor": page.cursor})


@app.get(f"{BASE}/health", rate_limited=False)
def health() -> Any:
    return json_response(200, {"window": "notifications", "status": "ok"})


def on_event(event: Event, deps: bootstrap.Deps) -> None:
    """One bus event (already deduplicated by the consumer): email the citizen, keep the record;
    then, when the event carries an address, send what waited for one."""
    from notifications import letters

    cause = letters.cause_of(event)
    # the address the event offers, remembered once: its answer also says whether anything waits for it
    contact = (
        deps.notifications.remember_contact(
            cause.owner, cause.email, as_of_ms=cause.occurred_ms, event_id=cause.event_id
        )
        if cause.email
        else None
    )
    notification = domain.notify(
        cause,
        letters.letter_for(event),
        repo=deps.notifications,
        mailer=deps.mailer,
        now_iso=deps.now_iso,
        now=deps.clock.now,
        may_defer=deps.receive_counts.get(event.id, 1) <= domain.DEFERRED_RECEIVES,
        sleep=deps.sleep,
        contact=contact,
    )
    _report(notification)
    if contact is not None:
        for waited in domain.send_waiting(
            cause.owner,
            contact=contact,
            repo=deps.notifications,
            mailer=deps.mailer,
            now_iso=deps.now_iso,
            now=deps.clock.now,
            sleep=deps.sleep,
        ):
            _report(waited, waited_for_address=True)


def _report(notification: domain.Notification, *, waited_for_address: bool = False) -> None:
    metrics().add_metric(name=_METRIC[notification.delivery], unit="Count", value=1)
    fields = {
        "notification_id": notification.id,
        "notification_event_id": notification.event_id,
        "delivery": notification.delivery,
        "reason": notification.reason,
        "waited_for_address": waited_for_address,
        "ses_message_id": notification.ses_message_id,
        "cause_correlation_id": notification.correlation_id,  # an email sent late: its cause's request
    }
    if notification.delivery == domain.PENDING:
        # SES took the email but its record still says pending (the table failed after the send):
        # the message succeeds all the same, so that no retry emails the citizen twice
        logger().error(
            "notification sent but not recorded",
            extra=fields | {"event_id": notification.event_id},
        )
        return
    logger().info("notification %s", notification.delivery, extra=fields)


def receive_counts(event: Mapping[str, Any]) -> dict[str, int]:
    """Event id -> ``ApproximateReceiveCount`` of each SQS message of a batch (empty for anything else).

    The consumer hands ``on_event`` the parsed event only; how often its message was received decides
    whether a missing address may still fail it (``domain.DEFERRED_RECEIVES``). A message this cannot
    read is left out (it counts as a first receive; the consumer reports what is wrong with it).
    """
    counts: dict[str, int] = {}
    for record in event.get("Records") or ():
        try:
            if record.get("eventSource") != "aws:sqs":
                continue
            event_id = str(json.loads(record["body"])["detail"]["metadata"]["event_id"])
            count = int((record.get("attributes") or {}).get("ApproximateReceiveCount", 1))
        except (AttributeError, KeyError, TypeError, ValueError):
            continue
        counts[event_id] = max(count, counts.get(event_id, 0))
    return counts


def handle(event: dict[str, Any], context: Any, deps: bootstrap.Deps) -> dict[str, Any]:
    deps.receive_counts = receive_counts(event)
    return dispatch(
        event,
        context,
        http=lambda e, c: app.handle(e, c, deps),
        consumer=lambda: deps.consumer(on_event),
    )


@entrypoint
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, context, bootstrap.deps())
