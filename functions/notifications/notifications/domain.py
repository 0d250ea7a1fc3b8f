"""Notifications: plain functions over two ports (the notification store and the mailer).

No HTTP, no SES, no table names, no event contracts: ``letters`` turns an event into a ``Cause`` (who,
which event, which address it offered) and a ``Letter`` (what to say); ``notify`` delivers it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal, Protocol

Delivery = Literal["pending", "sent", "no_address", "failed"]
PENDING: Delivery = "pending"
SENT: Delivery = "sent"
NO_ADDRESS: Delivery = "no_address"
FAILED: Delivery = "failed"
CHANNEL = "email"


class InvalidCursorError(Exception):
    """A pagination cursor was not one this window issued."""


class MailerUnavailableError(Exception):
    """The mail service could not take the message now (throttled, 5xx, unreachable, not configured).

    Transient: the event's message fails, comes back after the queue's visibility timeout and
    reaches the DLQ once its receive count runs out.
    """


class DeliveryRejectedError(Exception):
    """The mail service refused this message for good (e.g. an invalid address); never retried."""


@dataclass(frozen=True)
class Cause:
    """The event that asks for a notification, as far as delivery cares."""

    event_id: str
    type: str  # the event type: RenewalSubmitted, PaymentCaptured, ...
    owner: str  # the citizen's sub
    occurred_ms: int  # the event's time, milliseconds since the epoch
    renewal_id: str | None
    email: str | None  # the address the event offers, if any
    correlation_id: str | None


@dataclass(frozen=True)
class Letter:
    """What to say: one subject, a plain-text body and the same in simple HTML."""

    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class OutgoingEmail:
    to: str
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class Notification:
    id: str
    owner: str
    type: str
    event_id: str
    renewal_id: str | None
    subject: str
    recipient: str | None
    delivery: Delivery
    created_at: str
    correlation_id: str | None = None
    channel: str = CHANNEL
    ses_message_id: str | None = None
    reason: str | None = None  # why a delivery failed
    attempts: int = 0  # sends tried for this notification (more than one only after a crash or a retry)
    updated_at: str | None = None

    def public(self) -> dict[str, object]:
        """What the citizen sees: the recipient masked, no provider ids, no failure details."""
        return {
            "id": self.id,
            "type": self.type,
            "event_id": self.event_id,
            "renewal_id": self.renewal_id,
            "subject": self.subject,
            "channel": self.channel,
            "recipient": mask(self.recipient),
            "delivery": self.delivery,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class Page:
    items: list[Notification]
    cursor: str | None


class NotificationRepository(Protocol):
    def remember_contact(self, owner: str, email: str, *, as_of_ms: int, event_id: str) -> None:
        """Keep ``email`` as the owner's address unless a newer event (by ``as_of_ms``) gave one."""
        ...

    def contact(self, owner: str) -> str | None: ...

    def begin(self, notification: Notification) -> Notification:
        """Store ``notification`` unless one with its id exists; answer the record as stored.

        A ``pending`` record found again counts one more attempt (``attempts`` + 1).
        """
        ...

    def finish(
        self,
        notification: Notification,
        *,
        delivery: Delivery,
        at: str,
        ses_message_id: str | None = None,
        reason: str | None = None,
    ) -> Notification:
        """Move a ``pending`` record to its final delivery state; answer it as stored."""
        ...

    def list(self, owner: str, *, limit: int, cursor: str | None) -> Page: ...


class Mailer(Protocol):
    def send(self, email: OutgoingEmail) -> str:
        """Hand the email to the mail service; its message id. ``DeliveryRejectedError`` when it is
        refused for good, ``MailerUnavailableError`` when it may be accepted later."""
        ...


_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32, as hmskit.ids


