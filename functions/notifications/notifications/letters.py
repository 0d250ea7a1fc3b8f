"""What each event tells the citizen: a ``Cause`` (for delivery) and a ``Letter`` (plain text + HTML).

Money is the event's decimal string read as a ``Decimal`` (never a float) and written in the
currency's minor units (``hmskit.currencies.money``): "12.5 USD" from a producer that read it back
from DynamoDB is written "12.50 USD". Every value that reaches the HTML
is escaped; subjects hold only ids and amounts, which the contracts restrict to safe characters.

No letter echoes text a citizen wrote (``full_name``, a payment's ``purpose``): the recipient is an
address the citizen chose (a renewal's ``email`` is theirs to set), so an email quoting their words
would let anyone send HMS-signed text of their choosing to any address. Letters say only fixed
wording, server-issued ids, amounts, currencies and dates. The stored notification keeps its fields
as before (it never held those texts).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from html import escape
from typing import Any

from hmskit.contracts import (
    Event,
    EventData,
    PaymentCapturedV1,
    RenewalReadyForReviewV1,
    RenewalSubmittedV1,
)
from hmskit.currencies import money
from notifications.domain import Cause, Letter

SIGNATURE = "HMS Passport Services"
FOOTER = "This is an automated message from HMS Passport Services. Please do not reply to it."


class UnknownLetterError(Exception):
    """No letter is written for this event type."""


def _when(moment: datetime) -> str:
    """``21 November 2026, 09:05 UTC``."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return f"{utc.day} {utc:%B %Y, %H:%M} UTC"


def _letter(subject: str, paragraphs: list[str | list[str]], *, greeting: str = "Hello,") -> Letter:
    """Plain text and HTML from the same paragraphs; a list is a numbered list of steps."""
    text: list[str] = [greeting, ""]
    html: list[str] = [f"<p>{escape(greeting)}</p>"]
    for part in paragraphs:
        if isinstance(part, list):
            text += [f"{i}. {step}" for i, step in enumerate(part, 1)] + [""]
            html.append("<ol>" + "".join(f"<li>{escape(step)}</li>" for step in part) + "</ol>")
        else:
            text += [part, ""]
            html.append(f"<p>{escape(part)}</p>")
    text += [SIGNATURE, "", "--", FOOTER]
    html.append(f"<p>{escape(SIGNATURE)}</p>")
    html.append(f'<p style="color:#555;font-size:small">{escape(FOOTER)}</p>')
    return Letter(
        subject=subject,
        text="\n".join(text) + "\n",
        html='<!doctype html><html><body style="font-family:sans-serif">' + "".join(html) + "</body></html>",
    )


def renewal_submitted(data: RenewalSubmittedV1) -> Letter:
    ref = data.renewal_id
    return _letter(
        f"We have received your passport renewal application (reference {ref})",
        [
            f"We received your passport renewal application on {_when(data.submitted_at)}. "
            f"Your reference is {ref}.",
            "What happens next:",
            [
                f"Pay the passport renewal fee, quoting your reference {ref}.",
                "Upload a recent passport photo for this renewal.",
            ],
            "Once we have your payment and your photo, an officer will review your application. "
            "We will email you at each step.",
        ],
    )


def payment_captured(data: PaymentCapturedV1) -> Letter:
    amount = f"{money(Decimal(data.amount), data.currency)} {data.currency}"  # never a float
    about = (  # never the payer's ``purpose``: it is their free text
        f"This payment is for your passport renewal {data.renewal_id}."
        if data.renewal_id
        else "This payment is not linked to a passport renewal application."
    )
    return _letter(
        f"Payment received: {amount}",
        [
            f"We have received your payment of {amount} on {_when(data.captured_at)}.",
            about,
            f"Payment reference: {data.payment_id}. Keep it for your records.",
        ],
    )


def renewal_ready_for_review(data: RenewalReadyForReviewV1) -> Letter:
    ref = data.renewal_id
    return _letter(
        f"Your passport renewal {ref} is ready for review",
        [
            f"Your passport renewal {ref} has everything it needs: we have your payment "
            f"({data.payment_id}) and your photo ({data.photo_document_id}).",
            "An officer will now review your application. You do not need to do anything; "
            "we will email you when the review is complete.",
        ],
    )


def _typed[D: EventData](model: type[D], write: Callable[[D], Letter]) -> Callable[[EventData], Letter]:
    def letter(data: EventData) -> Letter:
        if not isinstance(data, model):
            raise UnknownLetterError(f"expected {model.TYPE} data, got {type(data).__name__}")
        return write(data)

    return letter


LETTERS: dict[str, Callable[[EventData], Letter]] = {
    RenewalSubmittedV1.TYPE: _typed(RenewalSubmittedV1, renewal_submitted),
    PaymentCapturedV1.TYPE: _typed(PaymentCapturedV1, payment_captured),
    RenewalReadyForReviewV1.TYPE: _typed(RenewalReadyForReviewV1, renewal_ready_for_review),
}


def letter_for(event: Event) -> Letter:
    write = LETTERS.get(event.type)
    if write is None:
        raise UnknownLetterError(f"no letter for {event.type!r} events")
    return write(event.data)


def cause_of(event: Event) -> Cause:
    data: Any = event.data  # every notified contract has owner, email and (maybe) renewal_id
    moment = event.metadata.time
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return Cause(
        event_id=event.id,
        type=event.type,
        owner=str(data.owner),
        occurred_ms=int(moment.timestamp() * 1000),
        renewal_id=getattr(data, "renewal_id", None),
        email=getattr(data, "email", None),
        correlation_id=event.metadata.correlation_id,
    )
