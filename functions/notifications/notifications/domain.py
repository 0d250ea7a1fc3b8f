"""Notifications: plain functions over two ports (the notification store and the mailer).

No HTTP, no SES, no table names, no event contracts: ``letters`` turns an event into a ``Cause`` (who,
which event, which address it offered) and a ``Letter`` (what to say); ``notify`` delivers it and
``send_waiting`` sends what waited for an address once one is known.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

from hmskit.consumer import RetryLaterError
from hmskit.ids import derived_id, id_floor

Delivery = Literal["pending", "sent", "no_address", "failed"]
PENDING: Delivery = "pending"
SENT: Delivery = "sent"
NO_ADDRESS: Delivery = "no_address"
FAILED: Delivery = "failed"
CHANNEL = "email"

#: An event that offers no address while none is remembered is retried (its message fails) while it
#: is younger than this (by its ``metadata.time``): each event type has its own queue, so the event
#: that carries the address may simply not have been processed yet.
ADDRESS_GRACE_SECONDS = 10 * 60
#: ... but only on its first receives (the delivery's receive count): a later receive stores
#: ``no_address`` instead of failing, so waiting for an address never sends a message to the DLQ.
#: Must stay below the queues' maxReceiveCount (events/topology.yaml ``delivery.max_receive_count``;
#: a test holds them together).
DEFERRED_RECEIVES = 2
#: When an address becomes known, the owner's ``no_address`` notifications about events at most this
#: old are sent to it (``send_waiting``), at most ``WAITING_LIMIT`` of them per event.
WAITING_MAX_AGE_SECONDS = 24 * 3600
WAITING_LIMIT = 20
#: Once SES accepted an email, marking its record ``sent`` is tried this many times, waiting
#: ``RECORD_BACKOFF_SECONDS`` (then twice as long, ...) between tries, and never raises.
RECORD_ATTEMPTS = 3
RECORD_BACKOFF_SECONDS = 0.05


class InvalidCursorError(Exception):
    """A pagination cursor was not one this window issued."""


class MailerUnavailableError(Exception):
    """The mail service could not take the message now (throttled, 5xx, unreachable, not configured).

    Transient: the event's message fails, comes back after the queue's visibility timeout and
    reaches the DLQ once its receive count runs out.
    """


class DeliveryRejectedError(Exception):
    """The mail service refused this message for good (e.g. an invalid address); never retried."""


class AddressNotYetKnownError(RetryLaterError):
    """The event offers no address, none is remembered for its owner yet, and the event is young.

    Transient on purpose: the event's message fails and comes back after the queue's visibility
    timeout, when the event that carries the address may have been processed.
    """


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
class Contact:
    """What the window knows of an owner's address: the newest one, and until when (ms since the
    epoch) a notification stored without an address may still wait for one (0: none waits)."""

    email: str | None
    waiting_until_ms: int = 0


@dataclass(frozen=True)
class OutgoingEmail:
    to: str
    subject: str
    text: str
    html: str
    correlation_id: str | None = None  # the cause's; sent as a message tag, never in the letter


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
    # the letter, kept only while the notification waits for an address (``no_address``), so that
    # ``send_waiting`` can send it once one is known; never part of what the citizen lists
    text: str | None = None
    html: str | None = None
    # never stored: ``notify`` found the record already final, written by an earlier delivery
    repeated: bool = field(default=False, compare=False)

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
    def remember_contact(self, owner: str, email: str, *, as_of_ms: int, event_id: str) -> Contact:
        """Keep ``email`` as the owner's address unless a newer event (by ``as_of_ms``) gave one;
        answer the owner's contact as it now stands (one round trip)."""
        ...

    def contact(self, owner: str) -> str | None: ...

    def mark_waiting(self, owner: str, *, until_ms: int) -> None:
        """Note that a notification of ``owner`` waits for an address until ``until_ms`` (the latest
        such time is kept): an event with an address then looks for what waits, others do not."""
        ...

    def begin(self, notification: Notification) -> Notification:
        """Store ``notification`` unless one with its id exists (a conditional write); answer the
        record as stored: ``notification`` itself when this call stored it.

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
        """Move a ``pending`` record to its final delivery state; answer it as stored.

        Idempotent: a record already in that state (with the same ``ses_message_id``/``reason``, e.g.
        a retry after a write whose answer was lost) is answered as stored.
        """
        ...

    def waiting(self, owner: str, *, since_id: str, limit: int) -> list[Notification]:
        """The owner's ``no_address`` notifications whose id is ``since_id`` or later, newest first."""
        ...

    def claim(self, notification: Notification, *, recipient: str, at: str) -> Notification | None:
        """Move a ``no_address`` record to ``pending`` for ``recipient`` (one more attempt); answer it
        as stored, or None when it is no longer ``no_address`` (another process claimed it)."""
        ...

    def release(self, notification: Notification, *, at: str) -> None:
        """Move a claimed (``pending``) record back to ``no_address``, without a recipient."""
        ...

    def list(self, owner: str, *, limit: int, cursor: str | None) -> Page: ...


