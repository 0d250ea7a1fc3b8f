"""Documents: plain functions over two ports (metadata repository, object store). No HTTP, no keys.

A document's type is decided by its first bytes, never by what the client claims. Bytes and
metadata live in two stores with no transaction between them, so every write is ordered to leave
nothing dangling: the object first, then the metadata; if the metadata cannot be written the object
is deleted again. A presigned upload is staged apart from the document's object and verified (size,
magic bytes, SHA-256) before it becomes ``available``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, Protocol

from documents import photos

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # a document sent through the API itself
MAX_PRESIGNED_BYTES = 100 * 1024 * 1024  # a document sent straight to the bucket
URL_TTL_SECONDS = 300  # presigned GET and POST
KINDS = ("photo", "proof_of_identity", "other")

PDF, JPEG, PNG = "application/pdf", "image/jpeg", "image/png"
SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", PDF),
    (b"\xff\xd8\xff", JPEG),
    (b"\x89PNG\r\n\x1a\n", PNG),
)
SNIFF_BYTES = max(len(magic) for magic, _ in SIGNATURES)
ALLOWED_TYPES = frozenset(ctype for _, ctype in SIGNATURES)
EXTENSIONS = {PDF: ".pdf", JPEG: ".jpg", PNG: ".png"}

PENDING, AVAILABLE, REJECTED = "pending", "available", "rejected"


class DocumentNotFoundError(Exception):
    """No document with that id belongs to the caller."""


class UnsupportedDocumentTypeError(Exception):
    """The bytes (or the declared type) are not a PDF, JPEG or PNG."""


class DocumentTooLargeError(Exception):
    """The document is over the size limit."""


class EmptyDocumentError(Exception):
    """The document has no bytes."""


class DocumentNotAvailableError(Exception):
    """The document exists but its bytes cannot be served (pending or rejected)."""


class UploadNotPendingError(Exception):
    """The upload was already settled (rejected) and cannot be completed."""


class UploadMissingError(Exception):
    """Nothing was uploaded for this document yet."""


class UploadChangedError(Exception):
    """The staged upload changed while it was being verified."""


class UploadRejectedError(Exception):
    """The uploaded bytes do not match what was declared; the upload was discarded."""


class StatusChangedError(Exception):
    """A status change found the document no longer in the expected status."""


class ObjectStoreError(Exception):
    """The object store could not be read or written."""


@dataclass(frozen=True)
class Limits:
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    max_presigned_bytes: int = MAX_PRESIGNED_BYTES
    url_ttl_seconds: int = URL_TTL_SECONDS


@dataclass(frozen=True)
class Document:
    id: str
    owner: str
    filename: str
    size: int
    content_type: str
    sha256: str | None
    kind: str
    renewal_id: str | None
    status: str
    created_at: str

    def public(self) -> dict[str, object]:
        return {
            "id": self.id,
            "filename": self.filename,
            "size": self.size,
            "content_type": self.content_type,
            "sha256": self.sha256,
            "kind": self.kind,
            "renewal_id": self.renewal_id,
            "status": self.status,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class Upload:
    """A file as it arrived: the client's filename and the bytes."""

    filename: str | None
    data: bytes

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class StagedObject:
    size: int
    tag: str  # pins the exact bytes that were inspected (an ETag in S3)


@dataclass(frozen=True)
class PresignedPost:
    url: str
    fields: dict[str, str]


@dataclass(frozen=True)
class Link:
    url: str
    expires_in: int


#: An event as the outbox records it with a state change; opaque here (``documents.events`` builds it).
Recorded = Any


class DocumentRepository(Protocol):
    def add(self, doc: Document, events: Sequence[Recorded] = ()) -> None:
        """Store the document and its events (outbox) together: both or neither."""
        ...

    def get(self, owner: str, doc_id: str) -> Document | None: ...

    def recorded(self, owner: str) -> Document | None:
        """The document a first attempt of this very request (same Idempotency-Key) already stored,
        when its answer was lost; ``None`` otherwise."""
        ...

    def set_status(self, doc: Document, *, expected: str, events: Sequence[Recorded] = ()) -> None:
        """Store ``doc.status`` and ``doc.sha256`` (and the events) if the stored status is
        ``expected``, else ``StatusChangedError`` and nothing is written."""
        ...


class EventFactory(Protocol):
    """Turns the domain's facts into the events recorded with them (``documents.events``)."""

    def uploaded(self, doc: Document, *, correlation_id: str | None) -> Sequence[Recorded]: ...


def _uploaded(events: EventFactory | None, doc: Document, correlation_id: str | None) -> Sequence[Recorded]:
    """DocumentUploaded for ``doc``, now available; none without an event factory."""
    return events.uploaded(doc, correlation_id=correlation_id) if events is not None else ()


