"""The documents domain on in-memory fakes: type by magic bytes, limits, ordering, presigned uploads."""

from __future__ import annotations

import hashlib
import itertools
from typing import Any

import images
import pytest
from support.documents import InMemoryDocumentRepository, InMemoryObjectStore

from documents import domain
from documents.adapters import doc_key, upload_key
from documents.domain import Limits, Upload

PNG = images.png(2, 2)  # real headers: an upload must be structurally what it claims
JPEG = images.jpeg(8, 8)
PDF = b"%PDF-1.7\n" + b"x" * 32

_ids = (f"01J{n:023d}" for n in itertools.count())


def new_id() -> str:
    return next(_ids)


def now_iso() -> str:
    return "2027-01-15T10:00:00.000+00:00"


def upload(
    repo: InMemoryDocumentRepository,
    objects: InMemoryObjectStore,
    data: bytes,
    *,
    filename: str | None = "scan.bin",
    owner: str = "alice",
    limits: Limits | None = None,
) -> domain.Document:
    return domain.upload_document(
        repo,
        objects,
        owner=owner,
        upload=Upload(filename=filename, data=data),
        kind="other",
        renewal_id=None,
        limits=limits or Limits(),
        new_id=new_id,
        now_iso=now_iso,
    )


def start(
    repo: InMemoryDocumentRepository,
    objects: InMemoryObjectStore,
    *,
    content_type: str = "image/png",
    size: int = len(PNG),
    owner: str = "alice",
) -> domain.Document:
    doc, _ = domain.start_upload(
        repo,
        objects,
        owner=owner,
        content_type=content_type,
        size=size,
        filename="photo.png",
        kind="proof_of_identity",  # a PNG: the passport photo rules (JPEG only) are tested apart
        renewal_id="R1",
        limits=Limits(),
        new_id=new_id,
        now_iso=now_iso,
    )
    return doc


@pytest.fixture
def repo() -> InMemoryDocumentRepository:
    return InMemoryDocumentRepository()


@pytest.fixture
def objects() -> InMemoryObjectStore:
    return InMemoryObjectStore()


@pytest.mark.parametrize(
    ("data", "expected"), [(PNG, "image/png"), (JPEG, "image/jpeg"), (PDF, "application/pdf")]
)
def test_the_type_of_a_document_is_read_from_its_magic_bytes(
    repo: InMemoryDocumentRepository, objects: InMemoryObjectStore, data: bytes, expected: str
) -> None:
    doc = upload(repo, objects, data, filename="totally-a.exe")

    assert doc.content_type == expected
    assert doc.sha256 == hashlib.sha256(data).hexdigest()
    assert objects.objects[doc_key(doc.id)] == (data, expected)
    assert repo.get("alice", doc.id) == doc


@pytest.mark.parametrize("data", [b"MZ\x90\x00 windows exe", b"just some text", b"%PD", b"GIF89a...."])
def test_bytes_that_are_not_pdf_jpeg_or_png_are_refused_and_nothing_is_stored(
    repo: InMemoryDocumentRepository, objects: InMemoryObjectStore, data: bytes
) -> None:
    with pytest.raises(domain.UnsupportedDocumentTypeError):
        upload(repo, objects, data)

    assert objects.objects == {}
    assert repo.items == {}


def test_a_document_over_the_limit_is_refused(
    repo: InMemoryDocumentRepository, objects: InMemoryObjectStore
) -> None:
    with pytest.raises(domain.DocumentTooLargeError):
        upload(repo, objects, PNG + b"\x00" * 100, limits=Limits(max_upload_bytes=len(PNG) + 99))

    assert objects.objects == {}


def test_a_document_exactly_at_the_limit_is_accepted(
    repo: InMemoryDocumentRepository, objects: InMemoryObjectStore
) -> None:
    doc = upload(repo, objects, PNG, limits=Limits(max_upload_bytes=len(PNG)))

    assert doc.size == len(PNG)


def test_an_empty_document_is_refused(repo: InMemoryDocumentRepository, objects: InMemoryObjectStore) -> None:
    with pytest.raises(domain.EmptyDocumentError):
        upload(repo, objects, b"")


class FailingRepository(InMemoryDocumentRepository):
    def add(self, doc: domain.Document, events: Any = ()) -> None:
        raise RuntimeError("the table is down")


class LostAnswerRepository(InMemoryDocumentRepository):
    """Stores the item, then loses the answer (a timeout after the write landed)."""

    def add(self, doc: domain.Document, events: Any = ()) -> None:
        super().add(doc)
        raise TimeoutError("read timeout")


class BlindRepository(InMemoryDocumentRepository):
    def add(self, doc: domain.Document, events: Any = ()) -> None:
        raise RuntimeError("the table is down")

    def get(self, owner: str, doc_id: str) -> domain.Document | None:
        raise RuntimeError("the table is still down")


