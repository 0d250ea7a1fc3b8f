"""The documents handler end to end on in-memory fakes: payload 2.0 events in, problem+json out."""

from __future__ import annotations

import json
from typing import Any

import images
import pytest
from helpers import body_of, http_event
from support.documents import InMemoryDocumentRepository, InMemoryObjectStore
from support.kit import FakeClock

from documents import handler
from documents.adapters import doc_key, upload_key
from documents.bootstrap import FORM_OVERHEAD_BYTES, Deps, window_settings
from documents.domain import Limits
from hmskit.context import LocalContext
from hmskit.idempotency import Idempotency
from hmskit.settings import WindowSettings

BASE = "/api/v1/docs"
PNG = images.png(4, 4)  # real headers: an upload must be structurally what it claims
JPEG = images.jpeg(8, 8)
PDF = b"%PDF-1.7\n" + b"x" * 64
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 64
BOUNDARY = "----hms-test-boundary"


def multipart(
    files: list[tuple[str, str, bytes, str]] | None = None,
    fields: dict[str, str] | None = None,
    boundary: str = BOUNDARY,
) -> bytes:
    """A multipart/form-data body: files as (field, filename, bytes, content type)."""
    out = b""
    for name, value in (fields or {}).items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    for name, filename, data, ctype in files or []:
        out += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: {ctype}\r\n\r\n"
        ).encode()
        out += data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def form_event(body: bytes, *, sub: str | None = "alice", content_type: str | None = None) -> dict[str, Any]:
    return http_event(
        "POST",
        BASE,
        body=body,
        sub=sub,
        scopes=["docs.write"],
        content_type=content_type or f"multipart/form-data; boundary={BOUNDARY}",
    )


