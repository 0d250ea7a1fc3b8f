"""The HTTP contract of the documents window (form fields and request bodies)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from hmskit.text import SINGLE_LINE

Kind = Literal["photo", "proof_of_identity", "other"]
RenewalId = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9_-]{1,64}$")]
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
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), SINGLE_LINE
    ]
    size: int = Field(strict=True, gt=0)
    filename: Filename | None = None
    kind: Kind = "other"
    renewal_id: RenewalId | None = None
