"""Composition root: settings -> clients -> adapters, built once per process (warm starts reuse)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from documents.adapters import DynamoDocumentRepository, S3ObjectStore
from documents.domain import DocumentRepository, Limits, ObjectStore
from documents.events import DocumentEvents
from documents.settings import limits_from_env
from hmskit.clock import Clock
from hmskit.deps import BaseDeps, TableParts
from hmskit.idempotency import Idempotency
from hmskit.outbox import Outbox
from hmskit.settings import SettingsError, WindowSettings, load_settings

FORM_OVERHEAD_BYTES = 64 * 1024  # boundaries, part headers and the small text fields


@dataclass(kw_only=True)
class Deps(BaseDeps):
    documents: DocumentRepository
    objects: ObjectStore
    idempotency: Idempotency
    limits: Limits = field(default_factory=Limits)
    outbox: Outbox | None = None  # None: events are not recorded (unit tests that do not look at them)

    @property
    def events(self) -> DocumentEvents:
        return DocumentEvents(self.outbox, now_iso=self.now_iso)


def window_settings(settings: WindowSettings, limits: Limits) -> WindowSettings:
    """The kit's settings with a body limit that fits one upload form."""
    needed = limits.max_upload_bytes + FORM_OVERHEAD_BYTES
    if settings.max_body_bytes >= needed:
        return settings
    return replace(settings, max_body_bytes=needed)


def build(
    settings: WindowSettings,
    *,
    dynamodb: Any,
    s3: Any,
    clock: Clock | None = None,
    limits: Limits | None = None,
) -> Deps:
    bucket = settings.bucket_name
    if not bucket:
        raise SettingsError("the documents window needs a bucket (HMS_BUCKET_NAME)")
    limits = limits or Limits()
    parts = TableParts(window_settings(settings, limits), dynamodb, clock=clock)
    return Deps(
        **parts.base(),
        documents=DynamoDocumentRepository(parts.store, parts.outbox, parts.idempotency),
        objects=S3ObjectStore(s3, bucket),
        idempotency=parts.idempotency,
        limits=limits,
        outbox=parts.outbox,
    )


def s3_client() -> Any:
    import boto3
    from botocore.config import Config

    # SigV4 everywhere: presigned URLs and POST policies must verify in every region.
    return boto3.client("s3", config=Config(signature_version="s3v4"))


class LazyClient:
    """A boto3 client built on first use: reading a document's metadata (and a 404) never touches
    S3, and building the S3 client costs ~20 ms of cold start (measured)."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            self._client = self._factory()
        return getattr(self._client, name)


@functools.cache
def deps() -> Deps:
    import boto3

    return build(
        load_settings(),
        dynamodb=boto3.client("dynamodb"),
        s3=LazyClient(s3_client),
        limits=limits_from_env(os.environ),
    )
