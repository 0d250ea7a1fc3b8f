"""What the payments window tells the bus, built from its domain's payments: its only importer of
``hmskit.contracts`` (imported when an event is built, not on a cold start)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from payments import domain

if TYPE_CHECKING:
    from hmskit.outbox import Outbox


class PaymentEvents:
    """The domain's ``EventFactory`` over the window's outbox (which stamps id, time and source);
    without an outbox (unit tests that do not look at events) it records none."""

    def __init__(self, outbox: Outbox | None) -> None:
        self._outbox = outbox

    def captured(
        self, payment: domain.Payment, *, email: str | None, correlation_id: str | None
    ) -> list[Any]:
        """PaymentCaptured for a payment just captured (recorded in the same transaction)."""
        if self._outbox is None:
            return []
        from hmskit.contracts import PaymentCapturedV1

        data = PaymentCapturedV1(
            payment_id=payment.id,
            owner=payment.owner,
            amount=payment.money(),
            currency=payment.currency,
            purpose=payment.purpose,
            renewal_id=payment.renewal_id,
            email=email,
            captured_at=payment.created_at,  # type: ignore[arg-type]  # pydantic parses the ISO text
        )
        return [self._outbox.event(data, correlation_id=correlation_id)]
