"""The passport window's own setting: the renewal fee (``HMS_RENEWAL_FEE``), parsed strictly.

``"AMOUNT CURRENCY"``: a plain decimal amount greater than 0 with no more places than the currency's
minor unit, one space, an ISO 4217 code in capitals. Unset or blank is the default, 130.00 USD. A bad
value stops the window with a ``SettingsError`` naming the variable, before any client is built.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from hmskit.settings import SettingsError, load_settings
from passport import bootstrap
from passport.domain import Fee
from passport.settings import DEFAULT_FEE, parse_fee, renewal_fee_from_env


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("130.00 USD", "130.00", "USD"),
        ("130 USD", "130.00", "USD"),  # padded to the currency's minor unit
        ("130.5 USD", "130.50", "USD"),
        ("  75.50 GBP\n", "75.50", "GBP"),  # surrounding whitespace, as an env file may leave it
        ("0.01 EUR", "0.01", "EUR"),
        ("16000 JPY", "16000", "JPY"),  # no minor unit
        ("12.345 BHD", "12.345", "BHD"),  # three places
        ("130.000 USD", "130.00", "USD"),  # trailing zeros are not extra places
    ],
)
def test_a_fee_parses_into_a_decimal_and_a_currency(text: str, amount: str, currency: str) -> None:
    fee = parse_fee(text)

    assert isinstance(fee.amount, Decimal)
    assert (str(fee.amount), fee.currency) == (amount, currency)
    assert fee.public() == {"amount": amount, "currency": currency}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "AMOUNT CURRENCY"),
        ("130.00", "AMOUNT CURRENCY"),
        ("USD 130.00", "AMOUNT CURRENCY"),
        ("130.00USD", "AMOUNT CURRENCY"),
        ("130.00  USD", "AMOUNT CURRENCY"),
        ("130.00 usd", "AMOUNT CURRENCY"),
        ("130,00 USD", "AMOUNT CURRENCY"),
        ("1,300.00 USD", "AMOUNT CURRENCY"),
        ("1_300 USD", "AMOUNT CURRENCY"),
        ("-130.00 USD", "AMOUNT CURRENCY"),
        ("+130.00 USD", "AMOUNT CURRENCY"),
        ("1.3e2 USD", "AMOUNT CURRENCY"),
        (".50 USD", "AMOUNT CURRENCY"),
        ("130. USD", "AMOUNT CURRENCY"),
        ("NaN USD", "AMOUNT CURRENCY"),
        ("Infinity USD", "AMOUNT CURRENCY"),
        ("١٣٠ USD", "AMOUNT CURRENCY"),  # Arabic-Indic digits: Decimal() alone would take them
        ("1234567890 USD", "AMOUNT CURRENCY"),  # more digits than an event's amount may have
        ("130.00 US", "AMOUNT CURRENCY"),
        ("130.00 USDX", "AMOUNT CURRENCY"),
        ("130.00 XYZ", "ISO 4217"),
        ("0 USD", "greater than 0"),
        ("0.00 USD", "greater than 0"),
        ("130.001 USD", "at most 2 decimal places"),
        ("16000.5 JPY", "at most 0 decimal places"),
    ],
)
def test_a_bad_fee_is_refused_saying_why(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says) as raised:
        parse_fee(text)

    assert repr(text) in str(raised.value)


def test_the_default_fee_is_130_usd() -> None:
    assert DEFAULT_FEE == Fee(Decimal("130.00"), "USD")
    assert renewal_fee_from_env({}) == DEFAULT_FEE
    assert renewal_fee_from_env({"HMS_RENEWAL_FEE": "   "}) == DEFAULT_FEE


def test_the_fee_is_read_from_hms_renewal_fee() -> None:
    assert renewal_fee_from_env({"HMS_RENEWAL_FEE": "82.50 GBP"}) == Fee(Decimal("82.50"), "GBP")


@pytest.mark.parametrize("bad", ["130", "130.00 usd", "abc", "130.001 USD", "0 USD", "130.00 XYZ"])
def test_a_bad_hms_renewal_fee_is_a_settings_error_naming_the_variable(bad: str) -> None:
    with pytest.raises(SettingsError, match="HMS_RENEWAL_FEE") as raised:
        renewal_fee_from_env({"HMS_RENEWAL_FEE": bad})

    assert repr(bad) in str(raised.value)
    assert "invalid window settings from the environment" in str(raised.value)


def test_the_fee_compares_decimals_not_text() -> None:
    fee = Fee(Decimal("130.00"), "USD")

    assert fee.paid_by(Decimal("130"), "USD") and fee.paid_by(Decimal("130.000"), "USD")
    assert not fee.paid_by(Decimal("130.01"), "USD")
    assert not fee.paid_by(Decimal("130.00"), "usd")
    assert not fee.paid_by(Decimal("129.999"), "USD")


def test_the_currency_table_is_the_one_payments_accepts() -> None:
    from passport.settings import MINOR_UNITS as PASSPORT
    from payments.models import MINOR_UNITS as PAYMENTS

    assert PASSPORT == PAYMENTS


# -- the composition root: the environment, read once -----------------------------------------------


@pytest.fixture
def fresh_root(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``bootstrap.deps()`` built from this test's environment, and forgotten afterwards."""
    monkeypatch.setenv("HMS_WINDOW", "passport")
    monkeypatch.setenv("HMS_TABLE_NAME", "passport-table")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    bootstrap.deps.cache_clear()
    load_settings.cache_clear()
    yield
    bootstrap.deps.cache_clear()
    load_settings.cache_clear()


def test_the_composition_root_reads_the_fee_from_the_environment(
    fresh_root: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HMS_RENEWAL_FEE", "99.99 CAD")

    assert bootstrap.deps().renewal_fee == Fee(Decimal("99.99"), "CAD")


def test_the_composition_root_defaults_the_fee(fresh_root: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HMS_RENEWAL_FEE", raising=False)

    assert bootstrap.deps().renewal_fee == DEFAULT_FEE


def test_a_bad_fee_stops_the_composition_root(fresh_root: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HMS_RENEWAL_FEE", "0.01")

    with pytest.raises(SettingsError, match=r"HMS_RENEWAL_FEE: '0\.01' is not AMOUNT CURRENCY"):
        bootstrap.deps()
