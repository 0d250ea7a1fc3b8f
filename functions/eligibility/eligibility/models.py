"""The HTTP contract of the eligibility window: the check request body.

Strict: exactly these fields (the passport window sends nothing else), JSON types as declared (a
bool is ``true``/``false``, never ``"true"`` or ``1``), dates as ISO ``YYYY-MM-DD`` strings only
(no timestamps, no ``20200101``, no times). The model must be validated from the JSON text
(``model_validate_json``): in strict mode a Python ``str`` is not a ``date``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema

from eligibility.rules import Application
from hmskit.ids import ID_PATTERN, is_id
from hmskit.text import NONBLANK_LINE

MAX_NAME_CHANGE_DOCUMENTS = 10


def _document_id(value: str) -> str:
    if not is_id(value):
        raise ValueError("not a document id (26 Crockford base32 characters)")
    return value


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NONBLANK_LINE]
DocumentId = Annotated[
    str, AfterValidator(_document_id), WithJsonSchema({"type": "string", "pattern": ID_PATTERN.pattern})
]


class CheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    full_name: Name
    date_of_birth: date
    passport_issued_on: date
    passport_expires_on: date
    name_on_passport: Name | None = None
    name_change_document_ids: list[DocumentId] | None = Field(
        default=None, max_length=MAX_NAME_CHANGE_DOCUMENTS
    )
    passport_damaged: bool = False
    passport_lost_or_stolen: bool = False

    def to_application(self) -> Application:
        return Application(
            full_name=self.full_name,
            date_of_birth=self.date_of_birth,
            passport_issued_on=self.passport_issued_on,
            passport_expires_on=self.passport_expires_on,
            name_on_passport=self.name_on_passport,
            name_change_document_ids=tuple(self.name_change_document_ids or ()),
            passport_damaged=self.passport_damaged,
            passport_lost_or_stolen=self.passport_lost_or_stolen,
        )
