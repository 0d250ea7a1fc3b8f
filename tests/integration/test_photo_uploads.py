"""Passport photo rules on the presigned path against S3 (moto): the object is read back by range.

The fixtures and helpers are the documents storage tests' own (same tables, same bucket).
"""

from __future__ import annotations

from typing import Any

import httpx
import images
from helpers import body_of, http_event
from test_documents_storage import BASE, bucket, call, deps, s3  # noqa: F401  (fixtures)

from documents import bootstrap
from documents.adapters import doc_key


def _presigned(window: bootstrap.Deps, data: bytes, ctype: str, kind: str) -> dict[str, Any]:
    body = {"content_type": ctype, "size": len(data), "kind": kind}
    ticket = body_of(call(window, http_event("POST", f"{BASE}/uploads", body=body)))
    posted = httpx.post(
        ticket["upload"]["url"], data=ticket["upload"]["fields"], files={"file": ("me", data, ctype)}
    )
    assert posted.status_code in (200, 201, 204), posted.text
    return call(window, http_event("POST", f"{BASE}/uploads/{ticket['id']}/complete"))


def test_a_presigned_passport_photo_read_back_from_s3_becomes_available(deps: bootstrap.Deps) -> None:  # noqa: F811
    done = _presigned(deps, images.PASSPORT_PHOTO, "image/jpeg", "photo")

    assert done["statusCode"] == 200, done["body"]
    assert body_of(done)["status"] == "available"


def test_a_presigned_photo_that_is_not_square_is_422_naming_the_rule_and_discarded(
    deps: bootstrap.Deps,  # noqa: F811
    s3: Any,  # noqa: F811
    bucket: str,  # noqa: F811
) -> None:
    done = _presigned(deps, images.jpeg(600, 900), "image/jpeg", "photo")

    assert done["statusCode"] == 422, done["body"]
    assert "photo-square" in body_of(done)["detail"]
    doc_id = body_of(done)["instance"].split("/")[-2]  # /api/v1/docs/uploads/{id}/complete
    assert not s3.list_objects_v2(Bucket=bucket, Prefix=doc_key(doc_id)).get("Contents")


def test_a_presigned_png_signature_only_is_rejected(deps: bootstrap.Deps) -> None:  # noqa: F811
    signature = b"\x89PNG\r\n\x1a\n"
    done = _presigned(deps, signature, "image/png", "other")

    assert done["statusCode"] == 422, done["body"]
    assert "IHDR" in body_of(done)["detail"]