def test_when_the_metadata_write_fails_the_object_is_deleted_so_nothing_is_orphaned(
    objects: InMemoryObjectStore,
) -> None:
    with pytest.raises(RuntimeError, match="table is down"):
        upload(FailingRepository(), objects, PNG)

    assert objects.objects == {}


def test_a_metadata_write_whose_answer_was_lost_keeps_the_object_and_succeeds(
    objects: InMemoryObjectStore,
) -> None:
    repo = LostAnswerRepository()

    doc = upload(repo, objects, PNG)

    assert repo.get("alice", doc.id) == doc
    assert doc_key(doc.id) in objects


def test_when_it_cannot_be_known_whether_metadata_was_written_the_object_is_kept(
    objects: InMemoryObjectStore,
) -> None:
    with pytest.raises(RuntimeError):
        upload(BlindRepository(), objects, PNG)

    assert len(objects.objects) == 1  # an orphan to tidy is better than metadata that lies


def test_the_filename_is_sanitised_to_a_safe_last_segment() -> None:
    assert domain.safe_filename("../../etc/pass wd.pdf", "application/pdf") == "pass_wd.pdf"
    assert domain.safe_filename('C:\\Users\\x\\"evil"\r\n.png', "image/png") == "evil_.png"
    assert domain.safe_filename("fotó.jpg", "image/jpeg") == "foto.jpg"
    assert domain.safe_filename(None, "image/png") == "document.png"
    assert domain.safe_filename("...", "application/pdf") == "document.pdf"


def test_another_citizens_document_is_not_found(
    repo: InMemoryDocumentRepository, objects: InMemoryObjectStore
) -> None:
    doc = upload(repo, objects, PDF, owner="alice")

    with pytest.raises(domain.DocumentNotFoundError):
        domain.get_document(repo, owner="mallory", doc_id=doc.id)


def test_a_content_link_is_presigned_for_the_owner_only(
    repo: InMemoryDocumentRepository, objects: InMemoryObjectStore
) -> None:
    doc = upload(repo, objects, PDF, filename="passport.pdf")

    link = domain.content_link(repo, objects, owner="alice", doc_id=doc.id, limits=Limits())

    assert link.expires_in == 300
    assert doc_key(doc.id) in link.url and "passport.pdf" in link.url
    with pytest.raises(domain.DocumentNotFoundError):
        domain.content_link(repo, objects, owner="mallory", doc_id=doc.id, limits=Limits())


def test_a_pending_document_has_no_content_yet(
    repo: InMemoryDocumentRepository, objects: InMemoryObjectStore
) -> None:
    doc = start(repo, objects)

    with pytest.raises(domain.DocumentNotAvailableError):
        domain.content_link(repo, objects, owner="alice", doc_id=doc.id, limits=Limits())


def test_starting_an_upload_records_a_pending_document(
    repo: InMemoryDocumentRepository, objects: InMemoryObjectStore
) -> None:
    doc = start(repo, objects, content_type="Image/PNG; charset=binary")

    assert doc.status == "pending"
    assert doc.content_type == "image/png"
    assert doc.sha256 is None
    assert repo.get("alice", doc.id) == doc


def test_a_presigned_upload_of_another_type_is_refused(
    repo: InMemoryDocumentRepository, objects: InMemoryObjectStore
) -> None:
    with pytest.raises(domain.UnsupportedDocumentTypeError):
        start(repo, objects, content_type="application/x-msdownload")


def test_a_presigned_upload_over_100_mb_is_refused(
    repo: InMemoryDocumentRepository, objects: InMemoryObjectStore
) -> None:
    with pytest.raises(domain.DocumentTooLargeError):
        start(repo, objects, size=100 * 1024 * 1024 + 1)


def test_completing_a_matching_upload_makes_the_document_available(
    repo: InMemoryDocumentRepository, objects: InMemoryObjectStore
) -> None:
    doc = start(repo, objects)
    objects.stage(doc.id, PNG)

    done = domain.complete_upload(repo, objects, owner="alice", doc_id=doc.id)

    assert done.status == "available"
    assert done.sha256 == hashlib.sha256(PNG).hexdigest()
    assert repo.get("alice", doc.id) == done
    assert doc_key(doc.id) in objects and upload_key(doc.id) not in objects


def test_completing_twice_answers_the_same_document(
    repo: InMemoryDocumentRepository, objects: InMemoryObjectStore
) -> None:
    doc = start(repo, objects)
    objects.stage(doc.id, PNG)
    first = domain.complete_upload(repo, objects, owner="alice", doc_id=doc.id)

    assert domain.complete_upload(repo, objects, owner="alice", doc_id=doc.id) == first