def notification_id(event_id: str, occurred_ms: int) -> str:
    """The notification's id: the event's time (48 bits, ms) then 80 bits of SHA-256 of its id.

    The same layout as ``hmskit.ids.new_id`` (so the partition lists newest first and cursors
    validate), but deterministic: every delivery of one event names the same record.
    """
    ms = min(max(occurred_ms, 0), (1 << 48) - 1)
    seed = int.from_bytes(hashlib.sha256(event_id.encode()).digest()[:10], "big")
    value = (ms << 80) | seed
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def mask(address: str | None) -> str | None:
    """``alice@example.org`` -> ``a***@example.org``."""
    if not address:
        return None
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}***@{domain}" if local else "***"


def notify(
    cause: Cause,
    letter: Letter,
    *,
    repo: NotificationRepository,
    mailer: Mailer,
    now_iso: Callable[[], str],
) -> Notification:
    """Email the citizen about ``cause`` (once), and keep the notification.

    Order of the effect, and why (the consumer's ``EventDeduplicator`` wraps all of it):

    1. Remember the address the event offers (newest event wins), then pick the recipient: the
       event's address, else the one remembered for the owner, else none (stored ``no_address``,
       nothing sent, the message succeeds).
    2. Store the notification as ``pending`` under an id DERIVED from the event (``notification_id``),
       before sending. Every delivery of the event names the same record.
    3. Send; then mark the record ``sent`` (with SES's message id) or ``failed`` (a permanent
       rejection, with the reason). A transient mail error raises: the record stays ``pending``, the
       deduplicator forgets the attempt and the message comes back (then the DLQ).

    Crash analysis. The deduplicator's record is written COMPLETED only after this returns, so a crash
    anywhere here leaves it in progress until it expires, and the redelivery runs this again:

    - crash before step 2: nothing was sent or stored; the retry does everything once;
    - crash after a final state was stored (``sent``/``failed``/``no_address``): the retry finds that
      record (step 2 answers it) and sends nothing. Storing only after sending, with a fresh random id,
      would instead leave no trace of the send and email the citizen twice;
    - crash between step 2 and the final state (i.e. around the SES call itself): the retry finds
      the record ``pending`` and cannot know whether SES took the first email (SES ``SendEmail`` has
      no idempotency token, so no design can know). It sends again and counts the attempt: a rare
      duplicate, visible in ``attempts``, beats a citizen never told to pay their fee. The window
      is one SES call and one ``UpdateItem`` wide.

    So the email is never lost, and sent twice only if the process dies mid-call to SES.
    """
    if cause.email:
        repo.remember_contact(cause.owner, cause.email, as_of_ms=cause.occurred_ms, event_id=cause.event_id)
    recipient = cause.email or repo.contact(cause.owner)
    record = repo.begin(
        Notification(
            id=notification_id(cause.event_id, cause.occurred_ms),
            owner=cause.owner,
            type=cause.type,
            event_id=cause.event_id,
            renewal_id=cause.renewal_id,
            subject=letter.subject,
            recipient=recipient,
            delivery=PENDING if recipient else NO_ADDRESS,
            created_at=now_iso(),
            correlation_id=cause.correlation_id,
            attempts=1 if recipient else 0,
        )
    )
    if record.delivery != PENDING or record.recipient is None:
        return record  # no address, or an earlier attempt already finished it
    email = OutgoingEmail(to=record.recipient, subject=letter.subject, text=letter.text, html=letter.html)
    try:
        message_id = mailer.send(email)
    except DeliveryRejectedError as exc:
        reason = (str(exc) or type(exc).__name__)[:500]
        return repo.finish(record, delivery=FAILED, at=now_iso(), reason=reason)
    return repo.finish(record, delivery=SENT, at=now_iso(), ses_message_id=message_id)


def list_notifications(repo: NotificationRepository, *, owner: str, limit: int, cursor: str | None) -> Page:
    return repo.list(owner, limit=limit, cursor=cursor)


def finished(
    record: Notification,
    *,
    delivery: Delivery,
    at: str,
    ses_message_id: str | None = None,
    reason: str | None = None,
) -> Notification:
    """``record`` in its final state (for repositories)."""
    return replace(record, delivery=delivery, updated_at=at, ses_message_id=ses_message_id, reason=reason)
