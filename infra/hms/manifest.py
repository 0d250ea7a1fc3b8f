"""Route manifests (``routes/<window>.yaml``): the typed model and its loader.

The seed's shape loads unchanged::

    uri: /api/v1/payments/**
    upstream: http://hms-svc-payments:8080     # or just: payments
    plugins:
      - auth:
          scopes: ["payments.write", "payments.read"]
      - rate-limit:
          limit: 30
          window: 60

and so does its short form ``plugins: [auth, rate-limit]``: a bare ``auth`` lets any valid token in
(no particular scope), a bare ``rate-limit`` is the platform default (60 requests per 60 s per
principal).

Optional refinements (all keys beside the seed's are optional):

    routes:                       # exact routes; without this list the whole /** prefix is proxied
      - {method: POST, path: /api/v1/payments, scopes: [payments.write]}
      - {method: GET,  path: /api/v1/payments/{id}, scopes: [payments.read]}
      - {method: GET,  path: /api/v1/payments/health, scopes: [], rate_limited: false}
    throttle: {rate: 50, burst: 100}   # aggregate API Gateway throttle for these routes (all callers)
    window: {framework: powertools, timeout: 10, memory: 256, bucket: false, email: false, payload: "2.0",
             environment: {HMS_SOMETHING: "value"}}

Every error names the file, the field and the reason (``ManifestError``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

PLUGINS = ("auth", "rate-limit")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY")
_SEGMENT = re.compile(r"^[A-Za-z0-9._~-]+$")
_PARAM = re.compile(r"^\{[A-Za-z_][A-Za-z0-9_]*\+?\}$")
_SCOPE = re.compile(r"^[\x21-\x7e]{1,128}$")
_WINDOW_NAME = re.compile(r"^[a-z][a-z0-9]{1,30}$")


class ManifestError(Exception):
    """One problem in one manifest: the file, the field and the reason."""

    def __init__(self, file: str, field: str, reason: str) -> None:
        super().__init__(f"{file}: {field}: {reason}")
        self.file, self.field, self.reason = file, field, reason


class ManifestErrors(Exception):
    """Every problem found across the manifests; nothing is generated while any remain."""

    def __init__(self, errors: list[ManifestError]) -> None:
        self.errors = errors
        lines = "\n".join(f"  - {e}" for e in errors)
        super().__init__(f"{len(errors)} manifest error(s):\n{lines}")


Scope = Annotated[StrictStr, Field(pattern=_SCOPE.pattern)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuthPlugin(_Strict):
    scopes: list[Scope] = Field(default_factory=list)


DEFAULT_RATE_LIMIT = 60  # requests per principal per window: a bare ``rate-limit`` (README)
DEFAULT_RATE_WINDOW = 60  # seconds


class RateLimitPlugin(_Strict):
    """``rate-limit`` alone (the seed's ``plugins: [auth, rate-limit]``) is the platform default,
    60 requests per 60 s per principal; a key left out takes its default."""

    limit: int = Field(default=DEFAULT_RATE_LIMIT, gt=0, le=1_000_000, strict=True)
    window: int = Field(default=DEFAULT_RATE_WINDOW, gt=0, le=86_400, strict=True, description="seconds")


class Throttle(_Strict):
    rate: float = Field(gt=0, le=100_000, description="steady requests per second, all callers")
    burst: int = Field(gt=0, le=100_000, strict=True)


PLATFORM_SETTINGS = frozenset(
    {
        "HMS_WINDOW",
        "HMS_TABLE_NAME",
        "HMS_BUCKET_NAME",
        "HMS_RATE_LIMIT",
        "HMS_EVENT_BUS",
        "HMS_NAMESPACE",
        "HMS_SERVICES",
        "HMS_EMAIL_SENDER",
    }
)


DEFAULT_CONCURRENCY = 10


class WindowOptions(_Strict):
    framework: Literal["powertools", "chalice"] = "powertools"
    timeout: int = Field(default=10, ge=1, le=29, strict=True, description="seconds (API Gateway caps at 30)")
    memory: int = Field(default=256, ge=128, le=10_240, strict=True)
    concurrency: int = Field(
        default=DEFAULT_CONCURRENCY,
        ge=2,
        le=1000,
        strict=True,
        description="execution environments at most: the function's reserved concurrency and its SQS event "
        "source mappings' MaximumConcurrency (2-1000, SQS's range); under hms up, the worker processes",
    )
    bucket: StrictBool = False
    email: StrictBool = Field(default=False, description="the window sends email (SES)")
    payload: Literal["2.0", "1.0"] | None = None
    environment: dict[str, str] = Field(
        default_factory=dict,
        description="the window's own settings (HMS_*), the same in the template and under hms up",
    )

    @field_validator("environment")
    @classmethod
    def _own_settings(cls, value: dict[str, str]) -> dict[str, str]:
        for key, text in value.items():
            if not re.fullmatch(r"HMS_[A-Z][A-Z0-9_]*", key):
                raise ValueError(f"{key!r}: a window setting is named HMS_ + upper-case letters, digits, _")
            if key in PLATFORM_SETTINGS:
                raise ValueError(f"{key!r} is set by the platform and cannot be overridden")
            if not isinstance(text, str) or len(text) > 1024:
                raise ValueError(f"{key!r}: the value must be a string of at most 1024 characters")
        return value

    @property
    def payload_version(self) -> str:
        return self.payload or ("1.0" if self.framework == "chalice" else "2.0")


class RouteDecl(_Strict):
    method: str
    path: str
    scopes: list[Scope] | None = None
    rate_limited: StrictBool = True

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        up = value.upper()
        if up not in METHODS:
            raise ValueError(f"unknown method {value!r}; one of {', '.join(METHODS)}")
        return up

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        _check_path(value, allow_params=True)
        return value


def _check_path(path: str, *, allow_params: bool) -> None:
    if not path.startswith("/") or path != path.strip():
        raise ValueError(f"{path!r} must start with '/'")
    segments = path.split("/")[1:]
    for i, seg in enumerate(segments):
        if allow_params and _PARAM.match(seg):
            if seg.endswith("+}") and i != len(segments) - 1:
                raise ValueError(f"{path!r}: a greedy parameter must be the last segment")
            continue
        if not _SEGMENT.match(seg):
            raise ValueError(f"{path!r}: segment {seg!r} is not a plain path segment")


class Manifest(_Strict):
    uri: str
    upstream: str
    plugins: list[dict[str, Any]] = Field(default_factory=list)
    routes: list[RouteDecl] | None = None
    throttle: Throttle | None = None
    window: WindowOptions = Field(default_factory=WindowOptions)

    # parsed plugins (filled by the validator below)
    auth: AuthPlugin | None = None
    rate_limit: RateLimitPlugin | None = None

    @field_validator("uri")
    @classmethod
    def _uri(cls, value: str) -> str:
        if not value.endswith("/**"):
            raise ValueError(f"{value!r} must end with '/**' (the window's whole prefix)")
        prefix = value[:-3]
        if not prefix:
            raise ValueError("the uri cannot be '/**': a window owns a prefix, not the whole API")
        _check_path(prefix, allow_params=False)
        return value

    @field_validator("upstream")
    @classmethod
    def _upstream(cls, value: str) -> str:
        window_name_of(value)
        return value

    @model_validator(mode="before")
    @classmethod
    def _plugins(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError("a manifest is a mapping of uri, upstream and plugins")
        if "auth" in data or "rate_limit" in data:
            raise ValueError("'auth' and 'rate-limit' go in the plugins list")
        plugins = data.get("plugins") or []
        if not isinstance(plugins, list):
            raise ValueError("plugins must be a list of one-key mappings")
        seen: set[str] = set()
        parsed: dict[str, Any] = {}
        normalised: list[dict[str, Any]] = []
        for i, plugin in enumerate(plugins):
            if isinstance(plugin, str):  # the short form: ``plugins: [auth, rate-limit]``
                plugin = {plugin: None}
            if not isinstance(plugin, dict) or len(plugin) != 1:
                raise _PluginError(
                    f"plugins[{i}]",
                    "each plugin is a name (auth) or a mapping with exactly one key (auth: {...})",
                )
            ((name, config),) = plugin.items()
            normalised.append({name: config})
            if name not in PLUGINS:
                raise _PluginError(f"plugins[{i}]", f"unknown plugin {name!r}; known: {', '.join(PLUGINS)}")
            if name in seen:
                raise _PluginError(f"plugins[{i}]", f"plugin {name!r} appears twice")
            seen.add(name)
            model = AuthPlugin if name == "auth" else RateLimitPlugin
            if config is not None and not isinstance(config, dict):
                raise _PluginError(f"plugins[{i}].{name}", "its settings are a mapping (or nothing)")
            try:
                parsed["auth" if name == "auth" else "rate_limit"] = model.model_validate(config or {})
            except ValidationError as exc:
                err = exc.errors()[0]
                loc = re.sub(r"\.(\d+)(?=\.|$)", r"[\1]", ".".join(str(p) for p in err["loc"]))
                raise _PluginError(f"plugins[{i}].{name}" + (f".{loc}" if loc else ""), err["msg"]) from None
        return {**data, **parsed, "plugins": normalised}

    @model_validator(mode="after")
    def _routes_under_uri(self) -> Manifest:
        prefix = self.prefix
        allowed = set(self.auth.scopes) if self.auth else set()
        seen: set[tuple[str, str]] = set()
        for i, route in enumerate(self.routes or []):
            if route.path != prefix and not route.path.startswith(prefix + "/"):
                raise _PluginError(
                    f"routes[{i}].path", f"{route.path!r} is outside the manifest's uri {self.uri!r}"
                )
            key = (route.method, route.path)
            if key in seen:
                raise _PluginError(f"routes[{i}]", f"{route.method} {route.path} is declared twice")
            seen.add(key)
            if route.scopes and not self.auth:
                raise _PluginError(f"routes[{i}].scopes", "scopes need the auth plugin")
            extra = set(route.scopes or []) - allowed
            if extra:
                raise _PluginError(
                    f"routes[{i}].scopes",
                    f"{sorted(extra)} not among the auth plugin's scopes {sorted(allowed)}; a route may only narrow them",
                )
        return self

    @property
    def prefix(self) -> str:
        return self.uri[:-3]

    @property
    def window_name(self) -> str:
        return window_name_of(self.upstream)


class _PluginError(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field, self.reason = field, reason


def window_name_of(upstream: str) -> str:
    """``http://hms-svc-payments:8080`` or ``payments`` -> ``payments``."""
    text = upstream.strip()
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{upstream!r} is not an http(s) URL")
        host = parts.hostname
        name = host.removeprefix("hms-svc-")
    else:
        name = text
    if not _WINDOW_NAME.match(name):
        raise ValueError(
            f"{upstream!r} does not name a window (expected a name like 'payments' or http://hms-svc-payments:8080)"
        )
    return name


def parse_manifest(text: str, file: str) -> Manifest:
    """Parse one manifest's YAML; ``ManifestError`` names the file, the field and the reason."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "document"
        raise ManifestError(file, where, f"not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        raise ManifestError(file, "document", "the file is empty")
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        ctx_error = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_error, _PluginError):
            raise ManifestError(file, ctx_error.field, ctx_error.reason) from None
        loc = ".".join(str(p) for p in err["loc"]) or "document"
        loc = re.sub(r"\.(\d+)(?=\.|$)", r"[\1]", loc)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = f"unknown field (known: {', '.join(k for k in Manifest.model_fields if k not in ('auth', 'rate_limit'))})"
        raise ManifestError(file, loc, msg) from None


def load_manifest(path: Path, root: Path | None = None) -> Manifest:
    name = str(path.relative_to(root)) if root else str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(name, "file", f"cannot be read: {exc.strerror}") from None
    return parse_manifest(text, name)
