"""Notifications handler: HTTP routes and bus events, each translated into domain calls.

One Lambda entry point (``hmskit.entry.dispatch``): API Gateway requests go to the routes, SQS
batches from the window's subscription queues to its consumers (``notifications.consumers``). This
window publishes nothing, so it has no outbox relay.
"""

from __future__ import annotations

from typing import Any

import hmskit.store  # noqa: F401  # isort: skip  # first: see hmskit's cold-start rules
from hmskit.entry import dispatch
from hmskit.http import WindowApp, json_response
from hmskit.observability import entrypoint
from hmskit.problems import BadRequestError
from notifications import bootstrap, domain

BASE = "/api/v1/notifications"

app = WindowApp("notifications", errors={domain.InvalidCursorError: BadRequestError})


@app.get(BASE)
def list_notifications() -> Any:
    from notifications.models import ListQuery

    query = app.query(ListQuery)
    page = domain.list_notifications(
        app.deps.notifications, owner=app.principal().sub, limit=query.limit, cursor=query.cursor
    )
    return json_response(200, {"items": [n.public() for n in page.items], "next_cursor": page.cursor})


@app.get(f"{BASE}/health", rate_limited=False)
def health() -> Any:
    return json_response(200, {"window": "notifications", "status": "ok"})


def handle(event: dict[str, Any], context: Any, deps: bootstrap.Deps) -> dict[str, Any]:
    return dispatch(event, context, http=lambda e, c: app.handle(e, c, deps), consumer=deps.consumer)


@entrypoint
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, context, bootstrap.deps())
