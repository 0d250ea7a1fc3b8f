"""The notifications window's HTTP contract, for ``docs/openapi.json`` (``hms template``).

The answers are described here, field for field what ``notifications.domain.Notification.public``
and the handler return. The handler never imports this module.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, get_args

from pydantic import BaseModel, Field, WithJsonSchema

from hmskit.apidoc import NEXT_CURSOR, health, listing
from hmskit.ids import ID_PATTERN
from notifications import domain
from notifications.models import ListQuery

BASE = "/api/v1/notifications"
DESCRIPTION = (
    "The emails sent to a citizen about their renewal (submitted, paid, ready for review), kept per "
    "citizen; the recipient is masked."
)

Id = Annotated[
    str, Field(pattern=ID_PATTERN.pattern, description="26 Crockford base32 characters, time-ordered")
]
Delivery = Annotated[
    str,
    WithJsonSchema(
        {
            "type": "string",
            "enum": list(get_args(domain.Delivery)),
            "description": "`pending` while being sent; `sent`; `no_address` when no email address "
            "is known; `failed` when the mail service refused it",
        }
    ),
]


class Notification(BaseModel):
    """A notification, as the citizen sees it: no provider ids, no failure details."""

    id: Id
    type: str = Field(description="the event that caused it: RenewalSubmitted, PaymentCaptured, ...")
    event_id: str
    renewal_id: str | None
    subject: str
    channel: Annotated[str, WithJsonSchema({"type": "string", "const": domain.CHANNEL})]
    recipient: str | None = Field(description="the address, masked (`a***@example.org`)")
    delivery: Delivery
    created_at: datetime


class NotificationPage(BaseModel):
    """The caller's notifications, newest first."""

    items: list[Notification]
    next_cursor: str | None = Field(description=NEXT_CURSOR)


OPERATIONS = {
    ("GET", BASE): listing(
        "listNotifications",
        "List the caller's notifications",
        items="notifications",
        query=ListQuery,
        response=NotificationPage,
    ),
    ("GET", f"{BASE}/health"): health("notifications"),
}
