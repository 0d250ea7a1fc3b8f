"""``multipart/form-data`` bodies, parsed with the ``multipart`` library (never by hand).

A form carries exactly one file, in the field ``file``, and a few short text fields. The body is
already in memory and size-checked by the kit, so parts stay in memory too.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

FILE_FIELD = "file"
MAX_PARTS = 16
MAX_FIELD_BYTES = 1024


class FormError(Exception):
    """The body is not a usable upload form."""


class NotMultipartError(FormError):
    """The request is not ``multipart/form-data``."""


class MalformedFormError(FormError):
    """The multipart body cannot be parsed."""


class MissingFileError(FormError):
    """The form has no ``file`` field."""


class TooManyFilesError(FormError):
    """The form carries more than one file."""


@dataclass(frozen=True)
class UploadForm:
    filename: str | None
    data: bytes
    fields: dict[str, str]


def parse_upload(content_type: str | None, body: bytes) -> UploadForm:
    from multipart import MultipartError, MultipartParser, parse_options_header  # ~1.5 ms, uploads only

    mime, options = parse_options_header(content_type or "")
    if mime.lower() != "multipart/form-data":
        raise NotMultipartError(f"expected Content-Type multipart/form-data, got {mime or 'none'}")
    boundary = options.get("boundary")
    if not boundary:
        raise MalformedFormError("the multipart Content-Type has no boundary")
    budget = len(body) + 1024
    try:
        parser = MultipartParser(
            io.BytesIO(body),
            boundary,
            content_length=len(body),
            part_limit=MAX_PARTS,
            spool_limit=budget,
            memory_limit=budget,
        )
        parts = parser.parts()
    except MultipartError as exc:
        raise MalformedFormError(f"the multipart body is malformed: {exc}") from exc
    files = [p for p in parts if p.filename is not None or p.name == FILE_FIELD]
    if len(files) > 1:
        raise TooManyFilesError(f"send exactly one file; the form carries {len(files)}")
    if not files or files[0].name != FILE_FIELD:
        raise MissingFileError(f"the form has no file field named {FILE_FIELD!r}")
    fields: dict[str, str] = {}
    for part in parts:
        if part is files[0]:
            continue
        if part.name in fields:
            raise MalformedFormError(f"the field {part.name!r} is given twice")
        if part.size > MAX_FIELD_BYTES:
            raise MalformedFormError(f"the field {part.name!r} is over {MAX_FIELD_BYTES} bytes")
        try:
            fields[part.name] = part.value
        except UnicodeDecodeError as exc:
            raise MalformedFormError(f"the field {part.name!r} is not valid text") from exc
    return UploadForm(filename=files[0].filename, data=files[0].raw, fields=fields)
