"""What the documents window tells the bus, built from its domain's documents: its only importer of
``hmskit.contracts`` (imported when an event is built, not on a cold start)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from documents import domain

if TYPE_CHECKING:
    from hmskit.outbox import Outbox


class DocumentEvents:
    """The domain's ``EventFactory`` over the window's outbox (which stamps id, time and source);
    without an outbox (unit tests that do not look at events) it records none."""

    def __init__(self, outbox: Outbox | None, *, now_iso: Callable[[], str]) -> None:
        self._outbox = outbox
        self._now_iso = now_iso

    def uploaded(self, doc: domain.Document, *, correlation_id: str | None) -> list[Any]:
        """DocumentUploaded for a document that just became available (recorded in the same write)."""
        if self._outbox is None:
            return []
        from hmskit.contracts import DocumentUploadedV1

        assert doc.status == domain.AVAILABLE and doc.sha256 is not None
        data = DocumentUploadedV1(
            document_id=doc.id,
            owner=doc.owner,
            content_type=doc.content_type,
            size=doc.size,
            sha256=doc.sha256,
            kind=doc.kind,  # type: ignore[arg-type]  # the window's kinds are the contract's
            renewal_id=doc.renewal_id,
            uploaded_at=self._now_iso(),  # type: ignore[arg-type]  # pydantic parses the ISO text
        )
        return [self._outbox.event(data, correlation_id=correlation_id)]
