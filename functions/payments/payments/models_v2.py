"""Payments, HTTP contract v2: the request bodies (pydantic). See ``payments.v2``."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema, model_validator

from hmskit.currencies import MINOR_UNITS
from hmskit.ids import RenewalId
from hmskit.text import NONBLANK_LINE
from payments.models import MAX_AMOUNT, amount_pattern

_VALUE = re.compile(r"^[0-9]+(?:\.[0-9]+)?$")


def _per_currency(schema: dict[str, Any]) -> None:
    """``value`` as its ``currency`` allows it (the document states the places and the maximum)."""
    schema["anyOf"] = [
        {
            "properties": {
                "currency": {"enum": sorted(c for c, p in MINOR_UNITS.items() if p == places)},
                "value": {"pattern": amount_pattern(places)},
            }
        }
        for places in sorted(set(MINOR_UNITS.values()))
    ]


class MoneyIn(BaseModel):
    """An amount and its currency, as one value."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_per_currency)

    value: Annotated[
        str,
        Field(
            description=f"a decimal string in plain notation, above 0 and at most {MAX_AMOUNT}, with no "
            "more places than the currency's minor unit (`12.50` USD, `1000` JPY); never a JSON number",
            examples=["12.50"],
        ),
        WithJsonSchema({"type": "string", "pattern": _VALUE.pattern}, mode="validation"),
    ]
    currency: Annotated[
        str,
        Field(description="ISO 4217 code"),
        WithJsonSchema({"type": "string", "enum": sorted(MINOR_UNITS)}, mode="validation"),
    ]

    @model_validator(mode="after")
    def _money(self) -> MoneyIn:
        if self.currency not in MINOR_UNITS:
            raise ValueError(f"currency {self.currency!r} is not an ISO 4217 code")
        if not _VALUE.fullmatch(self.value):
            raise ValueError('value must be a decimal string in plain notation, e.g. "12.50"')
        amount = Decimal(self.value)
        if not 0 < amount <= MAX_AMOUNT:
            raise ValueError(f"value must be above 0 and at most {MAX_AMOUNT}")
        places = MINOR_UNITS[self.currency]
        exponent = amount.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > places:
            raise ValueError(f"{self.currency} amounts have at most {places} decimal places")
        return self

    def decimal(self) -> Decimal:
        return Decimal(self.value).quantize(Decimal(1).scaleb(-MINOR_UNITS[self.currency]))


class CreatePaymentV2(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: MoneyIn
    purpose: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NONBLANK_LINE
    ]
    renewal_id: RenewalId | None = Field(
        default=None, description="the passport renewal this payment is for (the passport window's id)"
    )
