"""Composition root: settings -> clients -> adapters, built once per process (warm starts reuse).

boto3 finds a local emulator through ``AWS_ENDPOINT_URL``; nothing here plumbs an endpoint. The
window's own limits (``HMS_MAX_UPLOAD_BYTES``) stay here: the kit's body check is widened to fit
one upload form.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from documents.adapters import DynamoDocumentRepository, S3ObjectStore
from documents.domain import DocumentRepository, Limits, ObjectStore
from hmskit.clock import Clock, SystemClock
from hmskit.idempotency import Idempotency
from hmskit.ids import new_id
from hmskit.outbox import Outbox, OutboxRelay, relay_factory
from hmskit.ratelimit import FixedWindowRateLimiter
from hmskit.settings import SettingsError, WindowSettings, load_settings
from hmskit.store import TableStore

FORM_OVERHEAD_BYTES = 64 * 1024  # boundaries, part headers and the small text fields


@dataclass
class Deps:
    settings: WindowSettings
    documents: DocumentRepository
    objects: ObjectStore
    rate_limiter: FixedWindowRateLimiter | None
    idempotency: Idempotency
    limits: Limits = field(default_factory=Limits)
    clock: Clock = field(default_factory=SystemClock)
    outbox: Outbox | None = None  # None: events are not recorded (unit tests that do not look at them)
    relay_factory: Callable[[], OutboxRelay] | None = None

    def relay(self) -> OutboxRelay:
        if self.relay_factory is None:
            raise RuntimeError("HMS_EVENT_BUS is not set: this deployment cannot relay events")
        return self.relay_factory()

    def new_id(self) -> str:
        return new_id(int(self.clock.now() * 1000))

    def now_iso(self) -> str:
        return datetime.fromtimestamp(self.clock.now(), UTC).isoformat(timespec="milliseconds")


def window_settings(settings: WindowSettings, limits: Limits) -> WindowSettings:
    """The kit's settings with a body limit that fits one upload form."""
    needed = limits.max_upload_bytes + FORM_OVERHEAD_BYTES
    if settings.max_body_bytes >= needed:
        return settings
    return replace(settings, max_body_bytes=needed)


def limits_from_env(environ: Mapping[str, str]) -> Limits:
    raw = environ.get("HMS_MAX_UPLOAD_BYTES", "").strip()
    if not raw:
        return Limits()
    if not raw.isdigit() or int(raw) <= 0:
        raise SettingsError(f"HMS_MAX_UPLOAD_BYTES must be a positive number of bytes, got {raw!r}")
    return Limits(max_upload_bytes=int(raw))


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
    clock = clock or SystemClock()
    limits = limits or Limits()
    settings = window_settings(settings, limits)
    store = TableStore(dynamodb, settings.table_name)
    limiter = FixedWindowRateLimiter(store, settings.rate_limit, clock) if settings.rate_limit else None
    outbox = Outbox(
        store, window=settings.window, new_id=lambda: new_id(int(clock.now() * 1000)), now=clock.now
    )
    idempotency = Idempotency(
        dynamodb,
        settings.table_name,
        ttl_seconds=settings.idempotency_ttl_seconds,
        scope=settings.window,
        clock=clock,
    )
    return Deps(
        settings=settings,
        documents=DynamoDocumentRepository(store, outbox, idempotency),
        outbox=outbox,
        relay_factory=relay_factory(store, settings.event_bus),
        objects=S3ObjectStore(s3, bucket),
        rate_limiter=limiter,
        idempotency=idempotency,
        limits=limits,
        clock=clock,
    )


def s3_client() -> Any:
    import boto3
    from botocore.config import Config

    # SigV4 everywhere: presigned URLs and POST policies must verify in every region.
    return boto3.client("s3", config=Config(signature_version="s3v4"))


class LazyClient:
    """A boto3 client built on first use, not at bootstrap: reading a document's metadata (and a
    404) never touches S3, and building the S3 client costs ~20 ms of cold start (measured)."""

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