class Mailer(Protocol):
    def send(self, email: OutgoingEmail) -> str:
        """Hand the email to the mail service; its message id. ``DeliveryRejectedError`` when it is
        refused for good, ``MailerUnavailableError`` when it may be accepted later."""
        ...


def notification_id(event_id: str, occurred_ms: int) -> str:
    """The notification's id, derived from its event: every delivery of one event names the same record,
    and the partition still lists newest first."""
    return derived_id(event_id, occurred_ms)


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
    now: Callable[[], float] = time.time,
    may_defer: bool = True,
    grace_seconds: float = ADDRESS_GRACE_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    contact: Contact | None = None,
) -> Notification:
    """Email the citizen about ``cause`` (once), and keep the notification.

    ``contact``: what ``repo.remember_contact`` answered for the cause's address, when the caller
    already remembered it (to pass it on to ``send_waiting`` too); otherwise it is remembered here.

    ``now`` is the window's clock (seconds since the epoch; the handler passes its injected clock's
    ``now``, the default only serves direct callers such as tests); ``may_defer`` is False on a message's
    last allowed receive (see ``DEFERRED_RECEIVES``); ``sleep`` waits between bookkeeping retries.

    Order of the effect, and why. No platform record wraps it (the consumer declares its handlers
    idempotent by construction): the notification record, keyed on the event, is the dedupe.

    1. Remember the address the event offers (newest event wins), then pick the recipient: the
       event's address, else the one remembered for the owner.
    2. No recipient: events are not ordered across types (one queue per type) and access tokens
       rarely carry ``email``, so the event that gives the address may not have been processed yet.
       While the event is younger than ``grace_seconds`` (its ``metadata.time`` against ``now``) and
       ``may_defer``, raise ``AddressNotYetKnownError``: nothing is stored, the message fails and SQS
       redelivers it after the visibility timeout, when the address may be known. Otherwise store
       ``no_address`` (with the letter) and succeed: ``send_waiting`` sends it when an address arrives.
       Both, because each covers what the other cannot: the retry needs no stored letter and covers
       the common race (two events of one request, seconds apart) but is bounded by the queue's
       receives (a message that failed ``maxReceiveCount`` times is dead-lettered, so waiting longer
       there would lose it to the DLQ); the catch-up covers an address that comes later (a
       publisher's relay lagging, a retried or redriven event) without holding any message.
    3. Store the notification as ``pending`` under an id DERIVED from the event (``notification_id``),
       before sending, with a condition (``repo.begin``): every delivery of the event names the same
       record, and a redelivery finds it instead of writing another. Found final (``sent``,
       ``failed``, ``no_address``): the event was applied, nothing is sent, and the answer is marked
       ``repeated`` (the consumer acknowledges a duplicate). Found ``pending``: resumed (step 4).
    4. Send; then mark the record ``sent`` (with SES's message id) or ``failed`` (a permanent
       rejection, with the reason). A transient mail error raises: the record stays ``pending`` and
       the message comes back (then the DLQ), to resume it. Once SES accepted the email NOTHING
       raises: marking it ``sent`` is retried (``RECORD_ATTEMPTS``, short backoff) and if the table
       still refuses, the record stays ``pending`` and the notification is answered ``pending`` with
       the SES message id and the reason, for the caller to log as an error. Raising there would
       fail the message, the retry would find the record ``pending`` and email again.

    Crash analysis (a crash anywhere here: the message is not acknowledged and comes back):

    - crash before step 3: nothing was sent or stored; the retry does everything once;
    - crash after a final state was stored (``sent``/``failed``/``no_address``), before the
      message was acknowledged: the retry finds that record (step 3) and sends nothing. Storing
      only after sending, with a fresh random id, would instead leave no trace of the send and
      email the citizen twice;
    - crash between step 3 and the final state (i.e. around the SES call itself): the retry finds
      the record ``pending`` and cannot know whether SES took the first email (SES ``SendEmail`` has
      no idempotency token, so no design can know). It sends again and counts the attempt: a rare
      duplicate, visible in ``attempts``, beats a citizen never told to pay their fee. The window
      is one SES call and the update after it wide.

    So the email is never lost, and sent twice only if the process dies mid-call to SES or before the
    record is updated (or if a second copy of the event is delivered inside that same window, which
    resumes the ``pending`` record as a retry after such a crash would); a failing table
    (throttled, 5xx) after the send never causes a second email.
    """
    if cause.email and contact is None:
        repo.remember_contact(cause.owner, cause.email, as_of_ms=cause.occurred_ms, event_id=cause.event_id)
    recipient = cause.email or repo.contact(cause.owner)
    if recipient is None and may_defer:
        age_seconds = now() - cause.occurred_ms / 1000
        if age_seconds < grace_seconds:
            raise AddressNotYetKnownError(
                f"no email address is known yet for the owner of {cause.type} event {cause.event_id} "
                f"({max(age_seconds, 0):.0f} s old): retried until one arrives or it is "
                f"{grace_seconds:.0f} s old"
            )
    if recipient is None:  # before the record: an address arriving from now on looks for it
        repo.mark_waiting(cause.owner, until_ms=cause.occurred_ms + WAITING_MAX_AGE_SECONDS * 1000)
    fresh = Notification(
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
        text=None if recipient else letter.text,
        html=None if recipient else letter.html,
    )
    record = repo.begin(fresh)
    if record is not fresh and record.delivery != PENDING:
        return replace(record, repeated=True)  # an earlier delivery finished it: nothing to send
    if record.delivery != PENDING or record.recipient is None:
        return record  # no address
    return _send(record, letter, repo=repo, mailer=mailer, now_iso=now_iso, sleep=sleep)


