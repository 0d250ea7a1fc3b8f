"""Payments, HTTP contract v1 (pydantic): the request body ``CreatePayment``, the list query (v2's
too) and the amount rules ``models_v2`` shares. The answers are ``domain.Payment.public()``."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from hmskit.currencies import MINOR_UNITS
from hmskit.cursors import CURSOR_PATTERN
from hmskit.ids import RenewalId
from hmskit.text import NONBLANK_LINE

MAX_AMOUNT = Decimal("1000000.00")
# Plain decimal notation only: Decimal() alone also takes "1e3", "1_000" and non-ASCII digits.
_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def amount_pattern(places: int) -> str:
    """The amounts ``CreatePayment`` accepts as a string for a currency with ``places`` minor units.

    Plain decimal notation, above 0 and at most ``MAX_AMOUNT``, no more significant places than the
    currency has (trailing zeros and leading zeros are harmless: ``12.500`` is 12.50 USD)."""
    whole_digits = len(str(int(MAX_AMOUNT))) - 1  # 1 to 999999, then MAX_AMOUNT itself
    fraction = rf"(?:\.[0-9]{{1,{places}}}0*)?" if places else r"(?:\.0+)?"
    below_one = [
        "0" * k + "[1-9]" + (f"[0-9]{{0,{places - 1 - k}}}" if k < places - 1 else "") for k in range(places)
    ]
    forms = [rf"0*[1-9][0-9]{{0,{whole_digits - 1}}}{fraction}", rf"0*{int(MAX_AMOUNT)}(?:\.0+)?"]
    if below_one:
        forms.append(rf"0+\.(?:{'|'.join(below_one)})0*")
    return f"^(?:{'|'.join(forms)})$"


def _amount_schema(places: int) -> dict[str, object]:
    return {
        "anyOf": [
            {"type": "integer", "minimum": 1, "maximum": int(MAX_AMOUNT)},
            {"type": "string", "pattern": amount_pattern(places)},
        ]
    }


def _per_currency(schema: dict[str, Any]) -> None:
    """``amount`` as each currency allows it: one branch per number of minor units (USD when absent)."""
    branches: list[dict[str, object]] = []
    for places in sorted(set(MINOR_UNITS.values()), key=lambda p: (p != MINOR_UNITS["USD"], p)):
        codes = sorted(c for c, p in MINOR_UNITS.items() if p == places)
        branch: dict[str, object] = {
            "properties": {"currency": {"enum": codes}, "amount": _amount_schema(places)}
        }
        if "USD" not in codes:
            branch["required"] = ["currency"]
        branches.append(branch)
    schema["anyOf"] = branches


AMOUNT_DESCRIPTION = (
    f"above 0 and at most {MAX_AMOUNT}, with no more places than the currency's minor unit (2 for "
    "USD, 0 for JPY, 3 for BHD): a string in plain decimal notation (`12.50`), or a JSON number. "
    "The schema lists whole JSON numbers only; a JSON number with places (`12.5`) is accepted too, "
    "never one in exponent notation (`1e3`)"
)


class CreatePayment(BaseModel):
    # ``amount``'s places are the currency's (checked after both fields, in ``_minor_units``)
    model_config = ConfigDict(extra="forbid", strict=False, json_schema_extra=_per_currency)

    amount: Annotated[
        Decimal,
        Field(gt=0, le=MAX_AMOUNT, allow_inf_nan=False, description=AMOUNT_DESCRIPTION),
        WithJsonSchema(_amount_schema(max(MINOR_UNITS.values())), mode="validation"),
    ]
    currency: Annotated[
        str,
        Field(description="ISO 4217 code (lower case is accepted too)"),
        WithJsonSchema({"type": "string", "enum": sorted(MINOR_UNITS)}, mode="validation"),
    ] = "USD"
    purpose: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NONBLANK_LINE
    ]
    renewal_id: RenewalId | None = Field(
        default=None, description="the passport renewal this payment is for (the passport window's id)"
    )

    @field_validator("amount", mode="before")
    @classmethod
    def _no_float_or_bool(cls, value: object) -> object:
        if isinstance(value, bool) or isinstance(value, float):
            raise ValueError("amount must be a decimal number or string, not a float")
        if isinstance(value, str) and not _PLAIN_DECIMAL.fullmatch(value):
            raise ValueError('amount must be written in plain decimal notation, e.g. "12.50"')
        exponent = value.as_tuple().exponent if isinstance(value, Decimal) else 0
        if isinstance(exponent, int) and exponent > 0:  # a JSON number such as 1e3
            raise ValueError("amount must be written in plain decimal notation, not 1e3")
        return value

    @field_validator("currency")
    @classmethod
    def _iso_4217(cls, value: str) -> str:
        code = value.strip().upper()
        if code not in MINOR_UNITS:
            raise ValueError(f"{value!r} is not an ISO 4217 currency code")
        return code

    @model_validator(mode="after")
    def _minor_units(self) -> CreatePayment:
        places = MINOR_UNITS[self.currency]
        exponent = self.amount.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > places:
            raise ValueError(f"{self.currency} amounts have at most {places} decimal places")
        self.amount = self.amount.quantize(Decimal(1).scaleb(-places))
        return self


class ListQuery(BaseModel):
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, pattern=CURSOR_PATTERN)
