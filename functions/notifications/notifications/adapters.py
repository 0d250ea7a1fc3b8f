"""The only code that knows how notifications are stored and how SES is called.

Items of the window's table (beside the platform's rate-limit and idempotency items):

- notification: ``pk = OWNER#<sub>``, ``sk = NOTIFICATION#<id>``; the id is time-ordered (the event's
  time) and derived from the event id, so the partition lists newest first and every delivery of one
  event names one item;
- contact: ``pk = OWNER#<sub>``, ``sk = CONTACT#EMAIL``; the newest address an event carried.

A ``no_address`` notification also keeps its letter (``text``, ``html``) until an address is known.

Cursors carry only the sort key (never the owner) and are checked on the way in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from hmskit.correlation import valid
from hmskit.cursors import Cursors
from hmskit.owned import OwnedItems, owner_pk
from hmskit.store import AlreadyExistsError, ConditionFailedError, TableStore
from notifications.domain import (
    NO_ADDRESS,
    PENDING,
    Contact,
    Delivery,
    DeliveryRejectedError,
    InvalidCursorError,
    MailerUnavailableError,
    Notification,
    OutgoingEmail,
    Page,
)

_PREFIX = "NOTIFICATION#"
_CONTACT_SK = "CONTACT#EMAIL"

# SES answers that no retry can change: the message itself is refused (e.g. an invalid or
# suppressed address, an unverified recipient in the sandbox). Everything else (throttling, 5xx,
# access or configuration problems, a network failure) is retried, then reaches the DLQ.
PERMANENT_SES_ERRORS = frozenset({"MessageRejected", "InvalidParameterValue"})


_CURSORS = Cursors(_PREFIX, InvalidCursorError)
encode_cursor = _CURSORS.encode
decode_cursor = _CURSORS.decode


def _item(n: Notification) -> dict[str, Any]:
    return {
        "pk": owner_pk(n.owner),
        "sk": _PREFIX + n.id,
        "id": n.id,
        "owner": n.owner,
        "type": n.type,
        "event_id": n.event_id,
        "renewal_id": n.renewal_id,
        "subject": n.subject,
        "channel": n.channel,
        "recipient": n.recipient,
        "delivery": n.delivery,
        "ses_message_id": n.ses_message_id,
        "reason": n.reason,
        "attempts": n.attempts,
        "created_at": n.created_at,
        "updated_at": n.updated_at,
        "correlation_id": n.correlation_id,
        "text": n.text,
        "html": n.html,
    }


def _opt(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name)
    return None if value is None else str(value)


def _notification(item: dict[str, Any]) -> Notification:
    delivery: Delivery = item["delivery"]
    return Notification(
        id=str(item["id"]),
        owner=str(item["owner"]),
        type=str(item["type"]),
        event_id=str(item["event_id"]),
        renewal_id=_opt(item, "renewal_id"),
        subject=str(item["subject"]),
        channel=str(item.get("channel", "email")),
        recipient=_opt(item, "recipient"),
        delivery=delivery,
        ses_message_id=_opt(item, "ses_message_id"),
        reason=_opt(item, "reason"),
        attempts=int(item.get("attempts", 0)),
        created_at=str(item["created_at"]),
        updated_at=_opt(item, "updated_at"),
        correlation_id=_opt(item, "correlation_id"),
        text=_opt(item, "text"),
        html=_opt(item, "html"),
    )


def _already(n: Notification, delivery: Delivery, ses_message_id: str | None, reason: str | None) -> bool:
    """``n`` is already the outcome ``finish`` was asked to record (a retried ``finish``)."""
    return n.delivery == delivery and n.ses_message_id == ses_message_id and n.reason == reason


# how many of an owner's newest notifications ``waiting`` looks through at most
_WAITING_SCAN = 200


class DynamoNotificationRepository:
    def __init__(self, store: TableStore) -> None:
        self._store = store
        self._items = OwnedItems(store, _CURSORS, _notification)

    def remember_contact(self, owner: str, email: str, *, as_of_ms: int, event_id: str) -> Contact:
        # refused when a newer event already gave the owner's address: the stored one comes back
        _written, item = self._store.set_if(
            owner_pk(owner),
            _CONTACT_SK,
            {"email": email, "as_of_ms": as_of_ms, "event_id": event_id},
            condition="attribute_not_exists(as_of_ms) OR as_of_ms <= :t",
            values={":t": as_of_ms},
        )
        return Contact(
            email=str(item["email"]) if item.get("email") else None,
            waiting_until_ms=int(item.get("waiting_until_ms") or 0),
        )

    def contact(self, owner: str) -> str | None:
        item = self._store.get(owner_pk(owner), _CONTACT_SK)
        return str(item["email"]) if item and item.get("email") else None

    def mark_waiting(self, owner: str, *, until_ms: int) -> None:
        self._store.set_if(  # refused when a later time is already set: that one stays
            owner_pk(owner),
            _CONTACT_SK,
            {"waiting_until_ms": until_ms},
            condition="attribute_not_exists(waiting_until_ms) OR waiting_until_ms < :u",
            values={":u": until_ms},
        )

    def begin(self, notification: Notification) -> Notification:
        try:
            self._store.put_new(_item(notification))
            return notification
        except AlreadyExistsError:
            pass
        stored = self._store.get(owner_pk(notification.owner), _PREFIX + notification.id)
        if stored is None:  # it existed a moment ago; only a manual delete gets here
            raise ConditionFailedError(f"notification {notification.id} vanished while being recorded")
        existing = _notification(stored)
        if existing.delivery != PENDING:
            return existing
        attempts = existing.attempts + 1
        self._store.update(
            owner_pk(existing.owner),
            _PREFIX + existing.id,
            {"attempts": attempts},
            expect={"delivery": PENDING, "attempts": existing.attempts},
        )
        return replace(existing, attempts=attempts)

    def finish(
        self,
        notification: Notification,
        *,
        delivery: Delivery,
        at: str,
        ses_message_id: str | None = None,
        reason: str | None = None,
    ) -> Notification:
        changes: dict[str, Any] = {"delivery": delivery, "updated_at": at}
        if ses_message_id is not None:
            changes["ses_message_id"] = ses_message_id
        if reason is not None:
            changes["reason"] = reason
        pk, sk = owner_pk(notification.owner), _PREFIX + notification.id
        try:
            stored = self._store.update(pk, sk, changes, expect={"delivery": PENDING})
        except ConditionFailedError:
            current = self._store.get(pk, sk)
            if current is not None and _already(_notification(current), delivery, ses_message_id, reason):
                return _notification(current)  # an earlier try wrote it; its answer was lost
            raise
        return _notification(stored)

    def waiting(self, owner: str, *, since_id: str, limit: int) -> list[Notification]:
        found: list[Notification] = []
        after: str | None = None
        scanned = 0
        while len(found) < limit and scanned < _WAITING_SCAN:
            items, after = self._store.query_page(
                owner_pk(owner), sk_prefix=_PREFIX, limit=50, after_sk=after
            )
            for item in items:
                scanned += 1
                if str(item["sk"]) < _PREFIX + since_id:
                    return found  # newest first: everything after this is older
                if item.get("delivery") == NO_ADDRESS and len(found) < limit:
                    found.append(_notification(item))
            if after is None:
                break
        return found

    def claim(self, notification: Notification, *, recipient: str, at: str) -> Notification | None:
        try:
            stored = self._store.update(
                owner_pk(notification.owner),
                _PREFIX + notification.id,
                {
                    "delivery": PENDING,
                    "recipient": recipient,
                    "attempts": notification.attempts + 1,
                    "updated_at": at,
                },
                expect={"delivery": NO_ADDRESS},
            )
        except ConditionFailedError:
            return None
        return _notification(stored)

    def release(self, notification: Notification, *, at: str) -> None:
        self._store.update(
            owner_pk(notification.owner),
            _PREFIX + notification.id,
            {"delivery": NO_ADDRESS, "recipient": None, "updated_at": at},
            expect={"delivery": PENDING},
        )

    def list(self, owner: str, *, limit: int, cursor: str | None) -> Page:
        return Page(*self._items.page(owner, limit=limit, cursor=cursor))


class SesMailer:
    """SES v1 ``SendEmail`` from the window's sender; the client is built on the first send."""

    def __init__(self, client: Callable[[], Any], *, sender: str | None) -> None:
        self._factory = client
        self._client: Any = None
        self._sender = sender

    def send(self, email: OutgoingEmail) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        if not self._sender:
            raise MailerUnavailableError("no sender address is configured (HMS_EMAIL_SENDER)")
        if self._client is None:
            self._client = self._factory()
        # the correlation id travels as a message tag (SES passes tags to its event destinations)
        tags = (
            [{"Name": "correlation_id", "Value": email.correlation_id}] if valid(email.correlation_id) else []
        )
        try:
            resp = self._client.send_email(
                Source=self._sender,
                Destination={"ToAddresses": [email.to]},
                Message={
                    "Subject": {"Data": email.subject, "Charset": "UTF-8"},
                    "Body": {
                        "Text": {"Data": email.text, "Charset": "UTF-8"},
                        "Html": {"Data": email.html, "Charset": "UTF-8"},
                    },
                },
                **({"Tags": tags} if tags else {}),
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            detail = f"{code}: {error.get('Message', '')}".strip()
            if code in PERMANENT_SES_ERRORS:
                raise DeliveryRejectedError(detail) from exc
            raise MailerUnavailableError(f"SES did not take the message: {detail}") from exc
        except BotoCoreError as exc:  # unreachable, timed out, ...
            raise MailerUnavailableError(f"SES is unreachable: {exc}") from exc
        return str(resp["MessageId"])
