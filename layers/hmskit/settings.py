"""The window's settings: read once from the environment into a typed model.

The template (``hms template``) and the local runtime (``hms up``) set the same variables, so a
window cannot tell where it runs. An explicit argument beats the environment: tests build
``WindowSettings(...)`` directly.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class SettingsError(Exception):
    """The environment does not describe a valid window."""


class RateLimit(BaseModel):
    model_config = ConfigDict(frozen=True)

    limit: int = Field(gt=0)
    window: int = Field(gt=0, description="seconds")

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """Parse ``"30/60"``: 30 requests per 60 seconds."""
        limit, sep, window = text.partition("/")
        if not sep:
            raise ValueError(f"rate limit {text!r} is not LIMIT/WINDOW_SECONDS")
        return cls(limit=int(limit), window=int(window))

    def __str__(self) -> str:
        return f"{self.limit}/{self.window}"


class WindowSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    window: str = Field(min_length=1)
    table_name: str = Field(min_length=1)
    bucket_name: str | None = None
    rate_limit: RateLimit | None = None
    max_body_bytes: int = Field(default=64 * 1024, gt=0)
    idempotency_ttl_seconds: int = Field(default=24 * 3600, gt=0)
    tracing: bool = False

    @field_validator("rate_limit", mode="before")
    @classmethod
    def _rate_limit_from_text(cls, value: object) -> object:
        if isinstance(value, str):
            return RateLimit.parse(value) if value.strip() else None
        return value

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> WindowSettings:
        raw: dict[str, object] = {
            "window": environ.get("HMS_WINDOW", ""),
            "table_name": environ.get("HMS_TABLE_NAME", ""),
            "bucket_name": environ.get("HMS_BUCKET_NAME") or None,
            "rate_limit": environ.get("HMS_RATE_LIMIT", ""),
            "tracing": environ.get("HMS_TRACING", "false").lower() in ("1", "true", "yes"),
        }
        for field, var in (
            ("max_body_bytes", "HMS_MAX_BODY_BYTES"),
            ("idempotency_ttl_seconds", "HMS_IDEMPOTENCY_TTL"),
        ):
            if var in environ:
                raw[field] = environ[var]
        try:
            return cls.model_validate(raw)
        except (ValidationError, ValueError) as exc:
            raise SettingsError(f"invalid window settings from the environment: {exc}") from exc


@functools.cache
def load_settings() -> WindowSettings:
    """The process-wide settings, read from ``os.environ`` on first use."""
    return WindowSettings.from_env(os.environ)
