"""The saga's entry points: bus events (SQS batches) translated into the domain's steps.

``PaymentCaptured`` naming a renewal records the payment when it is exactly the renewal fee (its
decimal-string amount read as a ``Decimal``, never a float); ``DocumentUploaded`` of kind ``photo``
naming a renewal records the photo. Passport never reads the payments' or documents' tables: the
event is the whole message (``passport.events`` reads it). Each event id has its effect once, by
construction (the window's consumer is built with ``hmskit.idempotency.EventMarks``, no platform
record beside it): a step that writes puts the event's dedupe marker into its own transaction, so
a redelivered event that was applied finds the marker and is acknowledged as a duplicate; a step
that finds itself already recorded (a re-published step, or the same step under another event id)
writes nothing and is ``duplicate``.

What is acknowledged and what is retried:

- an event without ``renewal_id``, or a document of another kind: not ours; acknowledged.
- a ``renewal_id`` with no renewal **for the event's owner**: acknowledged and logged (warning).
  The renewal is written before its id is ever shown to anyone (the 202 answer comes after the
  transaction), so an event naming an id that does not exist under that owner names a renewal that
  never existed or belongs to another citizen. Retrying cannot change that: it would only walk the
  message to the DLQ. A citizen cannot move someone else's renewal, because the lookup is keyed by
  the event's owner.
- a payment naming a renewal whose amount or currency is not the renewal fee (``HMS_RENEWAL_FEE``):
  acknowledged, logged (warning); the renewal is unchanged and still waits for a payment of the fee.
- a second, different payment or photo for a renewal that has one: acknowledged, logged (warning).
- the table unavailable, or a step that kept meeting concurrent changes: the message fails and SQS
  delivers it again later (and, after the retry budget, to the DLQ).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from hmskit.observability import logger, metrics
from passport import domain, events

if TYPE_CHECKING:
    from hmskit.consumer import EventHandler
    from passport.bootstrap import Deps

PAYMENT_CAPTURED = "PaymentCaptured"
DOCUMENT_UPLOADED = "DocumentUploaded"
PHOTO = "photo"


def handlers(deps: Deps) -> dict[str, EventHandler]:
    """Each event type this window consumes, with its handler over ``deps``."""
    return {
        PAYMENT_CAPTURED: lambda event, _: on_payment_captured(events.captured_payment(event), deps),
        DOCUMENT_UPLOADED: lambda event, _: on_document_uploaded(events.uploaded_document(event), deps),
    }


def on_payment_captured(payment: domain.CapturedPayment, deps: Deps) -> None:
    if payment.renewal_id is None:
        logger().info("payment is not for a renewal: ignored", extra={"payment_id": payment.payment_id})
        return
    outcome = domain.record_payment(
        deps.renewals,
        deps.renewal_events,
        owner=payment.owner,
        renewal_id=payment.renewal_id,
        payment_id=payment.payment_id,
        amount=payment.amount,
        currency=payment.currency,
        fee=deps.renewal_fee,
        paid_at=payment.paid_at,
        correlation_id=payment.correlation_id,
        now_iso=deps.now_iso,
    )
    paid = {"amount": str(payment.amount), "currency": payment.currency, "fee": str(deps.renewal_fee)}
    _report(outcome, "payment", payment.renewal_id, payment.owner, payment.payment_id, paid)


def on_document_uploaded(document: domain.UploadedDocument, deps: Deps) -> None:
    if document.renewal_id is None or document.kind != PHOTO:
        logger().info(
            "document is not a renewal photo: ignored",
            extra={"document_id": document.document_id, "kind": document.kind},
        )
        return
    outcome = domain.record_photo(
        deps.renewals,
        deps.renewal_events,
        owner=document.owner,
        renewal_id=document.renewal_id,
        document_id=document.document_id,
        received_at=document.received_at,
        correlation_id=document.correlation_id,
        now_iso=deps.now_iso,
    )
    _report(outcome, "photo", document.renewal_id, document.owner, document.document_id)


def _report(
    outcome: domain.Outcome,
    step: str,
    renewal_id: str,
    owner: str,
    step_id: str,
    details: Mapping[str, str] | None = None,
) -> None:
    extra = {
        "renewal_id": renewal_id,
        "owner": owner,
        "step": step,
        "step_id": step_id,
        **(details or {}),
    }
    if outcome is domain.Outcome.NOT_THE_FEE:
        told = details or {}
        logger().warning(
            f"payment {step_id} of {told.get('amount')} {told.get('currency')} names renewal "
            f"{renewal_id} but is not its fee ({told.get('fee')}): ignored; the renewal still "
            "waits for a payment of exactly the fee",
            extra=extra,
        )
    elif outcome is domain.Outcome.UNKNOWN_RENEWAL:
        logger().warning(
            f"{step} names renewal {renewal_id}, which does not exist for its owner "
            "(never created, or another citizen's): ignored",
            extra=extra,
        )
    elif outcome is domain.Outcome.SUPERSEDED:
        logger().warning(f"renewal {renewal_id} already has another {step}: this one is ignored", extra=extra)
    else:
        logger().info(f"renewal {step}: {outcome.value}", extra=extra)
    if outcome is domain.Outcome.READY:
        metrics().add_metric(name="RenewalReadyForReview", unit="Count", value=1)
    metrics().add_metric(name=f"RenewalStep_{outcome.value}", unit="Count", value=1)