def test_completing_before_anything_was_uploaded_is_a_conflict(
    repo: InMemoryDocumentRepository, objects: InMemoryObjectStore
) -> None:
    doc = start(repo, objects)

    with pytest.raises(domain.UploadMissingError):
        domain.complete_upload(repo, objects, owner="alice", doc_id=doc.id)

    assert repo.get("alice", doc.id).status == "pending"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("declared", "data"),
    [
        ("image/png", JPEG[: len(PNG)]),  # same size, other type
        ("image/png", b"MZ" + b"\x00" * (len(PNG) - 2)),  # same size, no known type
        ("image/png", PNG + b"extra"),  # other size
    ],
)
def test_an_upload_that_does_not_match_its_declaration_is_rejected_and_discarded(
    repo: InMemoryDocumentRepository, objects: InMemoryObjectStore, declared: str, data: bytes
) -> None:
    doc = start(repo, objects, content_type=declared, size=len(PNG))
    objects.stage(doc.id, data)

    with pytest.raises(domain.UploadRejectedError):
        domain.complete_upload(repo, objects, owner="alice", doc_id=doc.id)

    assert objects.objects == {}
    assert repo.get("alice", doc.id).status == "rejected"  # type: ignore[union-attr]
    with pytest.raises(domain.UploadNotPendingError):
        domain.complete_upload(repo, objects, owner="alice", doc_id=doc.id)


def test_only_the_owner_can_complete_an_upload(
    repo: InMemoryDocumentRepository, objects: InMemoryObjectStore
) -> None:
    doc = start(repo, objects)
    objects.stage(doc.id, PNG)

    with pytest.raises(domain.DocumentNotFoundError):
        domain.complete_upload(repo, objects, owner="mallory", doc_id=doc.id)

    assert repo.get("alice", doc.id).status == "pending"  # type: ignore[union-attr]


def test_an_upload_replaced_while_it_is_checked_is_not_promoted(
    repo: InMemoryDocumentRepository, objects: InMemoryObjectStore
) -> None:
    class RacingStore(InMemoryObjectStore):
        def promote(self, doc_id: str, *, tag: str, content_type: str) -> None:
            self.stage(doc_id, JPEG[: len(PNG)])  # the client posts the form again, just now
            super().promote(doc_id, tag=tag, content_type=content_type)

    racing = RacingStore()
    doc = start(repo, racing)
    racing.stage(doc.id, PNG)

    with pytest.raises(domain.UploadChangedError):
        domain.complete_upload(repo, racing, owner="alice", doc_id=doc.id)

    assert doc_key(doc.id) not in racing


# -- DocumentUploaded: announced with the write that makes a document available, once ---------------


class Announced:
    """An event factory recording each fact as a tuple."""

    def uploaded(self, doc: domain.Document, *, correlation_id: str | None) -> list[Any]:
        return [("DocumentUploaded", doc.id, doc.kind, doc.renewal_id, doc.sha256)]


announced = Announced()


def test_an_inline_upload_is_announced_with_its_metadata(
    repo: InMemoryDocumentRepository, objects: InMemoryObjectStore
) -> None:
    doc = domain.upload_document(
        repo,
        objects,
        owner="alice",
        upload=Upload(filename="me.jpg", data=images.PASSPORT_PHOTO),
        kind="photo",
        renewal_id="R1",
        limits=Limits(),
        new_id=new_id,
        now_iso=now_iso,
        events=announced,
    )

    assert repo.events == [("DocumentUploaded", doc.id, "photo", "R1", doc.sha256)]


def test_a_failed_metadata_write_announces_nothing(objects: InMemoryObjectStore) -> None:
    repo = FailingRepository()
    with pytest.raises(RuntimeError):
        domain.upload_document(
            repo,
            objects,
            owner="alice",
            upload=Upload(filename="me.jpg", data=images.PASSPORT_PHOTO),
            kind="photo",
            renewal_id="R1",
            limits=Limits(),
            new_id=new_id,
            now_iso=now_iso,
            events=announced,
        )
    assert repo.events == []


def test_a_presigned_upload_is_announced_when_completed_and_only_once(
    repo: InMemoryDocumentRepository, objects: InMemoryObjectStore
) -> None:
    doc = start(repo, objects)
    assert repo.events == []  # pending: nothing to announce yet
    objects.stage(doc.id, PNG)

    done = domain.complete_upload(repo, objects, owner="alice", doc_id=doc.id, events=announced)
    again = domain.complete_upload(repo, objects, owner="alice", doc_id=doc.id, events=announced)

    assert done.status == again.status == domain.AVAILABLE
    assert repo.events == [("DocumentUploaded", doc.id, "proof_of_identity", "R1", done.sha256)]


def test_a_rejected_upload_is_not_announced(
    repo: InMemoryDocumentRepository, objects: InMemoryObjectStore
) -> None:
    doc = start(repo, objects)
    objects.stage(doc.id, b"not an image at all, but the right length?"[: len(PNG)].ljust(len(PNG), b"x"))

    with pytest.raises(domain.UploadRejectedError):
        domain.complete_upload(repo, objects, owner="alice", doc_id=doc.id, events=announced)
    assert repo.events == []
