"""The notifications window's fakes."""

from __future__ import annotations

from dataclasses import replace

from hmskit.store import ConditionFailedError
from notifications.adapters import _PREFIX, _already, decode_cursor, encode_cursor
from notifications.domain import (
    NO_ADDRESS,
    PENDING,
    Contact,
    Delivery,
    DeliveryRejectedError,
    MailerUnavailableError,
    Notification,
    OutgoingEmail,
    Page,
    finished,
)
from support.kit import newest_first


class InMemoryNotificationRepository:
    """``NotificationRepository`` in dicts."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Notification] = {}
        self.contacts: dict[str, tuple[int, str]] = {}
        self.waiting_until: dict[str, int] = {}

    def remember_contact(self, owner: str, email: str, *, as_of_ms: int, event_id: str) -> Contact:
        known = self.contacts.get(owner)
        if known is None or known[0] <= as_of_ms:
            self.contacts[owner] = (as_of_ms, email)
        return Contact(self.contacts[owner][1], self.waiting_until.get(owner, 0))

    def contact(self, owner: str) -> str | None:
        known = self.contacts.get(owner)
        return known[1] if known else None

    def mark_waiting(self, owner: str, *, until_ms: int) -> None:
        self.waiting_until[owner] = max(until_ms, self.waiting_until.get(owner, 0))

    def begin(self, notification: Notification) -> Notification:
        key = (notification.owner, notification.id)
        existing = self.items.get(key)
        if existing is None:
            self.items[key] = notification
            return notification
        if existing.delivery == PENDING:
            existing = self.items[key] = replace(existing, attempts=existing.attempts + 1)
        return existing

    def finish(
        self,
        notification: Notification,
        *,
        delivery: Delivery,
        at: str,
        ses_message_id: str | None = None,
        reason: str | None = None,
    ) -> Notification:
        key = (notification.owner, notification.id)
        current = self.items[key]
        if current.delivery != PENDING:
            if _already(current, delivery, ses_message_id, reason):
                return current
            raise ConditionFailedError(f"notification {notification.id} is already {current.delivery}")
        done = finished(current, delivery=delivery, at=at, ses_message_id=ses_message_id, reason=reason)
        self.items[key] = done
        return done

    def waiting(self, owner: str, *, since_id: str, limit: int) -> list[Notification]:
        mine = sorted((n for (o, _), n in self.items.items() if o == owner), key=lambda n: n.id, reverse=True)
        return [n for n in mine if n.id >= since_id and n.delivery == NO_ADDRESS][:limit]

    def claim(self, notification: Notification, *, recipient: str, at: str) -> Notification | None:
        key = (notification.owner, notification.id)
        current = self.items.get(key)
        if current is None or current.delivery != NO_ADDRESS:
            return None
        claimed = self.items[key] = replace(
            current, delivery=PENDING, recipient=recipient, attempts=current.attempts + 1, updated_at=at
        )
        return claimed

    def release(self, notification: Notification, *, at: str) -> None:
        key = (notification.owner, notification.id)
        current = self.items[key]
        if current.delivery != PENDING:
            raise ConditionFailedError(f"notification {notification.id} is already {current.delivery}")
        self.items[key] = replace(current, delivery=NO_ADDRESS, recipient=None, updated_at=at)

    def list(self, owner: str, *, limit: int, cursor: str | None) -> Page:
        mine = (n for (o, _), n in self.items.items() if o == owner)
        return Page(
            *newest_first(
                mine, prefix=_PREFIX, limit=limit, cursor=cursor, encode=encode_cursor, decode=decode_cursor
            )
        )


class InMemoryMailer:
    """``Mailer`` that keeps what it sent; refuses or fails addresses on request."""

    def __init__(self) -> None:
        self.sent: list[OutgoingEmail] = []
        self.rejected: dict[str, str] = {}  # address -> reason: refused for good
        self.unavailable: dict[str, int] = {}  # address -> how many more sends fail transiently

    def reject(self, address: str, reason: str = "MessageRejected: Address blacklisted.") -> None:
        self.rejected[address] = reason

    def throttle(self, address: str, times: int = 1) -> None:
        self.unavailable[address] = times

    def send(self, email: OutgoingEmail) -> str:
        if self.unavailable.get(email.to, 0) > 0:
            self.unavailable[email.to] -= 1
            raise MailerUnavailableError(
                "SES did not take the message: Throttling: Maximum sending rate exceeded."
            )
        if email.to in self.rejected:
            raise DeliveryRejectedError(self.rejected[email.to])
        self.sent.append(email)
        return f"fake-{len(self.sent):04d}"

    def to(self, address: str) -> list[OutgoingEmail]:
        return [e for e in self.sent if e.to == address]
