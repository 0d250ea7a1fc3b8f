"""The documents window on the real adapters: S3 and DynamoDB served by the moto server."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import replace
from typing import Any

import httpx
import images
import pytest
from helpers import body_of, both_emulators, http_event

from documents import bootstrap, handler
from documents.adapters import DynamoDocumentRepository, doc_key
from documents.domain import Document, StatusChangedError
from hmskit.context import LocalContext
from hmskit.settings import WindowSettings
from hmskit.store import TableStore

pytestmark = [pytest.mark.integration, both_emulators]

BASE = "/api/v1/docs"
PNG = images.png(48, 48)  # real headers: an upload must be structurally what it claims
PDF = b"%PDF-1.7\n" + b"%\xe2\xe3\xcf\xd3\n" + b"x" * 3000
BOUNDARY = "hms-integration"


def multipart(filename: str, data: bytes, ctype: str, **fields: str) -> bytes:
    out = b""
    for name, value in fields.items():
        out += f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    out += (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: {ctype}\r\n\r\n"
    ).encode()
    return out + data + f"\r\n--{BOUNDARY}--\r\n".encode()


def upload_event(
    data: bytes, *, filename: str = "scan.bin", key: str | None = None, **fields: str
) -> dict[str, Any]:
    return http_event(
        "POST",
        BASE,
        body=multipart(filename, data, "application/octet-stream", **fields),
        scopes=["docs.write"],
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
        headers={"Idempotency-Key": key} if key else None,
    )


@pytest.fixture
def s3(aws_endpoint: str) -> Any:
    return bootstrap.s3_client()


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"docs-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def deps(dynamodb: Any, table: str, s3: Any, bucket: str) -> bootstrap.Deps:
    settings = WindowSettings(window="documents", table_name=table, bucket_name=bucket, rate_limit="30/60")
    return bootstrap.build(settings, dynamodb=dynamodb, s3=s3)


def call(deps: bootstrap.Deps, event: dict[str, Any]) -> dict[str, Any]:
    return handler.handle(event, LocalContext(), deps)


def keys(s3: Any, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def test_an_upload_puts_the_bytes_in_s3_and_the_metadata_in_the_owners_partition(
    deps: bootstrap.Deps, s3: Any, bucket: str, dynamodb: Any, table: str
) -> None:
    result = call(
        deps, upload_event(PNG, filename="../me.png", kind="other", renewal_id="01JD2X7Q4T5S8P1K6H3F9D2B7A")
    )

    assert result["statusCode"] == 201, result["body"]
    doc = body_of(result)
    assert doc["url"] == f"s3://{bucket}/docs/{doc['id']}"
    assert doc["sha256"] == hashlib.sha256(PNG).hexdigest()
    obj = s3.get_object(Bucket=bucket, Key=f"docs/{doc['id']}")
    assert obj["ContentType"] == "image/png"
    assert obj["Body"].read() == PNG
    item = dynamodb.get_item(
        TableName=table, Key={"pk": {"S": "OWNER#alice"}, "sk": {"S": f"DOC#{doc['id']}"}}
    )["Item"]
    assert item["filename"]["S"] == "me.png"
    assert item["status"]["S"] == "available"
    assert item["renewal_id"]["S"] == "01JD2X7Q4T5S8P1K6H3F9D2B7A"
    assert item["kind"]["S"] == "other"

    read = call(deps, http_event("GET", f"{BASE}/{doc['id']}", scopes=["docs.read"]))
    assert body_of(read) == doc
    assert call(deps, http_event("GET", f"{BASE}/{doc['id']}", sub="mallory"))["statusCode"] == 404


def test_the_presigned_content_url_serves_the_bytes_as_an_attachment(deps: bootstrap.Deps) -> None:
    doc = body_of(call(deps, upload_event(PDF, filename="passport scan.pdf")))

    result = call(deps, http_event("GET", f"{BASE}/{doc['id']}/content", scopes=["docs.read"]))

    assert result["statusCode"] == 302
    fetched = httpx.get(result["headers"]["Location"])
    assert fetched.status_code == 200
    assert fetched.content == PDF
    assert fetched.headers["content-type"] == "application/pdf"
    assert fetched.headers["content-disposition"] == 'attachment; filename="passport_scan.pdf"'


def test_a_presigned_post_upload_followed_by_complete_makes_the_document_available(
    deps: bootstrap.Deps, s3: Any, bucket: str
) -> None:
    started = call(
        deps,
        http_event(
            "POST", f"{BASE}/uploads", body={"content_type": "image/png", "size": len(PNG), "kind": "other"}
        ),
    )
    assert started["statusCode"] == 201, started["body"]
    ticket = body_of(started)
    assert ticket["status"] == "pending"

    posted = httpx.post(
        ticket["upload"]["url"], data=ticket["upload"]["fields"], files={"file": ("me.png", PNG, "image/png")}
    )
    assert posted.status_code in (200, 201, 204), posted.text

    done = call(deps, http_event("POST", f"{BASE}/uploads/{ticket['id']}/complete", scopes=["docs.write"]))

    assert done["statusCode"] == 200, done["body"]
    doc = body_of(done)
    assert doc["status"] == "available"
    assert doc["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert keys(s3, bucket) == [doc_key(doc["id"])]  # the staged copy is gone
    assert s3.head_object(Bucket=bucket, Key=doc_key(doc["id"]))["ContentType"] == "image/png"
    link = call(deps, http_event("GET", f"{BASE}/{doc['id']}/content"))
    assert httpx.get(link["headers"]["Location"]).content == PNG


def test_a_presigned_upload_with_other_bytes_than_declared_is_rejected_and_deleted(
    deps: bootstrap.Deps, s3: Any, bucket: str
) -> None:
    fake = b"MZ" + b"\x00" * (len(PNG) - 2)  # right size, not a PNG
    ticket = body_of(
        call(
            deps, http_event("POST", f"{BASE}/uploads", body={"content_type": "image/png", "size": len(PNG)})
        )
    )
    httpx.post(
        ticket["upload"]["url"], data=ticket["upload"]["fields"], files={"file": ("x.png", fake, "image/png")}
    )

    result = call(deps, http_event("POST", f"{BASE}/uploads/{ticket['id']}/complete"))

    assert result["statusCode"] == 422
    assert result["headers"]["Content-Type"] == "application/problem+json"
    assert keys(s3, bucket) == []
    assert body_of(call(deps, http_event("GET", f"{BASE}/{ticket['id']}")))["status"] == "rejected"


def test_completing_before_the_upload_arrived_is_a_409_and_leaves_it_pending(deps: bootstrap.Deps) -> None:
    ticket = body_of(
        call(
            deps, http_event("POST", f"{BASE}/uploads", body={"content_type": "application/pdf", "size": 10})
        )
    )

    result = call(deps, http_event("POST", f"{BASE}/uploads/{ticket['id']}/complete"))

    assert result["statusCode"] == 409
    assert body_of(call(deps, http_event("GET", f"{BASE}/{ticket['id']}")))["status"] == "pending"


def test_a_retried_upload_with_the_same_idempotency_key_stores_one_document(
    deps: bootstrap.Deps, s3: Any, bucket: str
) -> None:
    first = call(deps, upload_event(PDF, key="upload-1"))
    again = call(deps, upload_event(PDF, key="upload-1"))
    other = call(deps, upload_event(PNG, key="upload-1"))

    assert first["statusCode"] == again["statusCode"] == 201
    assert body_of(first) == body_of(again)
    assert len(keys(s3, bucket)) == 1
    assert other["statusCode"] == 422


def test_when_the_metadata_write_fails_the_s3_object_is_deleted(
    deps: bootstrap.Deps, s3: Any, bucket: str, dynamodb: Any, table: str
) -> None:
    class Refusing(DynamoDocumentRepository):
        def add(self, doc: Document) -> None:
            raise RuntimeError("the metadata write failed")

    deps.documents = Refusing(TableStore(dynamodb, table))

    result = call(deps, upload_event(PNG))

    assert result["statusCode"] == 500
    assert keys(s3, bucket) == []


def test_a_status_change_is_conditional_on_the_stored_status(dynamodb: Any, table: str) -> None:
    repo = DynamoDocumentRepository(TableStore(dynamodb, table))
    doc = Document(
        "01J00000000000000000000000",
        "alice",
        "a.pdf",
        10,
        "application/pdf",
        None,
        "other",
        None,
        "pending",
        "2027-01-01T00:00:00.000+00:00",
    )
    repo.add(doc)
    done = replace(doc, status="available", sha256="ab" * 32)

    repo.set_status(done, expected="pending")

    assert repo.get("alice", doc.id) == done
    with pytest.raises(StatusChangedError):
        repo.set_status(replace(doc, status="rejected"), expected="pending")
    assert repo.get("alice", doc.id) == done
