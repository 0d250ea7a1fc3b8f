"""An upload is structurally the type it claims; a passport photo meets the published photo rules.

Through the documents domain (inline upload and presigned completion, with the in-memory adapters)
and through the handler (the 415 and 422 answers), plus the header parsers on their own.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import pytest
from helpers import http_event
from images import PASSPORT_PHOTO, jpeg, pdf, png
from support.documents import InMemoryDocumentRepository, InMemoryObjectStore

from documents import domain, photos
from documents.photos import FileStructureError, PhotoRuleError, Structure

PNG_SIGNATURE_ONLY = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC_ONLY = b"\xff\xd8\xff\xe0" + b"\x00" * 64


# -- the parsers ------------------------------------------------------------------------------------
def test_a_real_png_parses_with_its_dimensions() -> None:
    assert photos.inspect(png(3, 2), photos.PNG) == Structure(photos.PNG, 3, 2)


def test_a_real_jpeg_parses_with_its_dimensions_and_components() -> None:
    assert photos.inspect(jpeg(640, 480), photos.JPEG) == Structure(photos.JPEG, 640, 480, 3)


def test_a_jpeg_frame_header_after_large_app_segments_is_found() -> None:
    data = jpeg(800, 800, exif=b"\x00" * 60_000)

    assert photos.inspect(data, photos.JPEG).width == 800


@pytest.mark.parametrize(
    ("data", "ctype", "reason"),
    [
        (PNG_SIGNATURE_ONLY, photos.PNG, "ends before its IHDR"),
        (PNG_SIGNATURE_ONLY + b"\x00" * 64, photos.PNG, "13-byte IHDR"),
        (png(2, 2)[:29] + b"\x00\x00\x00\x00" + png(2, 2)[33:], photos.PNG, "CRC"),
        (JPEG_MAGIC_ONLY, photos.JPEG, "malformed"),
        (b"\xff\xd8\xff\xd9", photos.JPEG, "no frame header"),
        (b"\xff\xd8", photos.JPEG, "no frame header"),
        (jpeg(0, 600), photos.JPEG, "dimensions 0 x 600"),
        (b"%PDF-x", photos.PDF, "version header"),
    ],
    ids=[
        "png-signature-only",
        "png-no-ihdr",
        "png-bad-crc",
        "jpeg-magic-only",
        "jpeg-no-sof",
        "jpeg-soi-only",
        "jpeg-zero-width",
        "pdf-bad-header",
    ],
)
def test_a_header_that_does_not_parse_is_a_structure_error(data: bytes, ctype: str, reason: str) -> None:
    with pytest.raises(FileStructureError, match=reason):
        photos.inspect(data, ctype)


def test_a_png_with_zero_width_is_refused() -> None:
    body = struct.pack(">IIBBBBB", 0, 5, 8, 0, 0, 0, 0)
    import zlib

    data = (
        PNG_SIGNATURE_ONLY
        + struct.pack(">I", 13)
        + b"IHDR"
        + body
        + struct.pack(">I", zlib.crc32(b"IHDR" + body))
    )

    with pytest.raises(FileStructureError, match="0 x 5"):
        photos.inspect(data, photos.PNG)


def test_a_prefix_that_stops_before_the_frame_header_says_how_much_was_read() -> None:
    data = jpeg(600, 600, exif=b"\x00" * 2000)[:1000]

    with pytest.raises(FileStructureError, match="first 1000 bytes"):
        photos.inspect(data, photos.JPEG, complete=False)


# -- the photo rules --------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [600, 900, 1200])
def test_a_square_colour_jpeg_from_600_to_1200_pixels_is_a_passport_photo(size: int) -> None:
    assert photos.check(jpeg(size, size), photos.JPEG, kind="photo").width == size


@pytest.mark.parametrize(
    ("data", "ctype", "rules"),
    [
        (png(600, 600), photos.PNG, ("photo-jpeg",)),
        (jpeg(600, 800), photos.JPEG, ("photo-square",)),
        (jpeg(599, 599), photos.JPEG, ("photo-min",)),
        (jpeg(1201, 1201), photos.JPEG, ("photo-max",)),
        (jpeg(600, 600, components=1), photos.JPEG, ("photo-color",)),
        (jpeg(300, 200, components=1), photos.JPEG, ("photo-color", "photo-square", "photo-min")),
        (pdf(), photos.PDF, ("photo-jpeg",)),
    ],
)
def test_each_broken_photo_rule_is_named(data: bytes, ctype: str, rules: tuple[str, ...]) -> None:
    with pytest.raises(PhotoRuleError) as caught:
        photos.check(data, ctype, kind="photo")

    assert caught.value.rules == rules
    for rule in rules:
        assert rule in str(caught.value)


def test_the_photo_rules_apply_to_photos_only() -> None:
    assert photos.check(png(1, 1), photos.PNG, kind="other").height == 1
    assert photos.check(jpeg(40, 30), photos.JPEG, kind="proof_of_identity").width == 40


def test_the_readme_pins_the_photo_rules() -> None:
    from helpers import ROOT

    readme = (ROOT / "README.md").read_text()
    for rule in ("photo-jpeg", "photo-color", "photo-square", "photo-min", "photo-max"):
        assert rule in readme
    assert "600 x 600" in readme and "1200 x 1200" in readme


# -- through the domain: inline upload --------------------------------------------------------------
def _upload(data: bytes, kind: str = "photo") -> domain.Document:
    return domain.upload_document(
        InMemoryDocumentRepository(),
        InMemoryObjectStore(),
        owner="alice",
        upload=domain.Upload("me.jpg", data),
        kind=kind,
        renewal_id=None,
        limits=domain.Limits(),
        new_id=lambda: "01JDOC0000000000000000000A",
        now_iso=lambda: "2026-01-01T00:00:00Z",
    )


def test_a_file_that_is_only_the_png_signature_is_not_accepted_inline() -> None:
    with pytest.raises(domain.UnsupportedDocumentTypeError, match="IHDR"):
        _upload(PNG_SIGNATURE_ONLY, kind="other")


def test_a_jpeg_with_only_its_magic_bytes_is_not_accepted_inline() -> None:
    with pytest.raises(domain.UnsupportedDocumentTypeError, match="JPEG"):
        _upload(JPEG_MAGIC_ONLY, kind="other")


def test_an_inline_photo_breaking_a_rule_is_rejected_naming_it() -> None:
    with pytest.raises(domain.UploadRejectedError, match="photo-square"):
        _upload(jpeg(600, 700))


def test_an_inline_passport_photo_that_meets_the_rules_is_stored() -> None:
    assert _upload(PASSPORT_PHOTO).status == domain.AVAILABLE


# -- through the domain: presigned completion (the object read back from the store) ------------------
def _complete(data: bytes, *, declared: str, kind: str = "photo") -> tuple[Any, Any, str]:
    repo, objects = InMemoryDocumentRepository(), InMemoryObjectStore()
    doc, _ = domain.start_upload(
        repo,
        objects,
        owner="alice",
        content_type=declared,
        size=len(data),
        filename="me",
        kind=kind,
        renewal_id=None,
        limits=domain.Limits(),
        new_id=lambda: "01JDOC0000000000000000000B",
        now_iso=lambda: "2026-01-01T00:00:00Z",
    )
    objects.stage(doc.id, data)
    return repo, objects, doc.id


def test_a_presigned_png_signature_only_is_rejected_on_completion() -> None:
    repo, objects, doc_id = _complete(PNG_SIGNATURE_ONLY, declared="image/png", kind="other")

    with pytest.raises(domain.UploadRejectedError, match="IHDR"):
        domain.complete_upload(repo, objects, owner="alice", doc_id=doc_id)
    assert repo.get("alice", doc_id).status == domain.REJECTED


@pytest.mark.parametrize(
    ("data", "declared", "rule"),
    [(jpeg(1300, 1300), "image/jpeg", "photo-max"), (png(600, 600), "image/png", "photo-jpeg")],
)
def test_a_presigned_photo_breaking_a_rule_is_rejected_on_completion(
    data: bytes, declared: str, rule: str
) -> None:
    repo, objects, doc_id = _complete(data, declared=declared)

    with pytest.raises(domain.UploadRejectedError, match=rule):
        domain.complete_upload(repo, objects, owner="alice", doc_id=doc_id)
    assert repo.get("alice", doc_id).status == domain.REJECTED


def test_a_presigned_passport_photo_that_meets_the_rules_becomes_available() -> None:
    repo, objects, doc_id = _complete(PASSPORT_PHOTO, declared="image/jpeg")

    assert domain.complete_upload(repo, objects, owner="alice", doc_id=doc_id).status == domain.AVAILABLE


# -- through the handler: the answers ---------------------------------------------------------------
def _multipart(data: bytes, kind: str) -> tuple[bytes, str]:
    boundary = "hmsboundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\n{kind}\r\n'.encode(),
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="me.jpg"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + data
        + b"\r\n",
        f"--{boundary}--\r\n".encode(),
    ]
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _post_upload(data: bytes, kind: str) -> dict[str, Any]:
    from support.kit import FakeClock

    from documents.bootstrap import Deps
    from documents.handler import handle
    from hmskit.context import LocalContext
    from hmskit.settings import WindowSettings

    class PassThrough:
        def run(self, *, compute: Any, **_: Any) -> Any:
            return compute()

    deps = Deps(
        settings=WindowSettings(window="documents", table_name="unused", max_body_bytes=6 * 1024 * 1024),
        documents=InMemoryDocumentRepository(),
        objects=InMemoryObjectStore(),
        rate_limiter=None,
        idempotency=PassThrough(),  # type: ignore[arg-type]
        clock=FakeClock(),
    )
    body, ctype = _multipart(data, kind)
    event = http_event("POST", "/api/v1/docs", body=body, content_type=ctype)
    event["body"] = __import__("base64").b64encode(body).decode()
    event["isBase64Encoded"] = True
    return handle(event, LocalContext(), deps)


def test_the_png_signature_alone_is_answered_415_naming_the_broken_header() -> None:
    result = _post_upload(PNG_SIGNATURE_ONLY, "photo")

    assert result["statusCode"] == 415
    assert "IHDR" in json.loads(result["body"])["detail"]


def test_a_photo_breaking_a_rule_is_answered_422_naming_the_rule() -> None:
    result = _post_upload(jpeg(640, 480), "photo")

    assert result["statusCode"] == 422
    problem = json.loads(result["body"])
    assert problem["status"] == 422 and "photo-square" in problem["detail"]


def test_a_passport_photo_is_answered_201() -> None:
    assert _post_upload(PASSPORT_PHOTO, "photo")["statusCode"] == 201
