"""What the documents window tells the bus, built from its domain's documents: its only importer of
``hmskit.contracts`` (imported when an event is built, not on a cold start)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from documents import domain

if TYPE_CHECKING:
    from hmskit.outbox import Outbox


def uploaded(
    outbox: Outbox | None, *, correlation_id: str | None, now_iso: Callable[[], str]
) -> domain.Announce:
    """DocumentUploaded for a document that just became available (recorded in the same write)."""

    def announce(doc: domain.Document) -> Sequence[Any]:
        if outbox is None or doc.status != domain.AVAILABLE or doc.sha256 is None:
            return []
        from hmskit.contracts import DocumentUploadedV1

        event = DocumentUploadedV1(
            document_id=doc.id,
            owner=doc.owner,
            content_type=doc.content_type,
            size=doc.size,
            sha256=doc.sha256,
            kind=doc.kind,  # type: ignore[arg-type]  # the window's kinds are the contract's
            renewal_id=doc.renewal_id,
            uploaded_at=now_iso(),  # type: ignore[arg-type]  # pydantic parses the ISO text
        )
        return [outbox.event(event, correlation_id=correlation_id)]

    return announce
