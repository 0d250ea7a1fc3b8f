"""The bus events this window consumes, each with its handler: email the citizen, keep the record.

``hmskit.consumer`` reads the SQS envelope; a handler gets the parsed contract and the ``Delivery``
of its message (its receive count decides whether a missing address may still fail it,
``domain.DEFERRED_RECEIVES``). The handlers are idempotent by construction (the window's consumer
is built with ``IdempotentEffects``): each event's notification has an id derived from the event,
so a redelivery finds the record an earlier delivery wrote (``domain.notify``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hmskit.observability import logger, metrics
from notifications import domain, letters

if TYPE_CHECKING:
    from hmskit.consumer import Delivery, EventHandler
    from hmskit.contracts import Event
    from notifications.bootstrap import Deps

#: The event types this window subscribes to (events/topology.yaml; a test holds them together).
NOTIFIED_EVENTS = ("PaymentCaptured", "RenewalReadyForReview", "RenewalSubmitted")

_METRIC = {
    domain.SENT: "NotificationSent",
    domain.NO_ADDRESS: "NotificationWithoutAddress",
    domain.FAILED: "NotificationRejected",
    domain.PENDING: "NotificationPending",
}


def handlers(deps: Deps) -> dict[str, EventHandler]:
    """Each notified event type, with its handler over ``deps``."""

    def notify(event: Event, delivery: Delivery) -> bool:
        return on_notified(event, delivery, deps)

    return dict.fromkeys(NOTIFIED_EVENTS, notify)


def on_notified(event: Event, delivery: Delivery, deps: Deps) -> bool:
    """Email the citizen, keep the record; then, when the event carries an address, send what
    waited for one. False when an earlier delivery of the event had already finished its
    notification (a duplicate; what waited is still looked for, as that delivery may have stopped
    before it)."""
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
        may_defer=delivery.receive_count <= domain.DEFERRED_RECEIVES,
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
    return not notification.repeated


def _report(notification: domain.Notification, *, waited_for_address: bool = False) -> None:
    if notification.repeated:
        return  # an earlier delivery reported it; the consumer logs the duplicate
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
