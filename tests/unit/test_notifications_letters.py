"""What each event tells the citizen: subject, plain text and HTML of every notification email."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hmskit.contracts import (
    DocumentUploadedV1,
    Event,
    EventData,
    PaymentCapturedV1,
    RenewalReadyForReviewV1,
    RenewalSubmittedV1,
    build,
)
from notifications import letters
from notifications.domain import mask, notification_id

WHEN = datetime(2027, 3, 4, 9, 5, tzinfo=UTC)


def event(data: EventData, *, event_id: str = "E-0", correlation_id: str | None = "req-1") -> Event:
    return build(data, event_id=event_id, source="passport", time=WHEN, correlation_id=correlation_id)


def submitted(**kw: object) -> RenewalSubmittedV1:
    fields: dict[str, object] = {
        "renewal_id": "R-123",
        "owner": "alice",
        "full_name": "Alice Example",
        "email": "alice@example.org",
        "submitted_at": WHEN,
    }
    return RenewalSubmittedV1.model_validate(fields | kw)


def captured(**kw: object) -> PaymentCapturedV1:
    fields: dict[str, object] = {
        "payment_id": "P-9",
        "owner": "alice",
        "amount": "25.00",
        "currency": "GBP",
        "purpose": "passport renewal fee",
        "renewal_id": "R-123",
        "captured_at": WHEN,
    }
    return PaymentCapturedV1.model_validate(fields | kw)


def ready(**kw: object) -> RenewalReadyForReviewV1:
    fields: dict[str, object] = {
        "renewal_id": "R-123",
        "owner": "alice",
        "payment_id": "P-9",
        "photo_document_id": "D-7",
        "ready_at": WHEN,
    }
    return RenewalReadyForReviewV1.model_validate(fields | kw)


def test_renewal_received_names_the_renewal_and_the_next_steps() -> None:
    letter = letters.letter_for(event(submitted()))

    assert letter.subject == "We have received your passport renewal application (reference R-123)"
    assert letter.text.startswith("Hello,\n")
    assert "4 March 2027, 09:05 UTC" in letter.text
    assert "1. Pay the passport renewal fee, quoting your reference R-123." in letter.text
    assert "2. Upload a recent passport photo for this renewal." in letter.text
    assert "<ol><li>Pay the passport renewal fee, quoting your reference R-123.</li>" in letter.html


def test_payment_received_states_the_amount_as_the_exact_decimal_string() -> None:
    letter = letters.letter_for(event(captured(amount="1200.10", currency="USD")))

    assert letter.subject == "Payment received: 1200.10 USD"
    assert "We have received your payment of 1200.10 USD" in letter.text
    assert "1200.10 USD" in letter.html
    assert "1200.1 " not in letter.text  # the trailing zero survives: never a float


def test_payment_received_mentions_the_renewal_when_the_payment_is_for_one() -> None:
    letter = letters.letter_for(event(captured()))

    assert "This payment is for your passport renewal R-123." in letter.text
    assert "Payment reference: P-9" in letter.text


def test_a_payment_without_a_renewal_says_so_in_fixed_words() -> None:
    letter = letters.letter_for(event(captured(renewal_id=None, purpose="late fee")))

    assert "This payment is not linked to a passport renewal application." in letter.text
    assert "Payment reference: P-9" in letter.text
    assert "late fee" not in letter.text + letter.html + letter.subject


# A citizen chooses the address (a renewal's ``email``) and writes ``full_name`` and a payment's
# ``purpose``: quoting them would let anyone have HMS email their words to anyone.
SPAM = "URGENT call +1-555-0100 or visit https://evil.example to keep your passport"


@pytest.mark.parametrize(
    "data",
    [
        submitted(full_name=SPAM),
        captured(purpose=SPAM),
        captured(purpose=SPAM, renewal_id=None),
    ],
    ids=["full_name", "purpose", "purpose-without-renewal"],
)
def test_no_letter_echoes_text_the_citizen_wrote(data: EventData) -> None:
    letter = letters.letter_for(event(data))

    for part in (letter.subject, letter.text, letter.html):
        assert "evil.example" not in part and "555-0100" not in part and "URGENT" not in part


def test_ready_for_review_says_nothing_more_is_needed() -> None:
    letter = letters.letter_for(event(ready()))

    assert letter.subject == "Your passport renewal R-123 is ready for review"
    assert "An officer will now review your application. You do not need to do anything" in letter.text
    assert "(P-9)" in letter.text and "(D-7)" in letter.text


def test_the_letters_greet_without_the_citizens_name() -> None:
    letter = letters.letter_for(event(submitted(full_name='<script>alert("x")</script> & Co')))

    assert letter.text.startswith("Hello,\n") and "<p>Hello,</p>" in letter.html
    assert "script" not in letter.html and "script" not in letter.text


@pytest.mark.parametrize("data", [submitted(), captured(), ready()], ids=lambda d: d.TYPE)
def test_every_letter_is_signed_and_says_it_is_automated(data: EventData) -> None:
    letter = letters.letter_for(event(data))

    assert "HMS Passport Services" in letter.text and "Please do not reply" in letter.text
    assert letter.html.startswith("<!doctype html>") and letter.html.endswith("</html>")
    assert "\n" not in letter.subject


def test_an_event_without_a_letter_is_refused() -> None:
    uploaded = DocumentUploadedV1(
        document_id="D-1",
        owner="alice",
        content_type="image/png",
        size=1,
        sha256="0" * 64,
        uploaded_at=WHEN,
    )

    with pytest.raises(letters.UnknownLetterError):
        letters.letter_for(event(uploaded))


def test_the_cause_carries_owner_event_renewal_address_and_correlation() -> None:
    cause = letters.cause_of(event(captured(email="a@example.org"), event_id="E-1"))

    assert (cause.owner, cause.event_id, cause.type) == ("alice", "E-1", "PaymentCaptured")
    assert (cause.renewal_id, cause.email, cause.correlation_id) == ("R-123", "a@example.org", "req-1")
    assert cause.occurred_ms == int(WHEN.timestamp() * 1000)


def test_notification_ids_are_derived_from_the_event_and_ordered_by_its_time() -> None:
    first = notification_id("E-1", 1_000)

    assert notification_id("E-1", 1_000) == first  # every delivery names the same record
    assert notification_id("E-2", 1_000) != first
    assert notification_id("E-0", 1_001) > first > notification_id("E-9", 999)


@pytest.mark.parametrize(
    ("address", "masked"),
    [("alice@example.org", "a***@example.org"), ("a@example.org", "a***@example.org"), (None, None)],
)
def test_addresses_are_masked(address: str | None, masked: str | None) -> None:
    assert mask(address) == masked
