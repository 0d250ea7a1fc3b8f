"""Payments: plain functions over a repository port. No HTTP, no table names."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from hmskit.currencies import money


class PaymentNotFoundError(Exception):
    """No payment with that id belongs to the caller."""


class InvalidCursorError(Exception):
    """A pagination cursor was not one this window issued."""


@dataclass(frozen=True)
class Payment:
    id: str
    owner: str
    amount: Decimal
    currency: str
    purpose: str
    status: str
    created_at: str
    renewal_id: str | None = None

    def money(self) -> str:
        """The amount in the currency's minor units (``12.50``): the table may give back ``12.5``."""
        return money(self.amount, self.currency)

    def public(self) -> dict[str, object]:
        return {
            "id": self.id,
            "amount": self.money(),
            "currency": self.currency,
            "purpose": self.purpose,
            "status": self.status,
            "renewal_id": self.renewal_id,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class Page:
    items: list[Payment]
    cursor: str | None


#: An event as the outbox records it with a state change; opaque here (``payments.events`` builds it).
Recorded = Any


class PaymentRepository(Protocol):
    def add(self, payment: Payment, events: Sequence[Recorded] = ()) -> None:
        """Store the payment and its events (outbox) together: both or neither."""
        ...

    def get(self, owner: str, payment_id: str) -> Payment | None: ...

    def recorded(self, owner: str) -> Payment | None:
        """The payment a first attempt of this very request (same Idempotency-Key) already stored,
        when its answer was lost; ``None`` otherwise."""
        ...

    def list(self, owner: str, *, limit: int, cursor: str | None) -> Page: ...


class EventFactory(Protocol):
    """Turns the domain's facts into the events recorded with them (``payments.events``)."""

    def captured(
        self, payment: Payment, *, email: str | None, correlation_id: str | None
    ) -> Sequence[Recorded]: ...


def create_payment(
    repo: PaymentRepository,
    events: EventFactory,
    *,
    owner: str,
    amount: Decimal,
    currency: str,
    purpose: str,
    new_id: Callable[[], str],
    now_iso: Callable[[], str],
    renewal_id: str | None = None,
    email: str | None = None,
    correlation_id: str | None = None,
) -> Payment:
    """Capture a payment and record its PaymentCaptured (``email``, the payer's verified address, is
    for the receipt) in the same transaction.

    A retry of a request whose payment is already stored gets that payment back, not a second one."""
    if not isinstance(amount, Decimal):  # money is never a float, anywhere
        raise TypeError("amount must be a Decimal")
    first = repo.recorded(owner)
    if first is not None:  # a retry after the first attempt's answer was lost: never capture twice
        return first
    payment = Payment(
        id=new_id(),
        owner=owner,
        amount=amount,
        currency=currency,
        purpose=purpose,
        status="captured",
        created_at=now_iso(),
        renewal_id=renewal_id,
    )
    repo.add(payment, events.captured(payment, email=email, correlation_id=correlation_id))
    return payment


def get_payment(repo: PaymentRepository, *, owner: str, payment_id: str) -> Payment:
    payment = repo.get(owner, payment_id)
    if payment is None:
        raise PaymentNotFoundError(f"no payment {payment_id} for this citizen")
    return payment


def list_payments(repo: PaymentRepository, *, owner: str, limit: int, cursor: str | None) -> Page:
    return repo.list(owner, limit=limit, cursor=cursor)
