"""The HTTP contract of the passport window: the renewal request body.

Strict: exactly these fields, anything else is refused (422 naming it), so a typo such as
``pasport_number`` never silently drops data. JSON types as declared: a string is never a number,
a boolean is ``true``/``false`` (not ``"true"`` or ``1``), dates are ISO ``YYYY-MM-DD`` strings only
(no timestamps, no times, no ``20200101``). Surrounding whitespace of text is ignored.

- ``passport_number``: 6 to 9 letters or digits, stored upper-case (``ab123456`` -> ``AB123456``);
- ``mailing_address.country``: an ISO 3166-1 alpha-2 code, upper-cased (``gb`` -> ``GB``);
- ``mailing_address.postal_code``: letters, digits, spaces and dashes, upper-cased;
- ``name_change_document_ids``: ids of documents uploaded to the documents window (at most 10).

Whether the applicant may renew (age, passport age, expiry, name changes, damage) is not checked
here: eligibility decides, with the same field names.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)

from hmskit.ids import ID_PATTERN, is_id
from hmskit.text import NONBLANK_LINE, SINGLE_LINE
from passport.countries import COUNTRIES
from passport.domain import Address, Application

MAX_NAME_CHANGE_DOCUMENTS = 10

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_PASSPORT_NUMBER = re.compile(r"[A-Z0-9]{6,9}")
# an e-mail part: no @, no space, no control character (the field's JSON Schema says the same)
_EMAIL_PART = r"[^@\s\u0000-\u001f\u007f-\u009f\u2028\u2029]"
_POSTAL_CODE = re.compile(r"[A-Z0-9][A-Z0-9 -]{0,14}[A-Z0-9]|[A-Z0-9]")


def _iso_date(value: object) -> date:
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValueError("must be an ISO 8601 date string, YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value} is not a calendar date") from None


def _passport_number(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    number = value.strip().upper()
    if not _PASSPORT_NUMBER.fullmatch(number):
        raise ValueError("must be 6 to 9 letters or digits")
    return number


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
PassportNumber = Annotated[
    str,
    BeforeValidator(_passport_number),
    WithJsonSchema({"type": "string", "pattern": r"^\s*[A-Za-z0-9]{6,9}\s*$"}),
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NONBLANK_LINE]
Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), NONBLANK_LINE]
PostalCode = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_upper=True, max_length=16),
    SINGLE_LINE,
    WithJsonSchema({"type": "string", "pattern": r"^[A-Za-z0-9](?:[A-Za-z0-9 -]{0,14}[A-Za-z0-9])?$"}),
]
Country = Annotated[
    str,
    WithJsonSchema(
        {"type": "string", "enum": sorted(COUNTRIES), "description": "ISO 3166-1 alpha-2 (lower case too)"}
    ),
]
DocumentId = Annotated[str, WithJsonSchema({"type": "string", "pattern": ID_PATTERN.pattern})]
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=3,
        max_length=254,
        pattern=rf"^{_EMAIL_PART}+@{_EMAIL_PART}+\.{_EMAIL_PART}+$",
    ),
    SINGLE_LINE,
]


class MailingAddress(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    line1: Line
    line2: Line | None = None
    city: Line
    state: Line
    postal_code: PostalCode
    country: Country

    @field_validator("postal_code")
    @classmethod
    def _postal_code(cls, value: str) -> str:
        if not _POSTAL_CODE.fullmatch(value):
            raise ValueError("must be 1 to 16 letters, digits, spaces or dashes")
        return value

    @field_validator("country")
    @classmethod
    def _iso_3166(cls, value: str) -> str:
        code = value.strip().upper()
        if code not in COUNTRIES:
            raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
        return code

    def to_address(self) -> Address:
        return Address(
            line1=self.line1,
            line2=self.line2,
            city=self.city,
            state=self.state,
            postal_code=self.postal_code,
            country=self.country,
        )


class SubmitRenewal(BaseModel):
    """``POST /api/v1/renewals``. Unknown fields are refused (422), never ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    full_name: Name
    date_of_birth: IsoDate
    passport_number: PassportNumber
    passport_issued_on: IsoDate
    passport_expires_on: IsoDate
    mailing_address: MailingAddress
    email: Email | None = None
    name_on_passport: Name | None = None
    name_change_document_ids: list[DocumentId] | None = Field(
        default=None, max_length=MAX_NAME_CHANGE_DOCUMENTS
    )
    passport_damaged: StrictBool = False
    passport_lost_or_stolen: StrictBool = False

    @field_validator("name_change_document_ids")
    @classmethod
    def _document_ids(cls, value: list[str] | None) -> list[str] | None:
        for i, doc_id in enumerate(value or ()):
            if not is_id(doc_id):
                raise ValueError(
                    f"item {i}: {doc_id!r} is not a document id (26 Crockford base32 characters)"
                )
        return value

    def to_application(self) -> Application:
        return Application(
            full_name=self.full_name,
            date_of_birth=self.date_of_birth,
            passport_issued_on=self.passport_issued_on,
            passport_expires_on=self.passport_expires_on,
            name_on_passport=self.name_on_passport,
            name_change_document_ids=(
                None if self.name_change_document_ids is None else tuple(self.name_change_document_ids)
            ),
            passport_damaged=self.passport_damaged,
            passport_lost_or_stolen=self.passport_lost_or_stolen,
        )
