"""The documents window's HTTP contract, for ``docs/openapi.json`` (``hms template``).

Request bodies are the window's own models (``documents.models``; the upload form adds its file part
here); the answers are described here, field for field what ``documents.domain.Document.public`` and
the handler return. The handler never imports this module.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from documents import domain, photos
from documents.forms import FILE_FIELD, MAX_FIELD_BYTES, MAX_PARTS
from documents.models import Kind, StartUpload, UploadFields
from hmskit.apidoc import FORM, Header, Operation, health, owned_item
from hmskit.ids import ID_PATTERN

BASE = "/api/v1/docs"
DESCRIPTION = (
    "Citizens' documents (photos, proof of identity): PDF, JPEG or PNG only, judged by the file's "
    "first bytes, never by the type a client claims."
)
TYPES = sorted(domain.ALLOWED_TYPES)
MIB = 1024 * 1024

Id = Annotated[
    str, Field(pattern=ID_PATTERN.pattern, description="26 Crockford base32 characters, time-ordered")
]
ContentType = Annotated[str, WithJsonSchema({"type": "string", "enum": TYPES})]
Status = Annotated[
    str,
    WithJsonSchema(
        {
            "type": "string",
            "enum": [domain.PENDING, domain.AVAILABLE, domain.REJECTED],
            "description": "`pending` until a presigned upload is completed; `rejected` if it failed "
            "verification; `available` once the bytes are verified",
        }
    ),
]
NO_STORE = {"Cache-Control": Header("`no-store`: the answer holds a short-lived URL")}


# A PDF that is plain text: the upload example, and the only kind of file JSON Schema can describe.
PDF_EXAMPLE = (
    "%PDF-1.7\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
    "trailer<</Root 1 0 R>>\n%%EOF\n"
)
PHOTO_RULES = (
    f"a colour JPEG, square, {photos.PHOTO_MIN_PIXELS} x {photos.PHOTO_MIN_PIXELS} to "
    f"{photos.PHOTO_MAX_PIXELS} x {photos.PHOTO_MAX_PIXELS} pixels (README, photo rules)"
)


def _form_branches(schema: dict[str, Any]) -> None:
    """What ``file`` must be for each ``kind``; a form field is never null (an absent one is)."""
    schema["properties"]["renewal_id"] = {
        "type": "string",
        "pattern": rf"^\s*(?:{ID_PATTERN.pattern.strip('^$')}\s*)?$",  # the renewal id passport minted
        "description": "the passport renewal this document is for; a blank field is the same as none",
    }
    schema["anyOf"] = [
        {
            "description": "A document: the schema states the PDF form (a `%PDF-x.y` header); a PNG or "
            "JPEG whose header parses is accepted too (binary: JSON Schema cannot state its structure).",
            "properties": {
                "kind": {"enum": ["proof_of_identity", "other"]},
                "file": {"contentMediaType": photos.PDF, "pattern": r"^%PDF-[0-9]\.[0-9]"},
            },
        },
        {
            "description": f"A passport photo: {PHOTO_RULES}; each broken rule is named in a 422.",
            "required": ["kind"],
            "properties": {"kind": {"const": "photo"}, "file": {"contentMediaType": photos.JPEG}},
        },
    ]


class UploadForm(UploadFields):
    """``multipart/form-data``: exactly one file part named ``file``, and these optional text parts."""

    model_config = ConfigDict(json_schema_extra=_form_branches)

    file: Annotated[
        bytes,
        WithJsonSchema(
            {
                "type": "string",
                "minLength": 1,
                "description": "the document's bytes, at most "
                f"{domain.MAX_UPLOAD_BYTES // MIB} MiB: a PDF, PNG or JPEG whose header parses, judged "
                f"by its content (the part's own type is ignored); for `kind=photo` {PHOTO_RULES}",
            }
        ),
    ]


class Document(BaseModel):
    """A document's metadata, as its owner sees it."""

    id: Id
    filename: str = Field(description="the client's filename, made safe (ASCII letters, digits, `._-`)")
    size: int = Field(ge=1, description="bytes")
    content_type: ContentType
    sha256: str | None = Field(
        pattern=r"^[0-9a-f]{64}$", description="hex SHA-256 of the bytes; null while an upload is pending"
    )
    kind: Kind
    renewal_id: str | None = Field(description="the passport renewal this document is for, if any")
    status: Status
    created_at: datetime
    url: str = Field(description="where the bytes are kept: `s3://bucket/key` (not a download link)")


class PresignedPost(BaseModel):
    """An S3 presigned POST: send ``fields`` and then the file as ``multipart/form-data`` to ``url``."""

    url: str
    fields: dict[str, str]


