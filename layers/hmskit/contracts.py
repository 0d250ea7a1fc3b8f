"""Event contracts: every event type on the bus, versioned, as a pydantic model.

These models are the single source of the event schemas (``hms events`` writes one JSON Schema per
type and version into ``events/schemas/``; a test fails when they drift) and of the topology check
(``events/topology.yaml`` may only name types defined here).

On the bus an event is EventBridge's envelope around ``detail``; ``detail`` is ours::

    {"metadata": {"event_id", "type", "version", "source", "time", "correlation_id"},
     "data": {...the type's fields...}}

``source`` is the publishing window (EventBridge ``source`` is ``hms.<window>``), ``event_id`` is
stable across re-publication (the outbox relay may publish an event twice; consumers deduplicate on
it, never on EventBridge's own ``id``), ``correlation_id`` is the request id of the HTTP request that
caused the event, carried onward by every consumer that publishes in turn.

Compatibility rule: a new version may add optional fields only; consumers parse any version, older
or newer, with their current model (tested against ``events/samples/``). A breaking change is a new
type.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_-]+$")]
Sub = Annotated[str, Field(min_length=1, max_length=256)]
Money = Annotated[str, Field(pattern=r"^\d{1,9}(\.\d{1,3})?$", description="decimal string, never a float")]
Email = Annotated[str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]


class ContractError(Exception):
    """An event does not match any known contract (unknown type or version, or invalid fields)."""


class EventMetadata(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: Id
    type: str
    version: int = Field(ge=1)
    source: str = Field(min_length=1, max_length=64, description="the publishing window")
    time: datetime
    correlation_id: str | None = Field(default=None, max_length=128)


class EventData(BaseModel):
    """The ``data`` of one event type and version. Subclasses set TYPE and VERSION."""

    model_config = ConfigDict(extra="ignore", frozen=True)  # a newer minor field never breaks a consumer

    TYPE: ClassVar[str]
    VERSION: ClassVar[int]
    DESCRIPTION: ClassVar[str]


class RenewalSubmittedV1(EventData):
    """A citizen submitted a passport renewal and eligibility allowed it."""

    TYPE: ClassVar[str] = "RenewalSubmitted"
    VERSION: ClassVar[int] = 1
    DESCRIPTION: ClassVar[str] = __doc__ or ""

    renewal_id: Id
    owner: Sub
    full_name: str = Field(min_length=1, max_length=200)
    email: Email | None = None
    submitted_at: datetime


class PaymentCapturedV1(EventData):
    """A payment was captured; ``renewal_id`` ties it to a passport renewal when the payer gave one."""

    TYPE: ClassVar[str] = "PaymentCaptured"
    VERSION: ClassVar[int] = 1
    DESCRIPTION: ClassVar[str] = __doc__ or ""

    payment_id: Id
    owner: Sub
    amount: Money
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    purpose: str = Field(min_length=1, max_length=200)
    renewal_id: Id | None = None
    email: Email | None = None
    captured_at: datetime


class DocumentUploadedV1(EventData):
    """A document's bytes are stored and verified; ``kind``/``renewal_id`` say what it is for."""

    TYPE: ClassVar[str] = "DocumentUploaded"
    VERSION: ClassVar[int] = 1
    DESCRIPTION: ClassVar[str] = __doc__ or ""

    document_id: Id
    owner: Sub
    content_type: str = Field(min_length=1, max_length=100)
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    kind: Literal["photo", "proof_of_identity", "other"] | None = None
    renewal_id: Id | None = None
    uploaded_at: datetime


class RenewalReadyForReviewV1(EventData):
    """A renewal is paid and has its photo: it waits for an officer's review."""

    TYPE: ClassVar[str] = "RenewalReadyForReview"
    VERSION: ClassVar[int] = 1
    DESCRIPTION: ClassVar[str] = __doc__ or ""

    renewal_id: Id
    owner: Sub
    payment_id: Id
    photo_document_id: Id
    email: Email | None = None
    ready_at: datetime


#: Every contract, by (type, version). Append new versions; never edit a published one.
CONTRACTS: dict[tuple[str, int], type[EventData]] = {
    (m.TYPE, m.VERSION): m
    for m in (RenewalSubmittedV1, PaymentCapturedV1, DocumentUploadedV1, RenewalReadyForReviewV1)
}


