"""The HTTP core every window shares, whatever its framework.

Routes (API Gateway path syntax), body reading and its limit, the error map, 404/405, the rate limit
and its headers: everything a client can observe is decided here, once. ``hmskit.http``
(Powertools, payload 2.0) and ``hmskit.chalice`` (Chalice, payload 1.0) subclass ``WindowCore`` and
add only their framework's glue: registering a view, finding the current event and route, and
building the framework's response.
"""

from __future__ import annotations

import base64
import json
import re
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from hmskit import jsonbody
from hmskit.auth import AuthError, Principal, principal_from_event, rate_limit_key
from hmskit.observability import logger
from hmskit.problems import (
    InternalError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    Problem,
    ServiceUnavailableError,
    TooManyRequestsError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
    validation_problem,
)
from hmskit.ratelimit import FixedWindowRateLimiter, RateLimitError
from hmskit.settings import WindowSettings

F = TypeVar("F", bound=Callable[..., Any])

# A domain error class -> its Problem: a Problem class (given ``str(exc)``) or a function of the error.
ErrorMap = Mapping[type[Exception], Callable[[Any], Problem]]


class CoreDeps(Protocol):
    """What the core needs from a window's composition root."""

    @property
    def settings(self) -> WindowSettings: ...

    @property
    def rate_limiter(self) -> FixedWindowRateLimiter | None: ...


def route_pattern(path: str) -> re.Pattern[str]:
    """The regex of an API Gateway path: ``{id}`` is one segment, ``{proxy+}`` one or more."""
    regex = re.sub(r"\\\{[^/]+?\\\+\\\}", r".+", re.escape(path))
    regex = re.sub(r"\\\{[^/]+?\\\}", r"[^/]+", regex)
    return re.compile(f"^{regex}$")


@dataclass(frozen=True)
class RouteSpec:
    """One served route, as its decorator declares it (the drift test compares it with the manifest)."""

    method: str
    path: str  # API Gateway syntax: /api/v1/payments/{id}
    rate_limited: bool = True
    idempotent: bool | None = None  # None: the decorator does not say
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern", route_pattern(self.path))


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return str(obj)
    if isinstance(obj, (datetime, date)):
        return obj.isoformat()
    # Looked up, not imported: a route that parses no body never loads pydantic.
    pydantic = sys.modules.get("pydantic")
    if pydantic is not None and isinstance(obj, pydantic.BaseModel):
        return obj.model_dump(mode="json")
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def dumps(obj: Any) -> str:
    """Compact JSON; ``Decimal`` as a string, dates in ISO form, pydantic models as JSON."""
    return json.dumps(obj, default=_default, separators=(",", ":"))


def read_body(event: Mapping[str, Any], limit: int) -> bytes:
    """The raw body of an API Gateway event (base64 decoded when encoded); 413 past ``limit`` bytes."""
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        if len(raw) > (limit * 4) // 3 + 4:  # refused before decoding
            raise PayloadTooLargeError(f"request body exceeds {limit} bytes")
        data = base64.b64decode(raw)
    else:
        data = raw.encode() if isinstance(raw, str) else bytes(raw)
    if len(data) > limit:
        raise PayloadTooLargeError(f"request body is {len(data)} bytes; the limit is {limit}")
    return data


def problem_for(exc: Exception, errors: ErrorMap) -> Problem:
    """The one place an exception becomes HTTP: the window's map first, then the platform's."""
    if isinstance(exc, Problem):
        return exc
    for klass in type(exc).__mro__:
        mapped = errors.get(klass)
        if mapped is not None:
            named_class = isinstance(mapped, type) and issubclass(mapped, Problem)
            return mapped(str(exc)) if named_class else mapped(exc)
    pydantic = sys.modules.get("pydantic")
    if pydantic is not None and isinstance(exc, pydantic.ValidationError):
        return validation_problem(exc.errors())
    if isinstance(exc, AuthError):
        return UnauthorizedError(str(exc))
    store = sys.modules.get("hmskit.store")  # loaded whenever a table was used
    if isinstance(exc, RateLimitError) or (store is not None and isinstance(exc, store.StoreError)):
        logger().exception("storage unavailable")
        return ServiceUnavailableError("storage is unavailable; retry shortly", slug="storage-unavailable")
    logger().exception("unhandled error")
    return InternalError("an unexpected error occurred; it has been logged")