class UploadStarted(Document):
    """The pending document and the form that uploads its bytes straight to the bucket."""

    upload: PresignedPost
    expires_in: int = Field(description="seconds the upload form stays valid")


class ContentLink(BaseModel):
    """Where to download the bytes (also the ``Location`` of the 302)."""

    url: str = Field(description="a presigned GET URL")
    expires_in: int = Field(description="seconds the URL stays valid")


OPERATIONS = {
    ("POST", BASE): Operation(
        operation_id="uploadDocument",
        summary="Upload a document (up to 5 MiB)",
        description=(
            f"A `multipart/form-data` body with exactly one file part named `{FILE_FIELD}` and the "
            f"optional text parts `kind` and `renewal_id` (at most {MAX_PARTS} parts, text parts at "
            f"most {MAX_FIELD_BYTES} bytes). The document is stored `available`, checksummed, and "
            "`DocumentUploaded` is emitted. Larger files use `POST /api/v1/docs/uploads`. With an "
            "`Idempotency-Key` a retry replays the first answer."
        ),
        request=UploadForm,
        media_type=FORM,
        encoding={FILE_FIELD: ", ".join(TYPES)},
        examples={"proof of identity": {"file": PDF_EXAMPLE, "kind": "proof_of_identity"}},
        status=201,
        response=Document,
        response_description="The document is stored.",
        location="the new document: `/api/v1/docs/{id}`",
        idempotent=True,
        errors={
            400: "A text part is repeated, over its size or not valid text.",
            413: f"The file is over {domain.MAX_UPLOAD_BYTES // MIB} MiB.",
            415: "The file is not a PDF, JPEG or PNG (by its content).",
            422: "The `file` part is missing, there is more than one file, or the file is empty.",
            503: "The object store is unavailable.",
        },
    ),
    ("POST", f"{BASE}/uploads"): Operation(
        operation_id="startUpload",
        summary="Start a large upload (presigned, up to 100 MiB)",
        description=(
            "Records a `pending` document and answers an S3 presigned POST bound to exactly that "
            "size and type. Upload the bytes there, then `POST /api/v1/docs/uploads/{id}/complete`. "
            "With an `Idempotency-Key` a retry replays the first answer."
        ),
        request=StartUpload,
        examples={
            "photo": {"content_type": "image/png", "size": 2400000, "filename": "me.png", "kind": "photo"}
        },
        status=201,
        response=UploadStarted,
        response_description="The document is pending; the bytes go to `upload.url`.",
        location="the pending document: `/api/v1/docs/{id}`",
        headers=NO_STORE,
        idempotent=True,
        errors={
            413: f"`size` is over {domain.MAX_PRESIGNED_BYTES // MIB} MiB.",
            415: "`content_type` is not application/pdf, image/jpeg or image/png.",
        },
    ),
    ("POST", f"{BASE}/uploads/{{id}}/complete"): Operation(
        operation_id="completeUpload",
        summary="Complete a large upload",
        description=(
            "Verifies the uploaded object (size, type by its first bytes, SHA-256) and makes the "
            "document `available` (emitting `DocumentUploaded`); an upload that fails verification "
            "is discarded and the document `rejected`. Completing an available document again "
            "answers it unchanged."
        ),
        params={"id": "the pending document's id"},
        response=Document,
        response_description="The document is available.",
        errors={
            404: "No document with this id belongs to the caller.",
            409: "Nothing was uploaded yet, the upload changed while it was verified, or the "
            "document was already rejected.",
            422: "The upload does not match the declared size or type: it was discarded.",
            503: "The object store is unavailable.",
        },
    ),
    ("GET", f"{BASE}/{{id}}"): owned_item(
        "getDocument", "Get one of the caller's documents", item="document", response=Document
    ),
    ("GET", f"{BASE}/{{id}}/content"): Operation(
        operation_id="getDocumentContent",
        summary="Download a document",
        description=(
            f"Redirects to a presigned GET URL of the bytes, valid {domain.URL_TTL_SECONDS // 60} minutes."
        ),
        params={"id": "the document's id"},
        status=302,
        response=ContentLink,
        response_description="Found: the bytes are at `Location`.",
        location="the presigned GET URL (the same as `url`)",
        headers=NO_STORE,
        errors={
            404: "No document with this id belongs to the caller.",
            409: "The document is pending or rejected: it has no bytes to serve.",
            503: "The object store is unavailable.",
        },
    ),
    ("GET", f"{BASE}/health"): health("documents"),
}