class ObjectStore(Protocol):
    def put(self, doc_id: str, data: bytes, *, content_type: str, sha256: str) -> None: ...

    def delete(self, doc_id: str) -> None:
        """Remove every object of the document (its bytes and any staged upload)."""
        ...

    def staged(self, doc_id: str) -> StagedObject | None: ...

    def promoted(self, doc_id: str) -> bool:
        """Whether the document's own object exists (an upload was promoted to it)."""
        ...

    def promote(self, doc_id: str, *, tag: str, content_type: str) -> None:
        """Make the staged upload (exactly the one ``tag`` names) the document's object."""
        ...

    def read_prefix(self, doc_id: str, length: int) -> bytes: ...

    def digest(self, doc_id: str) -> tuple[str, int]:
        """SHA-256 hex and length of the document's object, streamed."""
        ...

    def location(self, doc_id: str) -> str: ...

    def presign_get(self, doc_id: str, *, content_type: str, filename: str, expires_in: int) -> str: ...

    def presign_post(
        self, doc_id: str, *, content_type: str, size: int, expires_in: int
    ) -> PresignedPost: ...


def sniff(head: bytes) -> str | None:
    """The document type its first bytes announce, or ``None``."""
    for magic, ctype in SIGNATURES:
        if head.startswith(magic):
            return ctype
    return None


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(name: str | None, content_type: str) -> str:
    """A filename safe in a header and a log: the last path segment, ASCII letters, digits, ``._-``."""
    base = re.split(r"[\\/]", name or "")[-1]
    ascii_name = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    cleaned = _UNSAFE.sub("_", ascii_name).strip("._")[:120]
    return cleaned or "document" + EXTENSIONS.get(content_type, "")


def _check_size(size: int, limit: int) -> None:
    if size <= 0:
        raise EmptyDocumentError("the document is empty")
    if size > limit:
        raise DocumentTooLargeError(f"the document is {size} bytes; the limit is {limit}")


def _check_type(content_type: str) -> str:
    ctype = content_type.split(";")[0].strip().lower()
    if ctype not in ALLOWED_TYPES:
        raise UnsupportedDocumentTypeError(f"{ctype or 'no type'} is not accepted; send a PDF, JPEG or PNG")
    return ctype


def _check_content(data: bytes, ctype: str, kind: str) -> None:
    """The header parses as ``ctype`` (else 415) and a passport photo meets the photo rules (else 422)."""
    try:
        photos.check(data, ctype, kind=kind)
    except photos.FileStructureError as exc:
        raise UnsupportedDocumentTypeError(f"the file is not a valid {ctype}: {exc}") from exc
    except photos.PhotoRuleError as exc:
        raise UploadRejectedError(str(exc)) from exc


def upload_document(
    repo: DocumentRepository,
    objects: ObjectStore,
    *,
    owner: str,
    upload: Upload,
    kind: str,
    renewal_id: str | None,
    limits: Limits,
    new_id: Callable[[], str],
    now_iso: Callable[[], str],
    events: EventFactory | None = None,
    correlation_id: str | None = None,
) -> Document:
    """Store an inline upload and record its DocumentUploaded with its metadata.

    A retry of a request whose document is already stored gets that document back: no second object,
    document or event."""
    _check_size(len(upload.data), limits.max_upload_bytes)
    ctype = sniff(upload.data[:SNIFF_BYTES])
    if ctype is None:
        raise UnsupportedDocumentTypeError("the file is not a PDF, JPEG or PNG (judged by its content)")
    _check_content(upload.data, ctype, kind)
    first = repo.recorded(owner)
    if first is not None:
        return first
    doc = Document(
        id=new_id(),
        owner=owner,
        filename=safe_filename(upload.filename, ctype),
        size=len(upload.data),
        content_type=ctype,
        sha256=upload.sha256,
        kind=kind,
        renewal_id=renewal_id,
        status=AVAILABLE,
        created_at=now_iso(),
    )
    objects.put(doc.id, upload.data, content_type=ctype, sha256=upload.sha256)
    try:
        repo.add(doc, _uploaded(events, doc, correlation_id))
    except Exception:
        recorded = _recorded(repo, doc)
        if recorded:
            return doc  # the write succeeded; only its answer was lost
        if recorded is False:
            _discard(objects, doc.id)
        raise
    return doc


def _recorded(repo: DocumentRepository, doc: Document) -> bool | None:
    """After a failed metadata write: was ``doc`` stored after all? ``None`` when unknown.

    Only a sure "no" lets the object go: an orphaned object can be tidied later, but metadata
    pointing at a deleted object would be a document that lies.
    """
    try:
        found = repo.get(doc.owner, doc.id)
    except Exception:
        log.exception("could not tell whether document %s was recorded; its object is kept", doc.id)
        return None
    if found is None:
        return False
    return True if found == doc else None


def get_document(repo: DocumentRepository, *, owner: str, doc_id: str) -> Document:
    doc = repo.get(owner, doc_id)
    if doc is None:
        raise DocumentNotFoundError(f"no document {doc_id} for this citizen")
    return doc