def send_waiting(
    owner: str,
    *,
    repo: NotificationRepository,
    mailer: Mailer,
    now_iso: Callable[[], str],
    now: Callable[[], float],
    sleep: Callable[[float], None] = time.sleep,
    contact: Contact | None = None,
) -> Iterator[Notification]:
    """Send the owner's ``no_address`` notifications of the last day to the address now known.

    ``contact`` (what ``remember_contact`` answered) spares reading the address again, and the query
    altogether when nothing of the owner waits (``waiting_until_ms`` has passed or was never set).

    Called after every event that carries an address (not only the first one for an owner: a query of
    the owner's newest notifications is cheap, and a redelivered or concurrently processed event then
    still catches up). Yields each notification it finished, as it goes.

    Each one is claimed first (``no_address`` -> ``pending``, conditional), so two processes never
    both send it; then sent and recorded exactly as ``notify`` does. A transient mail error puts the
    claimed one back to ``no_address`` and raises (the event's message is retried; its own
    notification is final by then, so only this catch-up runs again). A crash between the claim and
    the record leaves it ``pending``: at most once, never twice.
    """
    if contact is not None and contact.waiting_until_ms < now() * 1000:
        return
    address = contact.email if contact is not None else repo.contact(owner)
    if not address:
        return
    since = id_floor(int((now() - WAITING_MAX_AGE_SECONDS) * 1000))
    for waiting in repo.waiting(owner, since_id=since, limit=WAITING_LIMIT):
        if waiting.text is None or waiting.html is None:
            continue  # stored without its letter: nothing to send
        letter = Letter(subject=waiting.subject, text=waiting.text, html=waiting.html)
        claimed = repo.claim(waiting, recipient=address, at=now_iso())
        if claimed is None:
            continue  # another process has it
        try:
            yield _send(claimed, letter, repo=repo, mailer=mailer, now_iso=now_iso, sleep=sleep)
        except MailerUnavailableError:
            repo.release(claimed, at=now_iso())
            raise


def _send(
    record: Notification,
    letter: Letter,
    *,
    repo: NotificationRepository,
    mailer: Mailer,
    now_iso: Callable[[], str],
    sleep: Callable[[float], None],
) -> Notification:
    """Send a ``pending`` record's email and record the outcome (see ``notify``, step 4)."""
    assert record.recipient is not None
    email = OutgoingEmail(
        to=record.recipient,
        subject=letter.subject,
        text=letter.text,
        html=letter.html,
        correlation_id=record.correlation_id,
    )
    try:
        message_id = mailer.send(email)
    except DeliveryRejectedError as exc:
        reason = (str(exc) or type(exc).__name__)[:500]
        return repo.finish(record, delivery=FAILED, at=now_iso(), reason=reason)
    return _record_sent(record, message_id, repo=repo, now_iso=now_iso, sleep=sleep)


def _record_sent(
    record: Notification,
    message_id: str,
    *,
    repo: NotificationRepository,
    now_iso: Callable[[], str],
    sleep: Callable[[float], None],
) -> Notification:
    """Mark ``record`` sent; SES already took the email, so this never raises (see ``notify``)."""
    error: Exception | None = None
    for attempt in range(RECORD_ATTEMPTS):
        if attempt:
            sleep(RECORD_BACKOFF_SECONDS * 2 ** (attempt - 1))
        try:
            return repo.finish(record, delivery=SENT, at=now_iso(), ses_message_id=message_id)
        except Exception as exc:  # any failure: raising here would email the citizen again
            error = exc
    reason = f"SES accepted it, but the record could not be marked sent: {error!r}"[:500]
    return replace(record, ses_message_id=message_id, reason=reason)


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
