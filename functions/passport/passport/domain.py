"""Passport renewals: plain functions over ports. No HTTP, no table names.

A renewal is submitted once eligibility allows it, then moved forward by two saga steps that arrive
as events from other windows, in either order. Its status follows from what it has::

    submitted ──PaymentCaptured──> paid ──────────DocumentUploaded(photo)──> ready_for_review
        └──DocumentUploaded(photo)──> photo_received ──PaymentCaptured──────────┘

Only a payment of exactly the renewal fee (``Fee``, the window's setting ``HMS_RENEWAL_FEE``) pays
a renewal: the same currency and the same amount, compared as ``Decimal`` (never float). A payment
of any other amount or currency naming the renewal is logged and ignored; it leaves the renewal
waiting for a payment of the fee (refunding it is payments' business, not here).

Each step happens once: the first payment of the fee and the first photo are recorded, later ones
are logged and ignored (a citizen who paid twice is refunded by payments, not here). Reaching
``ready_for_review`` records ``RenewalReadyForReview`` in the same transaction as the state change.

Steps are optimistic: read, decide, write only if the renewal is still what was read (the
repository's ``advance`` refuses a stale write with ``StaleRenewalError``), else read again. So a
payment and a photo handled at the same moment can neither lose an update nor both (or neither)
see the renewal complete: exactly one of them moves it to ``ready_for_review`` and records the event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from hmskit.currencies import money

SUBMITTED = "submitted"
PAID = "paid"
PHOTO_RECEIVED = "photo_received"
READY_FOR_REVIEW = "ready_for_review"
STATUSES = (SUBMITTED, PAID, PHOTO_RECEIVED, READY_FOR_REVIEW)

MAX_STEP_ATTEMPTS = 5  # reads and conditional writes of one saga step before giving up (then SQS retries)


# -- errors -----------------------------------------------------------------------------------------


class RenewalNotFoundError(Exception):
    """No renewal with that id belongs to the caller."""


class InvalidCursorError(Exception):
    """A pagination cursor was not one this window issued."""


class NotEligibleError(Exception):
    """Eligibility refused the renewal; ``reasons`` says why (nothing was stored)."""

    def __init__(self, reasons: tuple[Reason, ...]) -> None:
        said = "; ".join(f"{r.code}: {r.message}" for r in reasons) or "no reason was given"
        super().__init__(f"this passport cannot be renewed online: {said}")
        self.reasons = reasons


class EligibilityError(Exception):
    """The eligibility check could not give a decision (the port's errors below)."""


class EligibilityForbiddenError(EligibilityError):
    """Eligibility refused the caller's token (the citizen may not ask it)."""


class EligibilityInvalidError(EligibilityError):
    """Eligibility found the application itself invalid (e.g. dates that contradict each other)."""

    def __init__(self, message: str, errors: list[dict[str, str]]) -> None:
        super().__init__(message)
        self.errors = errors


class EligibilityAnswerError(EligibilityError):
    """Eligibility answered something that is not a decision."""


class StaleRenewalError(Exception):
    """The renewal changed since it was read; the write did not happen."""


class RenewalBusyError(Exception):
    """A saga step kept meeting concurrent changes; the event should be retried later."""


# -- values -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reason:
    code: str
    message: str

    def public(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reasons: tuple[Reason, ...]
    checked_on: str


@dataclass(frozen=True)
class Application:
    """What eligibility judges."""

    full_name: str
    date_of_birth: date
    passport_issued_on: date
    passport_expires_on: date
    name_on_passport: str | None = None
    name_change_document_ids: tuple[str, ...] | None = None
    passport_damaged: bool = False
    passport_lost_or_stolen: bool = False


@dataclass(frozen=True)
class Address:
    line1: str
    city: str
    state: str
    postal_code: str
    country: str  # ISO 3166-1 alpha-2
    line2: str | None = None

    def public(self) -> dict[str, str | None]:
        return {
            "line1": self.line1,
            "line2": self.line2,
            "city": self.city,
            "state": self.state,
            "postal_code": self.postal_code,
            "country": self.country,
        }


@dataclass(frozen=True)
class Fee:
    """The renewal fee: what one payment naming a renewal must be, exactly, to pay it."""

    amount: Decimal
    currency: str  # ISO 4217

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):  # money is never a float, anywhere
            raise TypeError(f"a fee's amount must be a Decimal, got {type(self.amount).__name__}")

    def paid_by(self, amount: Decimal, currency: str) -> bool:
        """Whether a payment of ``amount`` ``currency`` is exactly this fee (``130.0`` is ``130.00``)."""
        if not isinstance(amount, Decimal):
            raise TypeError(f"a payment's amount must be a Decimal, got {type(amount).__name__}")
        return currency == self.currency and amount == self.amount

    def public(self) -> dict[str, str]:
        return {"amount": money(self.amount, self.currency), "currency": self.currency}

    def __str__(self) -> str:
        return f"{money(self.amount, self.currency)} {self.currency}"


def mask(passport_number: str) -> str:
    """Every character but the last 4 as ``*``: enough for the citizen to recognise the passport."""
    return "*" * max(0, len(passport_number) - 4) + passport_number[-4:]


@dataclass(frozen=True)
class Renewal:
    id: str
    owner: str
    status: str
    full_name: str
    date_of_birth: date
    passport_number: str
    passport_issued_on: date
    passport_expires_on: date
    mailing_address: Address
    email: str | None
    name_on_passport: str | None
    name_change_document_ids: tuple[str, ...]
    eligibility_checked_on: str
    submitted_at: str
    updated_at: str
    payment_id: str | None = None
    paid_at: str | None = None
    photo_document_id: str | None = None
    photo_received_at: str | None = None
    ready_for_review_at: str | None = None

    def public(self, fee: Fee) -> dict[str, object]:
        """The citizen's view, with the ``fee`` to pay. The passport number is masked: the full
        number never leaves."""
        return {
            "id": self.id,
            "status": self.status,
            "fee": fee.public(),
            "full_name": self.full_name,
            "date_of_birth": self.date_of_birth,
            "passport_number": mask(self.passport_number),
            "passport_issued_on": self.passport_issued_on,
            "passport_expires_on": self.passport_expires_on,
            "mailing_address": self.mailing_address.public(),
            "email": self.email,
            "name_on_passport": self.name_on_passport,
            "name_change_document_ids": list(self.name_change_document_ids),
            "eligibility_checked_on": self.eligibility_checked_on,
            "payment_id": self.payment_id,
            "photo_document_id": self.photo_document_id,
            "submitted_at": self.submitted_at,
            "updated_at": self.updated_at,
            "paid_at": self.paid_at,
            "photo_received_at": self.photo_received_at,
            "ready_for_review_at": self.ready_for_review_at,
        }


def status_of(renewal: Renewal) -> str:
    """The status a renewal's recorded steps put it in."""
    if renewal.payment_id and renewal.photo_document_id:
        return READY_FOR_REVIEW
    if renewal.payment_id:
        return PAID
    if renewal.photo_document_id:
        return PHOTO_RECEIVED
    return SUBMITTED


@dataclass(frozen=True)
class Page:
    items: list[Renewal]
    cursor: str | None


@dataclass(frozen=True)
class CapturedPayment:
    """A payment the payments window captured (``PaymentCaptured``), as the saga reads it."""

    payment_id: str
    owner: str
    renewal_id: str | None
    amount: Decimal
    currency: str
    paid_at: str
    correlation_id: str | None


@dataclass(frozen=True)
class UploadedDocument:
    """A document the documents window stored (``DocumentUploaded``), as the saga reads it."""

    document_id: str
    owner: str
    kind: str | None
    renewal_id: str | None
    received_at: str
    correlation_id: str | None


class Outcome(StrEnum):
    """What a saga step did (for logs, metrics and tests)."""

    RECORDED = "recorded"  # the step is recorded; the renewal waits for the other one
    READY = "ready"  # the step completed the renewal: ready_for_review, event emitted
    DUPLICATE = "duplicate"  # this very step was already recorded
    SUPERSEDED = "superseded"  # another payment (or photo) was recorded first; ignored
    NOT_THE_FEE = "not_the_fee"  # a payment of another amount or currency than the fee; ignored
    UNKNOWN_RENEWAL = "unknown_renewal"  # no such renewal for the event's owner; ignored


# -- ports ------------------------------------------------------------------------------------------

#: An event as the outbox records it with a state change; opaque here (``passport.events`` builds it).
Recorded = Any


class RenewalRepository(Protocol):
    def add(self, renewal: Renewal, event: Recorded) -> None:
        """Store a new renewal and its event in one transaction."""
        ...

    def get(self, owner: str, renewal_id: str) -> Renewal | None: ...

    def recorded(self, owner: str) -> Renewal | None:
        """The renewal a first attempt of this very request (same Idempotency-Key) already stored,
        when its answer was lost; ``None`` otherwise."""
        ...

    def list(self, owner: str, *, limit: int, cursor: str | None) -> Page: ...

    def advance(self, before: Renewal, after: Renewal, event: Recorded | None) -> None:
        """Write ``after`` (and ``event``, in the same transaction) only if the stored renewal is
        still ``before`` in status and steps; ``StaleRenewalError`` otherwise (nothing written)."""
        ...


class EligibilityChecker(Protocol):
    def check(self, application: Application, *, token: str | None, correlation_id: str | None) -> Decision:
        """The decision, or an ``EligibilityError``; unavailability propagates as the caller's 5xx."""
        ...


class EventFactory(Protocol):
    """Turns the domain's facts into the events recorded with them (``passport.events``)."""

    def submitted(self, renewal: Renewal, *, correlation_id: str | None) -> Recorded: ...

    def ready_for_review(self, renewal: Renewal, *, correlation_id: str | None) -> Recorded: ...


# -- use cases --------------------------------------------------------------------------------------


def submit_renewal(
    repo: RenewalRepository,
    eligibility: EligibilityChecker,
    events: EventFactory,
    *,
    owner: str,
    application: Application,
    passport_number: str,
    mailing_address: Address,
    email: str | None,
    token: str | None,
    correlation_id: str | None,
    new_id: Callable[[], str],
    now_iso: Callable[[], str],
) -> Renewal:
    """Ask eligibility (synchronously), then store the renewal and record ``RenewalSubmitted``.

    A retry of a request whose renewal is already stored gets that renewal back (eligibility is not
    asked again): no second renewal or event."""
    first = repo.recorded(owner)
    if first is not None:
        return first
    decision = eligibility.check(application, token=token, correlation_id=correlation_id)
    if not decision.allowed:
        raise NotEligibleError(decision.reasons)
    now = now_iso()
    renewal = Renewal(
        id=new_id(),
        owner=owner,
        status=SUBMITTED,
        full_name=application.full_name,
        date_of_birth=application.date_of_birth,
        passport_number=passport_number,
        passport_issued_on=application.passport_issued_on,
        passport_expires_on=application.passport_expires_on,
        mailing_address=mailing_address,
        email=email,
        name_on_passport=application.name_on_passport,
        name_change_document_ids=application.name_change_document_ids or (),
        eligibility_checked_on=decision.checked_on,
        submitted_at=now,
        updated_at=now,
    )
    repo.add(renewal, events.submitted(renewal, correlation_id=correlation_id))
    return renewal


def get_renewal(repo: RenewalRepository, *, owner: str, renewal_id: str) -> Renewal:
    renewal = repo.get(owner, renewal_id)
    if renewal is None:
        raise RenewalNotFoundError(f"no renewal {renewal_id} for this citizen")
    return renewal


def list_renewals(repo: RenewalRepository, *, owner: str, limit: int, cursor: str | None) -> Page:
    return repo.list(owner, limit=limit, cursor=cursor)


Step = Callable[[Renewal], Renewal | Outcome]


def record_payment(
    repo: RenewalRepository,
    events: EventFactory,
    *,
    owner: str,
    renewal_id: str,
    payment_id: str,
    amount: Decimal,
    currency: str,
    fee: Fee,
    paid_at: str,
    correlation_id: str | None,
    now_iso: Callable[[], str],
    attempts: int = MAX_STEP_ATTEMPTS,
) -> Outcome:
    """Saga step: the renewal's fee is paid (``PaymentCaptured`` naming the renewal).

    Only a payment of exactly ``fee`` counts; any other is ``NOT_THE_FEE`` and changes nothing, so a
    payment of the fee arriving later still pays the renewal."""
    if not isinstance(amount, Decimal):
        raise TypeError(f"a payment's amount must be a Decimal, got {type(amount).__name__}")

    def step(renewal: Renewal) -> Renewal | Outcome:
        if renewal.payment_id == payment_id:
            return Outcome.DUPLICATE
        if not fee.paid_by(amount, currency):
            return Outcome.NOT_THE_FEE
        if renewal.payment_id is not None:
            return Outcome.SUPERSEDED
        return replace(renewal, payment_id=payment_id, paid_at=paid_at)

    return _advance(repo, events, owner, renewal_id, step, correlation_id, now_iso, attempts)


def record_photo(
    repo: RenewalRepository,
    events: EventFactory,
    *,
    owner: str,
    renewal_id: str,
    document_id: str,
    received_at: str,
    correlation_id: str | None,
    now_iso: Callable[[], str],
    attempts: int = MAX_STEP_ATTEMPTS,
) -> Outcome:
    """Saga step: the citizen's photo is stored (``DocumentUploaded`` of kind ``photo``)."""

    def step(renewal: Renewal) -> Renewal | Outcome:
        if renewal.photo_document_id == document_id:
            return Outcome.DUPLICATE
        if renewal.photo_document_id is not None:
            return Outcome.SUPERSEDED
        return replace(renewal, photo_document_id=document_id, photo_received_at=received_at)

    return _advance(repo, events, owner, renewal_id, step, correlation_id, now_iso, attempts)


def _advance(
    repo: RenewalRepository,
    events: EventFactory,
    owner: str,
    renewal_id: str,
    step: Step,
    correlation_id: str | None,
    now_iso: Callable[[], str],
    attempts: int,
) -> Outcome:
    for _attempt in range(attempts):
        before = repo.get(owner, renewal_id)
        if before is None:
            return Outcome.UNKNOWN_RENEWAL
        changed = step(before)
        if isinstance(changed, Outcome):
            return changed
        now = now_iso()
        status = status_of(changed)
        ready = status == READY_FOR_REVIEW
        after = replace(changed, status=status, updated_at=now, ready_for_review_at=now if ready else None)
        event = events.ready_for_review(after, correlation_id=correlation_id) if ready else None
        try:
            repo.advance(before, after, event)
        except StaleRenewalError:
            continue  # someone else moved it: read again and decide again
        return Outcome.READY if ready else Outcome.RECORDED
    raise RenewalBusyError(f"renewal {renewal_id} kept changing during {attempts} attempts; retry later")
