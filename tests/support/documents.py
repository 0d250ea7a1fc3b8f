"""The documents window's fakes."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from documents.adapters import doc_key, upload_key
from documents.domain import (
    Document,
    ObjectStoreError,
    PresignedPost,
    StagedObject,
    StatusChangedError,
    UploadChangedError,
    UploadMissingError,
)


class InMemoryDocumentRepository:
    """``DocumentRepository`` in a dict, recording its events (the outbox) in ``events``."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Document] = {}
        self.events: list[Any] = []  # the outbox

    def add(self, doc: Document, events: Sequence[Any] = ()) -> None:
        key = (doc.owner, doc.id)
        if key in self.items:
            raise RuntimeError(f"document id {doc.id} collided")
        self.items[key] = doc
        self.events.extend(events)

    def get(self, owner: str, doc_id: str) -> Document | None:
        return self.items.get((owner, doc_id))

    def recorded(self, owner: str) -> Document | None:
        return None  # no Idempotency-Key records here: the handler tests fake the idempotency

    def set_status(self, doc: Document, *, expected: str, events: Sequence[Any] = ()) -> None:
        current = self.items.get((doc.owner, doc.id))
        if current is None or current.status != expected:
            raise StatusChangedError(f"document {doc.id} is no longer {expected}")
        self.items[(doc.owner, doc.id)] = doc
        self.events.extend(events)


class InMemoryObjectStore:
    """``ObjectStore`` in a dict, keyed as the S3 adapter lays the bucket out."""

    def __init__(self, bucket: str = "docs-bucket") -> None:
        self.bucket = bucket
        self.objects: dict[str, tuple[bytes, str]] = {}  # key -> (bytes, content type)

    def stage(self, doc_id: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        """What a client's POST to the presigned form does."""
        self.objects[upload_key(doc_id)] = (data, content_type)

    def put(self, doc_id: str, data: bytes, *, content_type: str, sha256: str) -> None:
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ObjectStoreError("checksum mismatch")
        self.objects[doc_key(doc_id)] = (data, content_type)

    def delete(self, doc_id: str) -> None:
        self.objects.pop(doc_key(doc_id), None)
        self.objects.pop(upload_key(doc_id), None)

    def staged(self, doc_id: str) -> StagedObject | None:
        found = self.objects.get(upload_key(doc_id))
        if found is None:
            return None
        return StagedObject(size=len(found[0]), tag=hashlib.md5(found[0]).hexdigest())

    def promoted(self, doc_id: str) -> bool:
        return doc_key(doc_id) in self.objects

    def promote(self, doc_id: str, *, tag: str, content_type: str) -> None:
        staged = self.staged(doc_id)
        if staged is None:
            raise UploadMissingError(f"nothing has been uploaded for document {doc_id} yet")
        if staged.tag != tag:
            raise UploadChangedError("the upload changed while it was checked; complete it again")
        data, _ = self.objects.pop(upload_key(doc_id))
        self.objects[doc_key(doc_id)] = (data, content_type)

    def read_prefix(self, doc_id: str, length: int) -> bytes:
        return self.objects[doc_key(doc_id)][0][:length]

    def digest(self, doc_id: str) -> tuple[str, int]:
        data = self.objects[doc_key(doc_id)][0]
        return hashlib.sha256(data).hexdigest(), len(data)

    def location(self, doc_id: str) -> str:
        return f"s3://{self.bucket}/{doc_key(doc_id)}"

    def presign_get(self, doc_id: str, *, content_type: str, filename: str, expires_in: int) -> str:
        return f"https://{self.bucket}.objects.test/{doc_key(doc_id)}?expires_in={expires_in}&filename={filename}"

    def presign_post(self, doc_id: str, *, content_type: str, size: int, expires_in: int) -> PresignedPost:
        return PresignedPost(
            url=f"https://{self.bucket}.objects.test/",
            fields={"key": upload_key(doc_id), "Content-Type": content_type},
        )

    def __contains__(self, key: str) -> bool:
        return key in self.objects
