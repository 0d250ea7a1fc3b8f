"""The only code that knows how a document is stored: its table item and its S3 keys.

Item: ``pk = OWNER#<sub>``, ``sk = DOC#<id>``. Reads are keyed by the caller's ``sub``, so a citizen
cannot reach another's document even with its id.

Objects: the document's bytes at ``docs/<id>``; a presigned upload lands at ``uploads/<id>`` and is
copied to ``docs/<id>`` only when it is completed, so the upload form (valid for a few minutes) can
never replace bytes that were already verified.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from documents.domain import (
    Document,
    ObjectStoreError,
    PresignedPost,
    StagedObject,
    StatusChangedError,
    UploadChangedError,
    UploadMissingError,
)
from hmskit.cursors import Cursors
from hmskit.idempotency import Idempotency
from hmskit.outbox import Outbox
from hmskit.owned import OwnedItems, owner_pk
from hmskit.store import ConditionFailedError, TableStore, TransactionConflictError

_PREFIX = "DOC#"
DOC_KEYS = "docs/"
UPLOAD_KEYS = "uploads/"
_CHUNK = 1024 * 1024


def doc_key(doc_id: str) -> str:
    return DOC_KEYS + doc_id


def upload_key(doc_id: str) -> str:
    return UPLOAD_KEYS + doc_id


class DynamoDocumentRepository:
    def __init__(
        self, store: TableStore, outbox: Outbox | None = None, claims: Idempotency | None = None
    ) -> None:
        self._store = store
        self._items = OwnedItems(store, Cursors(_PREFIX), _document, outbox=outbox, claims=claims)

    def add(self, doc: Document, events: Sequence[Any] = ()) -> None:
        self._items.create(
            {
                "pk": owner_pk(doc.owner),
                "sk": _PREFIX + doc.id,
                "type": "document",
                "id": doc.id,
                "owner": doc.owner,
                "filename": doc.filename,
                "size": doc.size,
                "content_type": doc.content_type,
                "sha256": doc.sha256,
                "kind": doc.kind,
                "renewal_id": doc.renewal_id,
                "status": doc.status,
                "created_at": doc.created_at,
            },
            events,
        )

    def recorded(self, owner: str) -> Document | None:
        return self._items.recorded(owner)

    def get(self, owner: str, doc_id: str) -> Document | None:
        return self._items.get(owner, doc_id)

    def set_status(self, doc: Document, *, expected: str, events: Sequence[Any] = ()) -> None:
        changes = {"status": doc.status, "sha256": doc.sha256}
        try:
            if events:
                update = self._store.update_op(
                    owner_pk(doc.owner), _PREFIX + doc.id, changes, expect={"status": expected}
                )
                self._store.transact([update, *self._items.event_ops(events)])
            else:
                self._store.update(
                    owner_pk(doc.owner), _PREFIX + doc.id, changes, expect={"status": expected}
                )
        except ConditionFailedError as exc:
            raise StatusChangedError(f"document {doc.id} is no longer {expected}") from exc
        except TransactionConflictError as exc:
            if exc.condition_failed:
                raise StatusChangedError(f"document {doc.id} is no longer {expected}") from exc
            raise


def _document(item: dict[str, Any]) -> Document:
    sha256 = item.get("sha256")
    renewal_id = item.get("renewal_id")
    return Document(
        id=str(item["id"]),
        owner=str(item["owner"]),
        filename=str(item["filename"]),
        size=int(item["size"]),
        content_type=str(item["content_type"]),
        sha256=str(sha256) if sha256 is not None else None,
        kind=str(item["kind"]),
        renewal_id=str(renewal_id) if renewal_id is not None else None,
        status=str(item["status"]),
        created_at=str(item["created_at"]),
    )


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


_MISSING = {"404", "NoSuchKey", "NotFound"}


class S3ObjectStore:
    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    def put(self, doc_id: str, data: bytes, *, content_type: str, sha256: str) -> None:
        try:
            self._client.put_object(
                Bucket=self.bucket,
                Key=doc_key(doc_id),
                Body=data,
                ContentType=content_type,
                ChecksumSHA256=base64.b64encode(bytes.fromhex(sha256)).decode("ascii"),
            )
        except (ClientError, BotoCoreError) as exc:
            raise ObjectStoreError("document storage is unavailable; retry shortly") from exc

    def delete(self, doc_id: str) -> None:
        try:
            resp = self._client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": doc_key(doc_id)}, {"Key": upload_key(doc_id)}], "Quiet": True},
            )
        except (ClientError, BotoCoreError) as exc:
            raise ObjectStoreError(f"could not delete the objects of document {doc_id}") from exc
        if resp.get("Errors"):
            raise ObjectStoreError(f"could not delete the objects of document {doc_id}: {resp['Errors']}")

    def staged(self, doc_id: str) -> StagedObject | None:
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=upload_key(doc_id))
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return None
            raise ObjectStoreError("document storage is unavailable; retry shortly") from exc
        except BotoCoreError as exc:
            raise ObjectStoreError("document storage is unavailable; retry shortly") from exc
        return StagedObject(size=int(head["ContentLength"]), tag=str(head["ETag"]))

    def promoted(self, doc_id: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=doc_key(doc_id))
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return False
            raise ObjectStoreError("document storage is unavailable; retry shortly") from exc
        except BotoCoreError as exc:
            raise ObjectStoreError("document storage is unavailable; retry shortly") from exc
        return True

    def promote(self, doc_id: str, *, tag: str, content_type: str) -> None:
        try:
            self._client.copy_object(
                Bucket=self.bucket,
                Key=doc_key(doc_id),
                CopySource={"Bucket": self.bucket, "Key": upload_key(doc_id)},
                CopySourceIfMatch=tag,
                ContentType=content_type,
                MetadataDirective="REPLACE",
            )
            self._client.delete_object(Bucket=self.bucket, Key=upload_key(doc_id))
        except ClientError as exc:
            if _code(exc) in {"PreconditionFailed", "412"}:
                raise UploadChangedError(
                    "the upload changed while it was checked; complete it again"
                ) from exc
            if _code(exc) in _MISSING:
                raise UploadMissingError(f"nothing has been uploaded for document {doc_id} yet") from exc
            raise ObjectStoreError("document storage is unavailable; retry shortly") from exc
        except BotoCoreError as exc:
            raise ObjectStoreError("document storage is unavailable; retry shortly") from exc

    def read_prefix(self, doc_id: str, length: int) -> bytes:
        try:
            resp = self._client.get_object(
                Bucket=self.bucket, Key=doc_key(doc_id), Range=f"bytes=0-{length - 1}"
            )
            return bytes(resp["Body"].read())
        except ClientError as exc:
            if _code(exc) == "InvalidRange":  # an empty object has no first bytes
                return b""
            raise ObjectStoreError("document storage is unavailable; retry shortly") from exc
        except BotoCoreError as exc:
            raise ObjectStoreError("document storage is unavailable; retry shortly") from exc

    def digest(self, doc_id: str) -> tuple[str, int]:
        sha = hashlib.sha256()
        length = 0
        try:
            body = self._client.get_object(Bucket=self.bucket, Key=doc_key(doc_id))["Body"]
            for chunk in body.iter_chunks(_CHUNK):
                sha.update(chunk)
                length += len(chunk)
        except (ClientError, BotoCoreError) as exc:
            raise ObjectStoreError("document storage is unavailable; retry shortly") from exc
        return sha.hexdigest(), length

    def location(self, doc_id: str) -> str:
        return f"s3://{self.bucket}/{doc_key(doc_id)}"

    def presign_get(self, doc_id: str, *, content_type: str, filename: str, expires_in: int) -> str:
        url: str = self._client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": doc_key(doc_id),
                "ResponseContentType": content_type,
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
            },
            ExpiresIn=expires_in,
        )
        return url

    def presign_post(self, doc_id: str, *, content_type: str, size: int, expires_in: int) -> PresignedPost:
        post = self._client.generate_presigned_post(
            Bucket=self.bucket,
            Key=upload_key(doc_id),
            Fields={"Content-Type": content_type},
            Conditions=[["content-length-range", size, size], ["eq", "$Content-Type", content_type]],
            ExpiresIn=expires_in,
        )
        return PresignedPost(url=str(post["url"]), fields={k: str(v) for k, v in post["fields"].items()})
