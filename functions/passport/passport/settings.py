"""The passport window's own setting, ``HMS_RENEWAL_FEE``: the renewal fee, ``AMOUNT CURRENCY``
(``"130.00 USD"`` when unset or blank), what a payment must be, exactly, to pay a renewal."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal

from hmskit.currencies import MINOR_UNITS
from hmskit.settings import own_setting
from passport.domain import Fee

RENEWAL_FEE_VARIABLE = "HMS_RENEWAL_FEE"
DEFAULT_RENEWAL_FEE = "130.00 USD"
# Plain decimal notation, as the events' Money (at most 9 digits, 3 places), one space, a code.
_FEE = re.compile(r"(?P<amount>[0-9]{1,9}(?:\.[0-9]{1,3})?) (?P<currency>[A-Z]{3})")


def parse_fee(text: str) -> Fee:
    """``"130.00 USD"`` as a ``Fee``; ``ValueError`` saying what is wrong otherwise.

    Strict: the amount in plain decimal notation (no sign, exponent, separators or float), greater
    than 0, with no more decimal places than the currency's minor unit (padded to them: ``"130 USD"``
    is 130.00 USD); one space; an ISO 4217 currency code in capitals."""
    match = _FEE.fullmatch(text.strip())
    if match is None:
        raise ValueError(
            f"{text!r} is not AMOUNT CURRENCY: a plain decimal amount, one space and an ISO 4217 "
            f"code in capitals, e.g. {DEFAULT_RENEWAL_FEE!r}"
        )
    currency = match["currency"]
    places = MINOR_UNITS.get(currency)
    if places is None:
        raise ValueError(f"{text!r}: {currency!r} is not an ISO 4217 currency code")
    amount = Decimal(match["amount"])
    if amount <= 0:
        raise ValueError(f"{text!r}: the fee must be greater than 0")
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        raise ValueError(f"{text!r}: {currency} amounts have at most {places} decimal places")
    return Fee(amount.quantize(Decimal(1).scaleb(-places)), currency)


DEFAULT_FEE = parse_fee(DEFAULT_RENEWAL_FEE)


def renewal_fee_from_env(environ: Mapping[str, str]) -> Fee:
    return own_setting(environ, RENEWAL_FEE_VARIABLE, parse_fee, DEFAULT_FEE)