def current(event_type: str) -> type[EventData]:
    """The newest model of a type (what publishers emit and consumers parse into)."""
    versions = [v for (t, v) in CONTRACTS if t == event_type]
    if not versions:
        raise ContractError(f"unknown event type {event_type!r}")
    return CONTRACTS[(event_type, max(versions))]


def event_types() -> list[str]:
    return sorted({t for (t, _v) in CONTRACTS})


class Event(BaseModel):
    """An event as a consumer sees it: metadata plus the parsed data of the current model."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    metadata: EventMetadata
    data: EventData

    @property
    def type(self) -> str:
        return self.metadata.type

    @property
    def id(self) -> str:
        return self.metadata.event_id

    def detail(self) -> dict[str, Any]:
        """The EventBridge ``detail`` (JSON-ready)."""
        return {
            "metadata": self.metadata.model_dump(mode="json"),
            "data": self.data.model_dump(mode="json", exclude_none=True),
        }


def build(
    data: EventData,
    *,
    event_id: str,
    source: str,
    time: datetime,
    correlation_id: str | None,
) -> Event:
    """A new event of the data's type and version, ready for the outbox."""
    meta = EventMetadata(
        event_id=event_id,
        type=data.TYPE,
        version=data.VERSION,
        source=source,
        time=time,
        correlation_id=correlation_id,
    )
    return Event(metadata=meta, data=data)


def parse_detail(detail: Mapping[str, Any] | str) -> Event:
    """Parse an EventBridge ``detail`` of any version with the CURRENT model of its type.

    Older versions parse because newer ones only add optional fields; newer ones (a publisher
    deployed before this consumer) parse because the model ignores the fields it does not know.
    ``ContractError`` (with the reason) when the type is unknown or the fields do not validate.
    """
    try:
        raw = json.loads(detail) if isinstance(detail, str) else dict(detail)
        meta = EventMetadata.model_validate(raw.get("metadata"))
    except (ValueError, TypeError, ValidationError) as exc:
        raise ContractError(f"event metadata is invalid: {exc}") from exc
    # Any version of a known type: a newer one only adds optional fields (the compatibility rule),
    # which the current model ignores, so a consumer deployed before its publisher keeps working.
    model = current(meta.type)
    try:
        data = model.model_validate(raw.get("data"))
    except ValidationError as exc:
        raise ContractError(f"{meta.type} v{meta.version} data is invalid: {exc}") from exc
    return Event(metadata=meta, data=data)


def json_schema(model: type[EventData]) -> dict[str, Any]:
    """The JSON Schema of one contract's full ``detail`` (metadata + data), in JSON Schema draft 4.

    Draft 4 because that is what the EventBridge schema registry accepts (``JSONSchemaDraft4``); the
    same document is committed under ``events/schemas/`` and registered by the template.
    """
    data_schema = model.model_json_schema(mode="serialization", ref_template="#/definitions/{model}")
    meta_schema = EventMetadata.model_json_schema(mode="serialization")
    meta_schema["properties"]["type"] = {"enum": [model.TYPE], "type": "string", "title": "Type"}
    meta_schema["properties"]["version"] = {"enum": [model.VERSION], "type": "integer", "title": "Version"}
    defs = data_schema.pop("$defs", {})
    schema: dict[str, Any] = {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "title": f"{model.TYPE} v{model.VERSION}",
        "description": " ".join(model.DESCRIPTION.split()),
        "type": "object",
        "required": ["metadata", "data"],
        "properties": {"metadata": meta_schema, "data": data_schema},
        "additionalProperties": False,
    }
    if defs:
        schema["definitions"] = defs
    return _draft4(schema)


def _draft4(node: Any) -> Any:
    """Rewrite the few draft 2020-12 keywords pydantic emits into their draft 4 form."""
    if isinstance(node, dict):
        out = {k: _draft4(v) for k, v in node.items()}
        if "const" in out:
            out["enum"] = [out.pop("const")]
        return out
    if isinstance(node, list):
        return [_draft4(v) for v in node]
    return node