def count_request(limiter: FixedWindowRateLimiter | None, event: Mapping[str, Any]) -> dict[str, str]:
    """Count a request against its principal's budget: the ``X-RateLimit-*`` headers, or 429."""
    if limiter is None:
        return {}
    decision = limiter.hit(rate_limit_key(event))
    if not decision.allowed:
        raise TooManyRequestsError(
            f"rate limit of {decision.limit} requests per {limiter.rule.window} s reached; "
            f"retry after {decision.reset_after} s",
            headers=decision.headers(),
            limit=decision.limit,
            window=limiter.rule.window,
        )
    return decision.headers()


class WindowCore(ABC):
    """A window's routes and per-request helpers; an adapter supplies the framework's glue."""

    def __init__(self, window: str, errors: ErrorMap | None = None) -> None:
        self.window = window
        self._errors: dict[type[Exception], Callable[[Any], Problem]] = dict(errors or {})
        self._routes: dict[tuple[str, str], RouteSpec] = {}

    # -- what an adapter provides -----------------------------------------------------------------
    @property
    @abstractmethod
    def raw_event(self) -> Mapping[str, Any]:
        """The current request's event as API Gateway sent it."""

    @property
    @abstractmethod
    def deps(self) -> Any:
        """The current request's dependencies (a ``CoreDeps`` at least)."""

    @abstractmethod
    def header(self, name: str) -> str | None:
        """A request header, by case-insensitive name."""

    @abstractmethod
    def _register(self, spec: RouteSpec, view: Callable[..., Any]) -> None:
        """Hand a view to the framework's router."""

    # -- routes -----------------------------------------------------------------------------------
    def _declare(
        self, method: str, path: str, *, rate_limited: bool = True, idempotent: bool | None = None
    ) -> Callable[[F], F]:
        spec = RouteSpec(method.upper(), path, rate_limited, idempotent)

        def declare(fn: F) -> F:
            self._register(spec, fn)
            self._routes[(spec.method, spec.path)] = spec
            return fn

        return declare

    def get(
        self, path: str, *, rate_limited: bool = True, idempotent: bool | None = None
    ) -> Callable[[F], F]:
        return self._declare("GET", path, rate_limited=rate_limited, idempotent=idempotent)

    def post(
        self, path: str, *, rate_limited: bool = True, idempotent: bool | None = None
    ) -> Callable[[F], F]:
        return self._declare("POST", path, rate_limited=rate_limited, idempotent=idempotent)

    def route_specs(self) -> list[RouteSpec]:
        """Every route this window serves, by (method, path)."""
        return [self._routes[key] for key in sorted(self._routes)]

    def route_table(self) -> list[tuple[str, str]]:
        """Every (method, path) this window serves."""
        return sorted(self._routes)

    def _spec(self, method: str, path: str) -> RouteSpec | None:
        return self._routes.get((method, path))

    def no_route(self, method: str, path: str, resource: str | None = None) -> Problem:
        """405 with ``Allow`` when another method serves ``path`` (or its ``resource``), else 404."""
        allowed = sorted(
            {s.method for s in self._routes.values() if s.path == resource or s.pattern.match(path)}
        )
        if allowed and method not in allowed:
            return MethodNotAllowedError(
                f"{method} is not allowed on {path}; allowed: {', '.join(allowed)}",
                headers={"Allow": ", ".join(allowed)},
            )
        return NotFoundError(f"no route for {method} {path}", slug="no-route")

    # -- per request ------------------------------------------------------------------------------
    def principal(self) -> Principal:
        """The caller, from the verified authorizer context only; 401 without one."""
        try:
            return principal_from_event(self.raw_event)
        except AuthError as exc:
            raise UnauthorizedError(str(exc)) from exc

    def body_bytes(self) -> bytes:
        """The raw request body, size-checked against the window's limit (413)."""
        limit: int = self.deps.settings.max_body_bytes
        return read_body(self.raw_event, limit)

    def json_bytes(self) -> bytes:
        """The body of a JSON request (415 for any other type), size-checked (413)."""
        ctype = self.header("content-type")
        if not jsonbody.is_json_request(ctype, self.body_bytes):
            got = jsonbody.media_type(ctype) or "none"
            raise UnsupportedMediaTypeError(f"expected Content-Type application/json, got {got}")
        return self.body_bytes()

    def problem_for(self, exc: Exception) -> Problem:
        return problem_for(exc, self._errors)

    def count(self, spec: RouteSpec | None) -> dict[str, str]:
        """The rate limit of a rate-limited route: its headers, or 429; nothing for other routes."""
        if spec is None or not spec.rate_limited:
            return {}
        limiter: FixedWindowRateLimiter | None = self.deps.rate_limiter
        return count_request(limiter, self.raw_event)
