"""What the payments window tells the bus, built from its domain's payments: its only importer of
``hmskit.contracts`` (imported when an event is built, not on a cold start)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from payments import domain

if TYPE_CHECKING:
    from hmskit.outbox import Outbox


def captured(
    outbox: Outbox | None, *, email: str | None, correlation_id: str | None
) -> Callable[[domain.Payment], Sequence[Any]]:
    """PaymentCaptured for a payment just captured (recorded in the same transaction); ``email`` is the
    payer's verified address, for the receipt."""

    def announce(payment: domain.Payment) -> Sequence[Any]:
        if outbox is None:
            return []
        from hmskit.contracts import PaymentCapturedV1

        event = PaymentCapturedV1(
            payment_id=payment.id,
            owner=payment.owner,
            amount=payment.money(),
            currency=payment.currency,
            purpose=payment.purpose,
            renewal_id=payment.renewal_id,
            email=email,
            captured_at=payment.created_at,  # type: ignore[arg-type]  # pydantic parses the ISO text
        )
        return [outbox.event(event, correlation_id=correlation_id)]

    return announce
