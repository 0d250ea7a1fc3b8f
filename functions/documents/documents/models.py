"""The HTTP contract of the documents window (form fields and request bodies)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema, field_validator

from documents.domain import ALLOWED_TYPES, MAX_PRESIGNED_BYTES
from hmskit import ids
from hmskit.text import SINGLE_LINE

Kind = Literal["photo", "proof_of_identity", "other"]
# the renewal's id as the passport window minted it; a form field's surrounding spaces are no part of it
RenewalId = Annotated[ids.RenewalId, StringConstraints(strip_whitespace=True)]
Filename = Annotated[str, StringConstraints(max_length=255), SINGLE_LINE]


class UploadFields(BaseModel):
    """The text fields that may come with a multipart upload."""

    model_config = ConfigDict(extra="forbid")

    kind: Kind = "other"
    renewal_id: RenewalId | None = None

    @field_validator("renewal_id", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value


class StartUpload(BaseModel):
    """A presigned upload: what will be sent straight to the bucket."""

    model_config = ConfigDict(extra="forbid")

    content_type: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
        SINGLE_LINE,
        WithJsonSchema(
            {
                "type": "string",
                "enum": sorted(ALLOWED_TYPES),
                "description": "the type the bytes will be (case and parameters such as `; name=x` "
                "are ignored); anything else is 415",
            }
        ),
    ]
    size: int = Field(
        strict=True,
        gt=0,
        json_schema_extra={"maximum": MAX_PRESIGNED_BYTES},
        description=f"bytes; over {MAX_PRESIGNED_BYTES} is 413",
    )

    @field_validator("size", mode="before")
    @classmethod
    def _integral_number(cls, value: object) -> object:
        """A JSON number of integral value is an integer (JSON Schema), ``2400000.0`` included.

        The body is parsed with fractions as ``Decimal``; a bool or a string stays refused, and so does
        a number of more than 20 digits (``1e999999`` is never expanded)."""
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, Decimal) and value.is_finite() and value.adjusted() < 20:
            if value == value.to_integral_value():
                return int(value)
        return value

    filename: Filename | None = None
    kind: Kind = "other"
    renewal_id: RenewalId | None = None
