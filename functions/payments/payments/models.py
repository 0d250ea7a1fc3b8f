"""The HTTP contract of the payments window (request and response bodies)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from hmskit.currencies import MINOR_UNITS
from hmskit.text import SINGLE_LINE

MAX_AMOUNT = Decimal("1000000.00")
# Plain decimal notation only: Decimal() alone also takes "1e3", "1_000" and non-ASCII digits.
_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


class CreatePayment(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)

    amount: Decimal = Field(gt=0, le=MAX_AMOUNT, decimal_places=2, allow_inf_nan=False)
    currency: str = "USD"
    purpose: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), SINGLE_LINE
    ]
    renewal_id: Annotated[str, StringConstraints(pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$")] | None = Field(
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
    cursor: str | None = Field(default=None, max_length=512)
