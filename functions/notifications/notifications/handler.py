"""Notifications handler: HTTP routes and bus events, each translated into one domain call.

One Lambda entry point (``hmskit.consumer.dispatch``): API Gateway requests go to the routes, SQS
batches from the window's subscription queues to the consumer. This window publishes nothing, so
it has no outbox relay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# boto3's stack first (as payments): measured to cold-start faster than after Powertools.
import hmskit.store  # noqa: F401  # isort: skip
from hmskit.consumer import dispatch
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
    from pydantic import ValidationError

    from notifications.models import ListQuery  # pydantic (~50 ms): only the routes that parse input

    try:
        query = ListQuery.model_validate(app.event.query_string_parameters or {})
    except ValidationError as exc:
        raise BadRequestError(
            f"invalid query: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}"
        ) from exc
    page = domain.list_notifications(
        app.deps.notifications, owner=app.principal().sub, limit=query.limit, cursor=query.cursor
    )
    return json_response(200, {"items": [n.public() for n in page.items], "next_cursor": page.cursor})


@app.get(f"{BASE}/health", rate_limited=False)
def health() -> Any:
    return json_response(200, {"window": "notifications", "status": "ok"})


def on_event(event: Event, deps: bootstrap.Deps) -> None:
    """One bus event (already deduplicated by the consumer): email the citizen, keep the record."""
    from notifications import letters

    notification = domain.notify(
        letters.cause_of(event),
        letters.letter_for(event),
        repo=deps.notifications,
        mailer=deps.mailer,
        now_iso=deps.now_iso,
    )
    metrics().add_metric(name=_METRIC[notification.delivery], unit="Count", value=1)
    logger().info(
        "notification %s",
        notification.delivery,
        extra={
            "notification_id": notification.id,
            "delivery": notification.delivery,
            "reason": notification.reason,
        },
    )


def handle(event: dict[str, Any], context: Any, deps: bootstrap.Deps) -> dict[str, Any]:
    return dispatch(
        event,
        context,
        http=lambda e, c: app.handle(e, c, deps),
        consumer=lambda: deps.consumer(on_event),
    )


@entrypoint
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, context, bootstrap.deps())
