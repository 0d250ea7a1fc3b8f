"""The saga's entry points: bus events (SQS batches) translated into the domain's steps.

``PaymentCaptured`` naming a renewal records the payment when it is exactly the renewal fee (its
decimal-string amount read as a ``Decimal``, never a float); ``DocumentUploaded`` of kind ``photo``
naming a renewal records the photo. Passport never reads the payments' or documents' tables: the
event is the whole message. Each event id has its effect once (``EventConsumer`` deduplicates on
the window's table), and each step is idempotent in itself (a re-published step is ``duplicate``).

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

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from hmskit.consumer import EventConsumer, EventDeduplicator, InMemoryDeduplicator
from hmskit.observability import logger, metrics
from passport import domain

if TYPE_CHECKING:
    from hmskit.contracts import Event

PAYMENT_CAPTURED = "PaymentCaptured"
DOCUMENT_UPLOADED = "DocumentUploaded"
PHOTO = "photo"


def _iso(moment: datetime) -> str:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="milliseconds")


class RenewalSaga:
    """The handlers of the events passport consumes, over the domain's ports."""

    def __init__(
        self,
        renewals: domain.RenewalRepository,
        events: domain.EventFactory,
        *,
        fee: domain.Fee,
        now_iso: Callable[[], str],
    ) -> None:
        self._renewals = renewals
        self._events = events
        self._fee = fee
        self._now_iso = now_iso

    def on_payment_captured(self, event: Event) -> None:
        from hmskit.contracts import PaymentCapturedV1

        data = event.data
        assert isinstance(data, PaymentCapturedV1)
        if data.renewal_id is None:
            logger().info("payment is not for a renewal: ignored", extra={"payment_id": data.payment_id})
            return
        amount = Decimal(data.amount)  # the contract's decimal string (digits, optional fraction)
        outcome = domain.record_payment(
            self._renewals,
            self._events,
            owner=data.owner,
            renewal_id=data.renewal_id,
            payment_id=data.payment_id,
            amount=amount,
            currency=data.currency,
            fee=self._fee,
            paid_at=_iso(data.captured_at),
            correlation_id=event.metadata.correlation_id,
            now_iso=self._now_iso,
        )
        paid = {"amount": data.amount, "currency": data.currency, "fee": str(self._fee)}
        self._report(outcome, "payment", data.renewal_id, data.owner, data.payment_id, paid)

    def on_document_uploaded(self, event: Event) -> None:
        from hmskit.contracts import DocumentUploadedV1

        data = event.data
        assert isinstance(data, DocumentUploadedV1)
        if data.renewal_id is None or data.kind != PHOTO:
            logger().info(
                "document is not a renewal photo: ignored",
                extra={"document_id": data.document_id, "kind": data.kind},
            )
            return
        outcome = domain.record_photo(
            self._renewals,
            self._events,
            owner=data.owner,
            renewal_id=data.renewal_id,
            document_id=data.document_id,
            received_at=_iso(data.uploaded_at),
            correlation_id=event.metadata.correlation_id,
            now_iso=self._now_iso,
        )
        self._report(outcome, "photo", data.renewal_id, data.owner, data.document_id)

    @staticmethod
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
            logger().warning(
                f"renewal {renewal_id} already has another {step}: this one is ignored", extra=extra
            )
        else:
            logger().info(f"renewal {step}: {outcome.value}", extra=extra)
        if outcome is domain.Outcome.READY:
            metrics().add_metric(name="RenewalReadyForReview", unit="Count", value=1)
        metrics().add_metric(name=f"RenewalStep_{outcome.value}", unit="Count", value=1)

    def consumer(self, dedupe: EventDeduplicator | InMemoryDeduplicator) -> EventConsumer:
        return EventConsumer(
            {PAYMENT_CAPTURED: self.on_payment_captured, DOCUMENT_UPLOADED: self.on_document_uploaded},
            dedupe,
        )
