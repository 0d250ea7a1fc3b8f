"""The passport window's HTTP contract, for ``docs/openapi.json`` (``hms template``).

The request body is the window's own model (``passport.models.SubmitRenewal``); the answers are
described here, field for field what ``passport.domain.Renewal.public`` and the handler return. The
handler never imports this module.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, Field, WithJsonSchema

from hmskit.apidoc import NEXT_CURSOR, Operation, health, listing, owned_item
from hmskit.cursors import CURSOR_PATTERN
from hmskit.ids import ID_PATTERN
from passport import domain
from passport.models import MAX_NAME_CHANGE_DOCUMENTS, SubmitRenewal

BASE = "/api/v1/renewals"
DESCRIPTION = (
    "Passport renewals: submitted once eligibility allows them, then moved to `ready_for_review` by "
    "the fee's payment and the photo's upload (in either order). Only a payment of exactly the "
    "renewal's `fee` (amount and currency) pays it."
)
# What the handler parses by hand (passport.handler.list_renewals): kept equal by a contract test.
DEFAULT_LIMIT, MAX_LIMIT, MAX_CURSOR = 20, 100, 512

Id = Annotated[
    str, Field(pattern=ID_PATTERN.pattern, description="26 Crockford base32 characters, time-ordered")
]
Status = Annotated[
    str,
    WithJsonSchema(
        {
            "type": "string",
            "enum": list(domain.STATUSES),
            "description": "`submitted`, then `paid` or `photo_received`, then `ready_for_review` "
            "once both the fee is paid and the photo uploaded",
        }
    ),
]


class ListQuery(BaseModel):
    """The query of ``GET /api/v1/renewals`` (parsed by hand in the handler: a GET skips pydantic)."""

    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(default=None, max_length=MAX_CURSOR, pattern=CURSOR_PATTERN)


class Address(BaseModel):
    """The mailing address, as stored (postal code and country upper-cased)."""

    line1: str
    line2: str | None
    city: str
    state: str
    postal_code: str
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")


class Fee(BaseModel):
    """The renewal fee (the window's setting, the same for every renewal)."""

    amount: str = Field(
        pattern=r"^[0-9]{1,9}(\.[0-9]{1,3})?$",
        description="a decimal string with the currency's minor-unit places (`130.00`), never a float",
    )
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")


class Renewal(BaseModel):
    """A renewal, as its owner sees it. The passport number is masked: the full number never leaves."""

    id: Id
    status: Status
    fee: Fee = Field(
        description="what to pay: one payment (`POST /api/v1/payments`) of exactly this amount and "
        "currency, with this renewal's id as `renewal_id`, moves it on; a payment of any other "
        "amount or currency is ignored (the renewal keeps waiting for the fee)"
    )
    full_name: str
    date_of_birth: date
    passport_number: str = Field(
        pattern=r"^\*{2,5}[A-Z0-9]{4}$", description="masked: every character but the last 4 is `*`"
    )
    passport_issued_on: date
    passport_expires_on: date
    mailing_address: Address
    email: str | None = Field(description="where notifications go: the body's, else the token's")
    name_on_passport: str | None
    name_change_document_ids: list[Id] = Field(max_length=MAX_NAME_CHANGE_DOCUMENTS)
    eligibility_checked_on: date = Field(description="the day eligibility allowed the renewal")
    payment_id: Id | None = Field(description="the payment of the fee (the payments window's id)")
    photo_document_id: Id | None = Field(description="the photo (the documents window's id)")
    submitted_at: datetime
    updated_at: datetime
    paid_at: datetime | None
    photo_received_at: datetime | None
    ready_for_review_at: datetime | None


class RenewalPage(BaseModel):
    """The caller's renewals, newest first."""

    items: list[Renewal]
    next_cursor: str | None = Field(description=NEXT_CURSOR)


OPERATIONS = {
    ("POST", BASE): Operation(
        operation_id="submitRenewal",
        summary="Submit a passport renewal",
        description=(
            "Strict: exactly these fields (an unknown one is 422), JSON types as declared, dates as "
            "`YYYY-MM-DD` strings. `passport_number` is 6 to 9 letters or digits; "
            "`mailing_address.country` an ISO 3166-1 alpha-2 code; `name_change_document_ids` are "
            "ids of documents uploaded to the documents window. The dates must agree (else 422): "
            "`date_of_birth` and `passport_issued_on` are not in the future, `passport_issued_on` is "
            "not before `date_of_birth`, and `passport_expires_on` is after `passport_issued_on` "
            "(JSON Schema cannot compare two fields, so this is said here). "
            "The eligibility window is asked "
            "first, with the caller's own token; nothing is stored unless it allows the renewal. "
            "Then the renewal is stored and `RenewalSubmitted` emitted. With an `Idempotency-Key` a "
            "retry replays the first answer."
        ),
        request=SubmitRenewal,
        examples={
            "renewal": {
                "full_name": "Alice Example",
                "date_of_birth": "1990-04-01",
                "passport_number": "AB1234567",
                "passport_issued_on": "2017-03-01",
                "passport_expires_on": "2027-03-01",
                "mailing_address": {
                    "line1": "1 High Street",
                    "city": "Springfield",
                    "state": "IL",
                    "postal_code": "62701",
                    "country": "US",
                },
                "email": "alice@example.org",
            }
        },
        status=202,
        response=Renewal,
        response_description="Accepted: the renewal is `submitted`; payment and photo move it on.",
        location="the new renewal: `/api/v1/renewals/{id}`",
        idempotent=True,
        errors={
            403: "Eligibility refused the renewal (`renewal-not-eligible`, with `reasons`: "
            "`[{code, message}]`), or refused the caller's token (`eligibility-forbidden`).",
            422: "Eligibility found the application itself invalid, e.g. dates that contradict each "
            "other (`renewal-invalid`, with `errors`).",
            502: "Eligibility answered something that is not a decision (`upstream_window`).",
            503: "Eligibility is unreachable or over its limit (`upstream_window`).",
            504: "Eligibility did not answer in time (`upstream_window`).",
        },
    ),
    ("GET", BASE): listing(
        "listRenewals", "List the caller's renewals", items="renewals", query=ListQuery, response=RenewalPage
    ),
    ("GET", f"{BASE}/{{id}}"): owned_item(
        "getRenewal",
        "Get one of the caller's renewals",
        item="renewal",
        response=Renewal,
        description=(
            "The renewal and its `status`, with the `fee` to pay: a payment of exactly that amount "
            "and currency naming the renewal (`renewal_id`) moves it to `paid` (or, after the photo, "
            "to `ready_for_review`). A payment of any other amount or currency does not."
        ),
    ),
    ("GET", f"{BASE}/health"): health("passport"),
}