def content_link(
    repo: DocumentRepository, objects: ObjectStore, *, owner: str, doc_id: str, limits: Limits
) -> Link:
    doc = get_document(repo, owner=owner, doc_id=doc_id)
    if doc.status != AVAILABLE:
        raise DocumentNotAvailableError(f"document {doc_id} is {doc.status}, not available")
    url = objects.presign_get(
        doc.id, content_type=doc.content_type, filename=doc.filename, expires_in=limits.url_ttl_seconds
    )
    return Link(url, limits.url_ttl_seconds)


def start_upload(
    repo: DocumentRepository,
    objects: ObjectStore,
    *,
    owner: str,
    content_type: str,
    size: int,
    filename: str | None,
    kind: str,
    renewal_id: str | None,
    limits: Limits,
    new_id: Callable[[], str],
    now_iso: Callable[[], str],
) -> tuple[Document, PresignedPost]:
    ctype = _check_type(content_type)
    _check_size(size, limits.max_presigned_bytes)
    first = repo.recorded(owner)  # a retry whose first attempt stored the pending document
    if first is not None:
        post = objects.presign_post(
            first.id, content_type=first.content_type, size=first.size, expires_in=limits.url_ttl_seconds
        )
        return first, post
    doc = Document(
        id=new_id(),
        owner=owner,
        filename=safe_filename(filename, ctype),
        size=size,
        content_type=ctype,
        sha256=None,
        kind=kind,
        renewal_id=renewal_id,
        status=PENDING,
        created_at=now_iso(),
    )
    repo.add(doc)
    post = objects.presign_post(doc.id, content_type=ctype, size=size, expires_in=limits.url_ttl_seconds)
    return doc, post


def complete_upload(
    repo: DocumentRepository,
    objects: ObjectStore,
    *,
    owner: str,
    doc_id: str,
    events: EventFactory | None = None,
    correlation_id: str | None = None,
) -> Document:
    """Verify a presigned upload and make the document available (or reject and discard it).

    The change to ``available`` and its DocumentUploaded event are written together, once: a second
    completion finds it available and records nothing. A completion that stopped after promoting
    the upload (the staged copy is gone) is finished by the next one, from the promoted object.
    """
    doc = get_document(repo, owner=owner, doc_id=doc_id)
    if doc.status == AVAILABLE:
        return doc  # completing twice is harmless
    if doc.status != PENDING:
        raise UploadNotPendingError(f"document {doc_id} is {doc.status}; upload it again")
    staged = objects.staged(doc.id)
    if staged is not None:
        if staged.size != doc.size:
            _reject(repo, objects, doc, f"the upload is {staged.size} bytes; {doc.size} were declared")
        # From here on the document's own object is checked: a later POST to the (still valid) upload
        # form can only replace the staged copy, never the bytes that were verified.
        objects.promote(doc.id, tag=staged.tag, content_type=doc.content_type)
    elif not objects.promoted(doc.id):
        raise UploadMissingError(f"nothing has been uploaded for document {doc_id} yet")
    head = objects.read_prefix(doc.id, photos.HEAD_BYTES)
    found = sniff(head)
    if found != doc.content_type:
        _reject(
            repo,
            objects,
            doc,
            f"the upload is {found or 'not a PDF, JPEG or PNG'}; {doc.content_type} was declared",
        )
    try:
        photos.check(head, doc.content_type, kind=doc.kind, complete=len(head) >= doc.size)
    except photos.UnacceptableFileError as exc:
        _reject(repo, objects, doc, str(exc))
    sha256, length = objects.digest(doc.id)
    if length != doc.size:
        _reject(repo, objects, doc, f"the upload is {length} bytes; {doc.size} were declared")
    done = replace(doc, status=AVAILABLE, sha256=sha256)
    try:
        repo.set_status(done, expected=PENDING, events=_uploaded(events, done, correlation_id))
    except StatusChangedError:
        return _settled(repo, doc)
    return done


def _settled(repo: DocumentRepository, doc: Document) -> Document:
    """A concurrent completion won the race: its answer is ours if it made the document available."""
    current = get_document(repo, owner=doc.owner, doc_id=doc.id)
    if current.status != AVAILABLE:
        raise UploadNotPendingError(f"document {doc.id} is {current.status}; upload it again")
    return current


def _reject(repo: DocumentRepository, objects: ObjectStore, doc: Document, reason: str) -> None:
    _discard(objects, doc.id)
    with contextlib.suppress(StatusChangedError):
        repo.set_status(replace(doc, status=REJECTED), expected=PENDING)
    raise UploadRejectedError(f"upload rejected and discarded: {reason}")


def _discard(objects: ObjectStore, doc_id: str) -> None:
    """Best effort: a failure is logged, never raised over the error being handled."""
    try:
        objects.delete(doc_id)
    except Exception:
        log.exception("could not delete the objects of document %s", doc_id)
