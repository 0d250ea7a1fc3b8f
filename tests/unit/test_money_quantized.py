"""Money reads back exactly as written: every amount that leaves the platform has its currency's
minor units, whatever the table gave back (DynamoDB returns ``N "12.50"`` as ``12.5``).

The currency table itself is checked against ISO 4217 as a maintained package publishes it.
"""

from __future__ import annotations

from decimal import Decimal

import iso4217
import pytest
from helpers import body_of, http_event
from support.kit import FakeClock
from support.payments import InMemoryPaymentRepository

from hmskit.context import LocalContext
from hmskit.contracts import PaymentCapturedV1
from hmskit.currencies import MINOR_UNITS, money, quantize
from hmskit.settings import WindowSettings
from notifications.letters import payment_captured
from passport.domain import Fee
from payments.bootstrap import Deps
from payments.domain import Payment
from payments.handler import handle

# Active ISO 4217 codes the table leaves out on purpose: no citizen pays a fee in them.
UNITS_OF_ACCOUNT = {
    "UYW": "Unidad Previsional, an index unit",
    "XAD": "Arab Accounting Dinar, the Arab Monetary Fund's unit of account",
}


def iso_minor_units() -> dict[str, int]:
    """ISO 4217 codes with minor units, funds excluded (``IsFund``), from the package's own table."""
    out: dict[str, int] = {}
    for entry in iso4217.raw_xml.iter("CcyNtry"):
        code, name, places = entry.findtext("Ccy"), entry.find("CcyNm"), entry.findtext("CcyMnrUnts")
        if not code or name is None or name.get("IsFund") == "true" or not (places or "").isdigit():
            continue
        out[code] = int(places or 0)
    return out


# -- the table --------------------------------------------------------------------------------------


def test_every_code_in_the_table_is_iso_4217_with_its_minor_units() -> None:
    iso = iso_minor_units()

    assert {code: places for code, places in MINOR_UNITS.items() if iso.get(code) != places} == {}


def test_every_active_iso_4217_currency_is_in_the_table() -> None:
    missing = set(iso_minor_units()) - set(MINOR_UNITS) - set(UNITS_OF_ACCOUNT)

    assert missing == set()
    assert {"VED", "XCG"} <= set(MINOR_UNITS)


# -- money() ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "currency", "written"),
    [
        ("12.5", "USD", "12.50"),  # what DynamoDB gives back for 12.50
        ("130", "USD", "130.00"),
        ("1E+2", "USD", "100.00"),  # a normalised Decimal never leaves in exponent notation
        ("0.1", "GBP", "0.10"),
        ("1000", "JPY", "1000"),
        ("1.25", "BHD", "1.250"),
        ("7", "VED", "7.00"),
        ("7", "XCG", "7.00"),
    ],
)
def test_an_amount_leaves_with_its_currencys_minor_units(stored: str, currency: str, written: str) -> None:
    assert money(Decimal(stored), currency) == written


def test_an_unknown_code_keeps_the_amount_in_plain_notation() -> None:
    assert money(Decimal("1E+2"), "ZZZ") == "100"
    assert quantize(Decimal("12.5"), "ZZZ") == Decimal("12.5")


def test_a_float_is_never_money() -> None:
    with pytest.raises(TypeError):
        money(12.5, "USD")  # type: ignore[arg-type]


# -- answers, events and letters -----------------------------------------------------------------------


def test_a_payment_read_back_normalised_answers_with_minor_units() -> None:
    repo = InMemoryPaymentRepository()
    for pid, amount in (("01ARZ3NDEKTSV4RRFFQ69G5FAV", "12.5"), ("01ARZ3NDEKTSV4RRFFQ69G5FAW", "130")):
        # stored the way DynamoDB returns it
        repo.items[("alice", pid)] = Payment(pid, "alice", Decimal(amount), "USD", "fee", "captured", "2027")
    deps = Deps(
        settings=WindowSettings(window="payments", table_name="unused"),
        payments=repo,
        rate_limiter=None,
        idempotency=None,  # type: ignore[arg-type]  # the GETs never use it
        clock=FakeClock(),
    )

    one = handle(http_event("GET", "/api/v1/payments/01ARZ3NDEKTSV4RRFFQ69G5FAV"), LocalContext(), deps)
    listed = handle(http_event("GET", "/api/v1/payments"), LocalContext(), deps)

    assert body_of(one)["amount"] == "12.50"
    assert [p["amount"] for p in body_of(listed)["items"]] == ["130.00", "12.50"]


def test_a_payment_captured_letter_writes_minor_units() -> None:
    for amount, currency, written in (
        ("12.5", "USD", "12.50 USD"),
        ("130", "USD", "130.00 USD"),
        ("1000", "JPY", "1000 JPY"),
    ):
        data = PaymentCapturedV1(
            payment_id="01ARZ3NDEKTSV4RRFFQ69G5FAV",
            owner="alice",
            amount=amount,
            currency=currency,
            purpose="fee",
            captured_at="2027-01-15T08:00:00Z",  # type: ignore[arg-type]
        )

        letter = payment_captured(data)

        assert letter.subject == f"Payment received: {written}"
        assert f"your payment of {written}" in letter.text


def test_the_renewal_fee_is_written_with_minor_units() -> None:
    fee = Fee(Decimal("130"), "USD")

    assert fee.public() == {"amount": "130.00", "currency": "USD"}
    assert str(fee) == "130.00 USD"
