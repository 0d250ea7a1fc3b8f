"""The passport window's side of the bus contracts, its only importer of ``hmskit.contracts``
(imported when an event is built or read, not on a cold start): what it tells the bus, built from its
renewals, and the consumed events read as the saga's inputs."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from passport import domain

if TYPE_CHECKING:
    from hmskit.contracts import Event
    from hmskit.outbox import Outbox


class RenewalEvents:
    """The domain's ``EventFactory`` over the window's outbox (which stamps id, time and source)."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    def submitted(self, renewal: domain.Renewal, *, correlation_id: str | None) -> Event:
        """RenewalSubmitted for a renewal just stored (in the same transaction)."""
        from hmskit.contracts import RenewalSubmittedV1

        data = RenewalSubmittedV1(
            renewal_id=renewal.id,
            owner=renewal.owner,
            full_name=renewal.full_name,
            email=renewal.email,
            submitted_at=renewal.submitted_at,  # type: ignore[arg-type]  # pydantic parses the ISO text
        )
        return self._outbox.event(data, correlation_id=correlation_id)

    def ready_for_review(self, renewal: domain.Renewal, *, correlation_id: str | None) -> Event:
        """RenewalReadyForReview for a renewal a saga step just completed (in the same transaction)."""
        from hmskit.contracts import RenewalReadyForReviewV1

        assert renewal.payment_id and renewal.photo_document_id and renewal.ready_for_review_at
        data = RenewalReadyForReviewV1(
            renewal_id=renewal.id,
            owner=renewal.owner,
            payment_id=renewal.payment_id,
            photo_document_id=renewal.photo_document_id,
            email=renewal.email,
            ready_at=renewal.ready_for_review_at,  # type: ignore[arg-type]  # pydantic parses the ISO text
        )
        return self._outbox.event(data, correlation_id=correlation_id)


def captured_payment(event: Event) -> domain.CapturedPayment:
    """A consumed ``PaymentCaptured``: its decimal-string amount read as a ``Decimal``, never a float."""
    from hmskit.contracts import PaymentCapturedV1

    data = event.data
    assert isinstance(data, PaymentCapturedV1)
    return domain.CapturedPayment(
        payment_id=data.payment_id,
        owner=data.owner,
        renewal_id=data.renewal_id,
        amount=Decimal(data.amount),
        currency=data.currency,
        paid_at=_iso(data.captured_at),
        correlation_id=event.metadata.correlation_id,
    )


def uploaded_document(event: Event) -> domain.UploadedDocument:
    """A consumed ``DocumentUploaded``."""
    from hmskit.contracts import DocumentUploadedV1

    data = event.data
    assert isinstance(data, DocumentUploadedV1)
    return domain.UploadedDocument(
        document_id=data.document_id,
        owner=data.owner,
        kind=data.kind,
        renewal_id=data.renewal_id,
        received_at=_iso(data.uploaded_at),
        correlation_id=event.metadata.correlation_id,
    )


def _iso(moment: datetime) -> str:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="milliseconds")
