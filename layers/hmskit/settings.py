"""The settings every window shares, read once from the environment into a typed, validated value;
a window's own variables are read in its ``settings.py`` with ``own_setting``.

The template (``hms template``) and the local runtime (``hms up``) set the same variables, so a
window cannot tell where it runs. An explicit argument beats the environment: tests build
``WindowSettings(...)`` directly.

Plain frozen dataclasses validated by hand, not pydantic models: a GET never imports pydantic.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

DEFAULT_MAX_BODY_BYTES = 64 * 1024
DEFAULT_IDEMPOTENCY_TTL_SECONDS = 24 * 3600
DEFAULT_DISCOVERY_TTL_SECONDS = 30
DEFAULT_A2A_TIMEOUT_MS = 3000


class SettingsError(Exception):
    """The environment does not describe a valid window."""


def _positive_int(field: str, value: object) -> int:
    """``value`` as an int > 0 (decimal text accepted, as the environment gives it); else ValueError."""
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{field}: expected a whole number, got {value!r}")
    if value <= 0:
        raise ValueError(f"{field}: must be greater than 0, got {value}")
    return value


def _services(value: Mapping[str, str] | str | None) -> Mapping[str, str]:
    """The static discovery fallback: ``"eligibility=http://host:3000,passport=..."`` or a mapping."""
    if value is None:
        return {}
    if isinstance(value, str):
        pairs: dict[str, str] = {}
        for part in (p.strip() for p in value.split(",")):
            if not part:
                continue
            name, sep, url = part.partition("=")
            if not sep or not name.strip() or not url.strip():
                raise ValueError(f"services: {part!r} is not WINDOW=BASE_URL")
            pairs[name.strip()] = url.strip()
        value = pairs
    if not isinstance(value, Mapping):
        raise ValueError(f"services: expected WINDOW=BASE_URL pairs, got {value!r}")
    for name, url in value.items():
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError(f"services: {name}: base URL must be http(s)://..., got {url!r}")
    return dict(value)


@dataclass(frozen=True)
class RateLimit:
    limit: int
    window: int  # seconds

    def __post_init__(self) -> None:
        object.__setattr__(self, "limit", _positive_int("limit", self.limit))
        object.__setattr__(self, "window", _positive_int("window", self.window))

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """Parse ``"30/60"``: 30 requests per 60 seconds."""
        limit, sep, window = text.partition("/")
        if not sep:
            raise ValueError(f"rate limit {text!r} is not LIMIT/WINDOW_SECONDS")
        return cls(limit=int(limit), window=int(window))

    def __str__(self) -> str:
        return f"{self.limit}/{self.window}"


@dataclass(frozen=True, init=False)
class WindowSettings:
    window: str
    table_name: str
    bucket_name: str | None
    rate_limit: RateLimit | None
    max_body_bytes: int
    idempotency_ttl_seconds: int
    tracing: bool
    event_bus: str | None
    namespace: str | None
    services: Mapping[str, str]
    discovery_ttl_seconds: int
    a2a_timeout_ms: int
    email_sender: str | None

    @property
    def event_source(self) -> str:
        """The EventBridge ``source`` of everything this window publishes."""
        return f"hms.{self.window}"

    def __init__(
        self,
        *,
        window: str,
        table_name: str,
        bucket_name: str | None = None,
        rate_limit: RateLimit | str | None = None,
        max_body_bytes: int | str = DEFAULT_MAX_BODY_BYTES,
        idempotency_ttl_seconds: int | str = DEFAULT_IDEMPOTENCY_TTL_SECONDS,
        tracing: bool = False,
        event_bus: str | None = None,
        namespace: str | None = None,
        services: Mapping[str, str] | str | None = None,
        discovery_ttl_seconds: int | str = DEFAULT_DISCOVERY_TTL_SECONDS,
        a2a_timeout_ms: int | str = DEFAULT_A2A_TIMEOUT_MS,
        email_sender: str | None = None,
    ) -> None:
        """Validate every field; ``ValueError`` naming the field otherwise. A rate limit may be
        given as its text (``"30/60"``; blank means none)."""
        for name, text in (("window", window), ("table_name", table_name)):
            if not isinstance(text, str) or not text:
                raise ValueError(f"{name}: must be a non-empty string, got {text!r}")
        if bucket_name is not None and not isinstance(bucket_name, str):
            raise ValueError(f"bucket_name: must be a string, got {bucket_name!r}")
        if isinstance(rate_limit, str):
            try:
                rate_limit = RateLimit.parse(rate_limit) if rate_limit.strip() else None
            except ValueError as exc:
                raise ValueError(f"rate_limit: {exc}") from exc
        elif rate_limit is not None and not isinstance(rate_limit, RateLimit):
            raise ValueError(f"rate_limit: expected a RateLimit or LIMIT/WINDOW_SECONDS, got {rate_limit!r}")
        if not isinstance(tracing, bool):
            raise ValueError(f"tracing: expected a bool, got {tracing!r}")
        init = object.__setattr__
        init(self, "window", window)
        init(self, "table_name", table_name)
        init(self, "bucket_name", bucket_name)
        init(self, "rate_limit", rate_limit)
        init(self, "max_body_bytes", _positive_int("max_body_bytes", max_body_bytes))
        init(
            self, "idempotency_ttl_seconds", _positive_int("idempotency_ttl_seconds", idempotency_ttl_seconds)
        )
        init(self, "tracing", tracing)
        for name, opt in (("event_bus", event_bus), ("namespace", namespace), ("email_sender", email_sender)):
            if opt is not None and (not isinstance(opt, str) or not opt):
                raise ValueError(f"{name}: must be a non-empty string when set, got {opt!r}")
        init(self, "event_bus", event_bus)
        init(self, "namespace", namespace)
        init(self, "email_sender", email_sender)
        init(self, "services", _services(services))
        init(self, "discovery_ttl_seconds", _positive_int("discovery_ttl_seconds", discovery_ttl_seconds))
        init(self, "a2a_timeout_ms", _positive_int("a2a_timeout_ms", a2a_timeout_ms))

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> WindowSettings:
        try:
            return cls(
                window=environ.get("HMS_WINDOW", ""),
                table_name=environ.get("HMS_TABLE_NAME", ""),
                bucket_name=environ.get("HMS_BUCKET_NAME") or None,
                rate_limit=environ.get("HMS_RATE_LIMIT", ""),
                max_body_bytes=environ.get("HMS_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES),
                idempotency_ttl_seconds=environ.get("HMS_IDEMPOTENCY_TTL", DEFAULT_IDEMPOTENCY_TTL_SECONDS),
                tracing=environ.get("HMS_TRACING", "false").lower() in ("1", "true", "yes"),
                event_bus=environ.get("HMS_EVENT_BUS") or None,
                namespace=environ.get("HMS_NAMESPACE") or None,
                services=environ.get("HMS_SERVICES", ""),
                discovery_ttl_seconds=environ.get("HMS_DISCOVERY_TTL", DEFAULT_DISCOVERY_TTL_SECONDS),
                a2a_timeout_ms=environ.get("HMS_A2A_TIMEOUT_MS", DEFAULT_A2A_TIMEOUT_MS),
                email_sender=environ.get("HMS_EMAIL_SENDER") or None,
            )
        except ValueError as exc:
            raise SettingsError(f"invalid window settings from the environment: {exc}") from exc


@functools.cache
def load_settings() -> WindowSettings:
    """The process-wide settings, read from ``os.environ`` on first use."""
    return WindowSettings.from_env(os.environ)


def own_setting[T](environ: Mapping[str, str], variable: str, parse: Callable[[str], T], default: T) -> T:
    """One of a window's own variables (read in its ``settings.py``): ``default`` when unset or
    blank, else ``parse(text)``, whose ``ValueError`` becomes a ``SettingsError`` naming the variable."""
    text = environ.get(variable, "")
    if not text.strip():
        return default
    try:
        return parse(text)
    except ValueError as exc:
        raise SettingsError(f"invalid window settings from the environment: {variable}: {exc}") from exc