class Window:
    """The handler with fakes behind it."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.repo = InMemoryDocumentRepository()
        self.objects = InMemoryObjectStore(bucket="docs-bucket")
        settings = WindowSettings(window="documents", table_name="unused", bucket_name="docs-bucket")
        self.deps = Deps(
            settings=window_settings(settings, self.limits),
            documents=self.repo,
            objects=self.objects,
            rate_limiter=None,
            idempotency=Idempotency(None, "unused", ttl_seconds=60, scope="documents"),
            limits=self.limits,
            clock=FakeClock(),
        )

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        return handler.handle(event, LocalContext(), self.deps)

    def upload(self, data: bytes, *, sub: str = "alice", **fields: str) -> dict[str, Any]:
        result = self(form_event(multipart([("file", "x.bin", data, "text/plain")], fields), sub=sub))
        assert result["statusCode"] == 201, result["body"]
        return body_of(result)  # type: ignore[no-any-return]


@pytest.fixture
def window() -> Window:
    return Window()


def problem(result: dict[str, Any], status: int) -> dict[str, Any]:
    assert result["statusCode"] == status, result["body"]
    assert result["headers"]["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = json.loads(result["body"])
    assert body["status"] == status
    return body


@pytest.mark.parametrize(
    ("data", "lie", "expected"),
    [
        (PNG, "application/pdf", "image/png"),
        (JPEG, "image/png", "image/jpeg"),
        (PDF, "image/jpeg", "application/pdf"),
    ],
)
def test_an_upload_is_typed_by_its_magic_bytes_whatever_content_type_the_client_claims(
    window: Window, data: bytes, lie: str, expected: str
) -> None:
    result = window(form_event(multipart([("file", "scan.png", data, lie)], {"kind": "proof_of_identity"})))

    assert result["statusCode"] == 201, result["body"]
    body = body_of(result)
    assert body["content_type"] == expected
    assert body["size"] == len(data)
    assert body["kind"] == "proof_of_identity"
    assert body["status"] == "available"
    assert body["url"] == f"s3://docs-bucket/docs/{body['id']}"
    assert result["headers"]["Location"] == f"{BASE}/{body['id']}"
    assert window.objects.objects[doc_key(body["id"])] == (data, expected)


def test_the_owner_is_the_token_subject_and_a_forged_user_header_is_ignored(window: Window) -> None:
    event = form_event(multipart([("file", "a.pdf", PDF, "application/pdf")]), sub="alice")
    event["headers"]["x-hms-user"] = "mallory"

    doc = body_of(window(event))

    assert window.repo.get("alice", doc["id"]) is not None
    assert window.repo.get("mallory", doc["id"]) is None


def test_renewal_id_and_kind_are_kept_with_the_document(window: Window) -> None:
    doc = window.upload(images.PASSPORT_PHOTO, kind="photo", renewal_id="01JD2X7Q4T5S8P1K6H3F9D2B7A")

    stored = window.repo.get("alice", doc["id"])
    assert stored is not None and (stored.kind, stored.renewal_id) == ("photo", "01JD2X7Q4T5S8P1K6H3F9D2B7A")


@pytest.mark.parametrize("data", [EXE, b"hello, I am a text file\n", b"<svg xmlns='x'/>"])
def test_an_executable_or_text_file_is_refused_with_415_even_when_it_claims_to_be_a_pdf(
    window: Window, data: bytes
) -> None:
    result = window(form_event(multipart([("file", "invoice.pdf", data, "application/pdf")])))

    problem(result, 415)
    assert window.objects.objects == {}


def test_a_file_over_the_limit_is_refused_with_413() -> None:
    window = Window(Limits(max_upload_bytes=len(PNG) - 1))

    problem(window(form_event(multipart([("file", "big.png", PNG, "image/png")]))), 413)
    assert window.objects.objects == {}


def test_a_body_far_over_the_limit_is_refused_with_413_before_it_is_parsed() -> None:
    window = Window(Limits(max_upload_bytes=1024))
    huge = PNG + b"\x00" * (1024 + FORM_OVERHEAD_BYTES)

    problem(window(form_event(multipart([("file", "big.png", huge, "image/png")]))), 413)


def test_the_default_limit_is_five_megabytes(window: Window) -> None:
    exactly = PNG + b"\x00" * (5 * 1024 * 1024 - len(PNG))
    over = exactly + b"\x00"

    assert window(form_event(multipart([("file", "ok.png", exactly, "image/png")])))["statusCode"] == 201
    problem(window(form_event(multipart([("file", "no.png", over, "image/png")]))), 413)


def test_a_form_without_a_file_field_is_refused_with_422(window: Window) -> None:
    body = problem(window(form_event(multipart([], {"kind": "photo"}))), 422)
    assert "file" in body["detail"]


def test_a_file_in_another_field_is_not_taken_for_the_file(window: Window) -> None:
    problem(window(form_event(multipart([("document", "a.png", PNG, "image/png")]))), 422)


def test_two_files_are_refused_with_422(window: Window) -> None:
    files = [("file", "a.png", PNG, "image/png"), ("file", "b.png", PNG, "image/png")]

    problem(window(form_event(multipart(files))), 422)
    assert window.objects.objects == {}


def test_an_empty_file_is_refused_with_422(window: Window) -> None:
    problem(window(form_event(multipart([("file", "empty.png", b"", "image/png")]))), 422)


def test_a_body_that_is_not_multipart_is_refused_with_415(window: Window) -> None:
    problem(window(form_event(PNG, content_type="image/png")), 415)
    problem(window(http_event("POST", BASE, body={"file": "x"}, scopes=["docs.write"])), 415)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", multipart([("file", "a.png", PNG, "image/png")])),  # no boundary
        (f"multipart/form-data; boundary={BOUNDARY}", b"--" + BOUNDARY.encode() + b"\r\ngarbage"),
        (f"multipart/form-data; boundary={BOUNDARY}", b"no multipart here at all"),
    ],
)
def test_a_broken_multipart_body_is_a_400_problem_not_a_500(
    window: Window, content_type: str, body: bytes
) -> None:
    problem(window(form_event(body, content_type=content_type)), 400)


@pytest.mark.parametrize("fields", [{"kind": "selfie"}, {"renewal_id": "../../x"}, {"colour": "blue"}])
def test_invalid_form_fields_are_a_422_naming_the_field(window: Window, fields: dict[str, str]) -> None:
    body = problem(window(form_event(multipart([("file", "a.png", PNG, "image/png")], fields))), 422)
    assert body["errors"][0]["field"] in fields


def test_an_upload_without_a_verified_identity_is_401(window: Window) -> None:
    problem(window(form_event(multipart([("file", "a.png", PNG, "image/png")]), sub=None)), 401)


def test_the_owner_reads_the_metadata(window: Window) -> None:
    doc = window.upload(PDF)

    result = window(http_event("GET", f"{BASE}/{doc['id']}", scopes=["docs.read"]))

    assert result["statusCode"] == 200
    assert body_of(result) == doc


@pytest.mark.parametrize("path", ["{id}", "{id}/content"])
def test_another_citizen_gets_the_same_404_as_for_an_unknown_id(window: Window, path: str) -> None:
    doc = window.upload(PDF)

    theirs = window(http_event("GET", f"{BASE}/{path.format(id=doc['id'])}", sub="mallory"))
    unknown = window(
        http_event("GET", f"{BASE}/{path.format(id='01J00000000000000000000000')}", sub="mallory")
    )

    assert problem(theirs, 404)["detail"].replace(doc["id"], "?") == problem(unknown, 404)["detail"].replace(
        "01J00000000000000000000000", "?"
    )


def test_content_redirects_to_a_presigned_url_valid_for_five_minutes(window: Window) -> None:
    doc = window.upload(PDF)

    result = window(http_event("GET", f"{BASE}/{doc['id']}/content", scopes=["docs.read"]))

    assert result["statusCode"] == 302
    body = body_of(result)
    assert result["headers"]["Location"] == body["url"]
    assert body["expires_in"] == 300
    assert doc_key(doc["id"]) in body["url"]
    assert result["headers"]["Cache-Control"] == "no-store"


def test_the_presign_flow_starts_pending_and_completes_available(window: Window) -> None:
    start = http_event(
        "POST",
        f"{BASE}/uploads",
        body={"content_type": "image/png", "size": len(PNG), "filename": "me.png", "kind": "other"},
        scopes=["docs.write"],
    )

    started = window(start)

    assert started["statusCode"] == 201, started["body"]
    ticket = body_of(started)
    assert ticket["status"] == "pending" and ticket["expires_in"] == 300
    assert ticket["upload"]["fields"]["key"] == upload_key(ticket["id"])
    assert window(http_event("GET", f"{BASE}/{ticket['id']}/content"))["statusCode"] == 409

    window.objects.stage(ticket["id"], PNG)  # what the client's POST to the form does
    done = window(http_event("POST", f"{BASE}/uploads/{ticket['id']}/complete", scopes=["docs.write"]))

    assert done["statusCode"] == 200, done["body"]
    assert body_of(done)["status"] == "available"
    assert body_of(done)["sha256"] is not None
    assert window(http_event("GET", f"{BASE}/{ticket['id']}/content"))["statusCode"] == 302


def test_completing_an_upload_that_lies_about_its_type_is_a_422_and_discards_it(window: Window) -> None:
    start = http_event("POST", f"{BASE}/uploads", body={"content_type": "image/png", "size": len(EXE)})
    ticket = body_of(window(start))
    window.objects.stage(ticket["id"], EXE)

    result = window(http_event("POST", f"{BASE}/uploads/{ticket['id']}/complete"))

    problem(result, 422)
    assert window.objects.objects == {}
    assert body_of(window(http_event("GET", f"{BASE}/{ticket['id']}")))["status"] == "rejected"


def test_completing_before_uploading_is_a_409(window: Window) -> None:
    ticket = body_of(
        window(http_event("POST", f"{BASE}/uploads", body={"content_type": "image/png", "size": 9}))
    )

    problem(window(http_event("POST", f"{BASE}/uploads/{ticket['id']}/complete")), 409)


def test_another_citizen_cannot_complete_an_upload(window: Window) -> None:
    ticket = body_of(
        window(http_event("POST", f"{BASE}/uploads", body={"content_type": "image/png", "size": 9}))
    )

    problem(window(http_event("POST", f"{BASE}/uploads/{ticket['id']}/complete", sub="mallory")), 404)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"content_type": "application/x-msdownload", "size": 10}, 415),
        ({"content_type": "image/png", "size": 100 * 1024 * 1024 + 1}, 413),
        ({"content_type": "image/png", "size": 0}, 422),
        ({"content_type": "image/png", "size": "10"}, 422),
        ({"content_type": "image/png", "size": 1.5}, 422),
        ({"content_type": "image/png"}, 422),
        ({"content_type": "image/png", "size": 10, "kind": "selfie"}, 422),
    ],
)
def test_a_bad_presign_request_is_a_clear_problem(window: Window, body: dict[str, Any], status: int) -> None:
    problem(window(http_event("POST", f"{BASE}/uploads", body=body)), status)
    assert window.repo.items == {}


def test_a_presigned_upload_of_exactly_100_mb_is_allowed(window: Window) -> None:
    body = {"content_type": "application/pdf", "size": 100 * 1024 * 1024}

    assert window(http_event("POST", f"{BASE}/uploads", body=body))["statusCode"] == 201


def test_health_answers_without_touching_storage(window: Window) -> None:
    window.deps.documents = None  # type: ignore[assignment]
    window.deps.objects = None  # type: ignore[assignment]

    result = window(http_event("GET", f"{BASE}/health", sub=None))

    assert result["statusCode"] == 200
    assert body_of(result) == {"window": "documents", "status": "ok"}


def test_the_route_table_is_what_the_manifest_declares() -> None:
    assert handler.app.route_table() == [
        ("GET", "/api/v1/docs/health"),
        ("GET", "/api/v1/docs/{id}"),
        ("GET", "/api/v1/docs/{id}/content"),
        ("POST", "/api/v1/docs"),
        ("POST", "/api/v1/docs/uploads"),
        ("POST", "/api/v1/docs/uploads/{id}/complete"),
    ]


def test_the_upload_limit_comes_from_the_window_setting_and_widens_the_body_check() -> None:
    from documents.bootstrap import build
    from documents.settings import limits_from_env

    limits = limits_from_env({"HMS_MAX_UPLOAD_BYTES": "1000"})
    settings = WindowSettings(window="documents", table_name="t", bucket_name="b")

    assert limits.max_upload_bytes == 1000
    assert limits_from_env({}).max_upload_bytes == 5 * 1024 * 1024
    assert build(settings, dynamodb=None, s3=None, limits=Limits()).settings.max_body_bytes == (
        5 * 1024 * 1024 + FORM_OVERHEAD_BYTES
    )


@pytest.mark.parametrize("raw", ["-1", "0", "five"])
def test_a_bad_upload_limit_is_a_settings_error(raw: str) -> None:
    from documents.settings import limits_from_env
    from hmskit.settings import SettingsError

    with pytest.raises(SettingsError):
        limits_from_env({"HMS_MAX_UPLOAD_BYTES": raw})


def test_the_window_refuses_to_start_without_a_bucket() -> None:
    from documents.bootstrap import build
    from hmskit.settings import SettingsError

    with pytest.raises(SettingsError, match="HMS_BUCKET_NAME"):
        build(WindowSettings(window="documents", table_name="t"), dynamodb=None, s3=None)
