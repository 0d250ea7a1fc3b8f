"""The payments window's HTTP contract, for ``docs/openapi.json`` (``hms template``).

Request bodies are the window's own models (``payments.models``); the answers are described here,
field for field what ``payments.domain.Payment.public`` and the handler return. The handler never
imports this module.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from hmskit.apidoc import NEXT_CURSOR, Operation, health, listing, owned_item
from hmskit.ids import ID_PATTERN
from payments.models import MAX_AMOUNT, CreatePayment, ListQuery
from payments.models_v2 import CreatePaymentV2

BASE = "/api/v1/payments"
DESCRIPTION = "Citizens pay fees; a payment belongs to the token's `sub` and only its owner sees it."

Id = Annotated[
    str, Field(pattern=ID_PATTERN.pattern, description="26 Crockford base32 characters, time-ordered")
]
Money = Annotated[
    str,
    Field(
        pattern=r"^[0-9]+(\.[0-9]+)?$",
        description="a decimal string with the currency's minor-unit places (`12.50`, `1000` for JPY); "
        "never a JSON number",
        examples=["12.50"],
    ),
]


class Payment(BaseModel):
    """A payment, as its owner sees it."""

    id: Id
    amount: Money
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")]
    purpose: str
    status: Literal["captured"]
    renewal_id: Id | None = Field(description="the passport renewal this payment is for, if any")
    created_at: datetime


class PaymentPage(BaseModel):
    """The caller's payments, newest first."""

    items: list[Payment]
    next_cursor: str | None = Field(description=NEXT_CURSOR)


OPERATIONS = {
    ("POST", BASE): Operation(
        operation_id="createPayment",
        summary="Capture a payment",
        description=(
            "The owner is the token's `sub`. `amount` is a positive decimal (a JSON number or a "
            f"string in plain decimal notation, never a float such as `1e3`) of at most {MAX_AMOUNT} "
            "with no more places than the currency's minor unit (2 for USD, 0 for JPY); `currency` is "
            "an ISO 4217 code (default USD, case-insensitive); `purpose` 1 to 200 characters. With an "
            "`Idempotency-Key` a retry replays the first answer and captures nothing twice. Emits "
            "`PaymentCaptured`."
        ),
        request=CreatePayment,
        examples={
            "fee": {"amount": "12.50", "currency": "GBP", "purpose": "passport renewal fee"},
            "for a renewal": {
                "amount": "82.50",
                "purpose": "passport renewal fee",
                "renewal_id": "01JD2XA0RG8K4T1P9N6D3B5W2X",
            },
        },
        status=201,
        response=Payment,
        response_description="The payment is captured.",
        location="the new payment: `/api/v1/payments/{id}`",
        idempotent=True,
        errors={422: "`amount` is a float, in exponent notation, has too many places or is out of range."},
    ),
    ("GET", BASE): listing(
        "listPayments", "List the caller's payments", items="payments", query=ListQuery, response=PaymentPage
    ),
    ("GET", f"{BASE}/{{id}}"): owned_item(
        "getPayment", "Get one of the caller's payments", item="payment", response=Payment
    ),
    ("GET", f"{BASE}/health"): health("payments"),
}


# -- contract v2 (/api/v2/payments): an amount is a money object; v1 above is deprecated --------------


class MoneyAmount(BaseModel):
    """An amount with its currency (v2)."""

    value: Money
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")]


class PaymentV2(BaseModel):
    """A payment, as its owner sees it (v2)."""

    id: Id
    amount: MoneyAmount
    purpose: str
    status: Literal["captured"]
    renewal_id: Id | None = Field(description="the passport renewal this payment is for, if any")
    created_at: datetime


class PaymentPageV2(BaseModel):
    """The caller's payments, newest first (v2)."""

    items: list[PaymentV2]
    next_cursor: str | None = Field(description=NEXT_CURSOR)


BASE_V2 = "/api/v2/payments"
OPERATIONS |= {
    ("POST", BASE_V2): Operation(
        operation_id="createPaymentV2",
        summary="Capture a payment (v2: the amount is a money object)",
        description=(
            "As `createPayment`, with `amount` a money object `{value, currency}`: `value` a decimal "
            "string with no more places than the currency's minor unit, `currency` an ISO 4217 code "
            "(required). With an `Idempotency-Key` a retry replays the first answer. Emits "
            "`PaymentCaptured`."
        ),
        request=CreatePaymentV2,
        examples={
            "fee": {"amount": {"value": "12.50", "currency": "USD"}, "purpose": "passport renewal fee"}
        },
        status=201,
        response=PaymentV2,
        response_description="The payment is captured.",
        location="the new payment: `/api/v2/payments/{id}`",
        idempotent=True,
        errors={422: "`amount.value` is not a decimal string, has too many places or is out of range."},
    ),
    ("GET", BASE_V2): listing(
        "listPaymentsV2",
        "List the caller's payments (v2)",
        items="payments",
        query=ListQuery,
        response=PaymentPageV2,
    ),
    ("GET", f"{BASE_V2}/{{id}}"): owned_item(
        "getPaymentV2", "Get one of the caller's payments (v2)", item="payment", response=PaymentV2
    ),
}
