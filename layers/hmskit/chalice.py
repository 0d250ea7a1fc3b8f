"""A Chalice app with the platform's concerns: what ``hmskit.http.WindowApp`` gives Powertools windows.

Chalice (API Gateway payload 1.0) routes on ``requestContext.resourcePath`` + ``httpMethod`` and
answers its own errors with ``{"Code": ..., "Message": ...}`` bodies. ``ChaliceWindow`` keeps
Chalice's routing and adds, around it:

- one ``http`` middleware. Chalice runs it around its whole routing step, so it sees every request,
  matched or not. It runs under ``hmskit.observability.entrypoint`` (Powertools Logger with the
  request id as correlation id, metrics flushed per invocation) and
  - answers an unknown route 404 and a known path with another method 405 (with ``Allow``) before
    Chalice looks: for an unknown resource path Chalice would answer 405 with an empty ``Allow``
    (and add the path to ``app.routes``, which the drift test reads);
  - counts the per-principal rate limit on rate-limited routes: past the limit 429 with
    ``Retry-After``; every answer of such a route carries ``X-RateLimit-*``; a failing counter 503;
  - turns any Chalice error answer that still gets through into problem+json;
- every view wrapped, so that whatever it raises becomes problem+json in ONE place
  (``_problem_for``) before Chalice's own error handler could see it;
- per-request accessors for views: ``event``, ``deps``, ``principal()``, ``header()``,
  ``json_body(model)`` (415, 413, 400 malformed, 422 naming every field).

Identity is read only from the verified authorizer context, by ``hmskit.auth`` (which reads the
flat form AWS gives payload 1.0 integrations as well as payload 2.0's ``authorizer.jwt``).

Any Chalice window uses it (eligibility does); Chalice itself is packaged with such a window
(its requirements.txt), not in the platform layer.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from chalice.app import Chalice, Request, Response

from hmskit import jsonbody
from hmskit.auth import AuthError, Principal, principal_from_event, rate_limit_key
from hmskit.observability import entrypoint, logger
from hmskit.problems import (
    PROBLEM_CONTENT_TYPE,
    BadRequestError,
    InternalError,
    MalformedJSONError,
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

if TYPE_CHECKING:
    from pydantic import BaseModel

# pydantic is imported by the routes that parse a body, never here (a health check skips it).
M = TypeVar("M", bound="BaseModel")
View = Callable[..., Response]
GetResponse = Callable[[Request | None], Response]

# Chalice's own error answers, by status, as the platform's problems.
_CHALICE_ERRORS: dict[int, type[Problem]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    404: NotFoundError,
    405: MethodNotAllowedError,
    413: PayloadTooLargeError,
    415: UnsupportedMediaTypeError,
    429: TooManyRequestsError,
    500: InternalError,
    503: ServiceUnavailableError,
}


class ChaliceDeps(Protocol):
    """What ``ChaliceWindow`` needs from a window's composition root."""

    @property
    def settings(self) -> WindowSettings: ...

    @property
    def rate_limiter(self) -> FixedWindowRateLimiter | None: ...


@dataclass(frozen=True)
class RouteSpec:
    method: str
    path: str  # API Gateway (and Chalice) syntax: /api/v1/x/{id}
    rate_limited: bool
    pattern: re.Pattern[str]


def _pattern(path: str) -> re.Pattern[str]:
    regex = re.sub(r"\\\{[^/]+?\\\+\\\}", r".+", re.escape(path))
    regex = re.sub(r"\\\{[^/]+?\\\}", r"[^/]+", regex)
    return re.compile(f"^{regex}$")


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return str(obj)
    if isinstance(obj, (datetime, date)):
        return obj.isoformat()
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    text = body if isinstance(body, str) else json.dumps(body, default=_default, separators=(",", ":"))
    return Response(
        body=text, status_code=status, headers={"Content-Type": "application/json", **(headers or {})}
    )


def problem_response(problem: Problem, instance: str | None = None) -> Response:
    return Response(
        body=problem.to_json(instance),
        status_code=problem.status,
        headers={**problem.headers, "Content-Type": PROBLEM_CONTENT_TYPE},
    )


class ChaliceWindow:
    """Registers a Chalice app's routes and wraps them with the platform's concerns.

    ``deps`` is the composition root's factory (called on the first request that needs deps; cache
    it there); ``errors`` maps a domain error class to a function building its ``Problem``.
    """

    def __init__(
        self,
        app: Chalice,
        *,
        deps: Callable[[], ChaliceDeps],
        errors: Mapping[type[Exception], Callable[[Any], Problem]] | None = None,
    ) -> None:
        self.app = app
        self._deps_factory = deps
        self._errors = dict(errors or {})
        self._routes: dict[tuple[str, str], RouteSpec] = {}
        self._injected: ChaliceDeps | None = None
        self._next: GetResponse | None = None
        app.register_middleware(self._middleware, "http")

    # -- routes -----------------------------------------------------------------------------------
    def route(self, path: str, *, method: str, rate_limited: bool = True) -> Callable[[View], View]:
        method = method.upper()

        def register(fn: View) -> View:
            @functools.wraps(fn)
            def view(**params: Any) -> Response:
                try:
                    return fn(**params)
                except Exception as exc:
                    return self._problem_answer(exc, self.event)

            # content_types */*: the body's type is checked by json_body (415 problem+json)
            self.app.route(path, methods=[method], content_types=["*/*"])(view)
            self._routes[(method, path)] = RouteSpec(method, path, rate_limited, _pattern(path))
            return fn

        return register

    def get(self, path: str, **kw: Any) -> Callable[[View], View]:
        return self.route(path, method="GET", **kw)

    def post(self, path: str, **kw: Any) -> Callable[[View], View]:
        return self.route(path, method="POST", **kw)

    # -- per-request accessors --------------------------------------------------------------------
    @property
    def request(self) -> Request:
        request = self.app.current_request
        if request is None:
            raise RuntimeError("no request is being handled")
        return request

    @property
    def event(self) -> dict[str, Any]:
        """The payload 1.0 event as API Gateway sent it."""
        event: dict[str, Any] = self.request.to_original_event()
        return event

    @property
    def deps(self) -> Any:
        return self._injected if self._injected is not None else self._deps_factory()

    def principal(self) -> Principal:
        """The caller, from ``requestContext.authorizer.jwt`` only; 401 without one."""
        try:
            return principal_from_event(self.event)
        except AuthError as exc:
            raise UnauthorizedError(str(exc)) from exc

    def header(self, name: str) -> str | None:
        value = self.request.headers.get(name)
        return None if value is None else str(value)

    def body_bytes(self) -> bytes:
        """The raw request body (base64 decoded when API Gateway encoded it), size-checked: 413."""
        event = self.event
        raw = event.get("body") or ""
        limit: int = self.deps.settings.max_body_bytes
        if event.get("isBase64Encoded"):
            if len(raw) > (limit * 4) // 3 + 4:
                raise PayloadTooLargeError(f"request body exceeds {limit} bytes")
            data = base64.b64decode(raw)
        else:
            data = raw.encode() if isinstance(raw, str) else bytes(raw)
        if len(data) > limit:
            raise PayloadTooLargeError(f"request body is {len(data)} bytes; the limit is {limit}")
        return data

    def json_body(self, model: type[M]) -> M:
        """The body validated as ``model`` from its JSON text: 415, 413, 400 (malformed), 422.

        Validated from the text (``model_validate_json``) so a strict model reads JSON as JSON:
        ISO date strings are dates, and nothing is coerced.
        """
        ctype = self.header("content-type")
        if not jsonbody.is_json_request(ctype, self.body_bytes):
            got = jsonbody.media_type(ctype) or "none"
            raise UnsupportedMediaTypeError(f"expected Content-Type application/json, got {got}")
        data = self.body_bytes()
        jsonbody.check_depth(data)  # 400 past the platform's bound, as every window answers
        from pydantic import ValidationError  # already loaded: ``model`` is a pydantic model

        try:
            return model.model_validate_json(data)
        except ValidationError as exc:
            errors = exc.errors()
            malformed = next((e for e in errors if e.get("type") == "json_invalid"), None)
            if malformed is not None:
                raise MalformedJSONError(f"request body is not valid JSON: {malformed['msg']}") from exc
            raise validation_problem(errors) from exc

    # -- entry ------------------------------------------------------------------------------------
    def handle(self, event: dict[str, Any], context: Any, deps: ChaliceDeps) -> dict[str, Any]:
        """Answer one event with ``deps`` instead of the composition root's (tests, benchmarks)."""
        self._injected = deps
        try:
            result: dict[str, Any] = self.app(event, context)
            return result
        finally:
            self._injected = None

    @functools.cached_property
    def _entry(self) -> Callable[[dict[str, Any], Any], Any]:
        # Built on the first request, not at import: the Logger reads the environment.
        return entrypoint(self._respond)

    def _middleware(self, request: Request | None, get_response: GetResponse) -> Response:
        if request is None:  # no requestContext.resourcePath: not a payload 1.0 event
            logger().error("the window received an event that is not API Gateway payload 1.0")
            return problem_response(
                InternalError(
                    "the window expects API Gateway payload 1.0 events (requestContext.resourcePath)",
                    slug="unsupported-event",
                )
            )
        self._next = get_response
        try:
            response: Response = self._entry(request.to_original_event(), request.lambda_context)
            return response
        finally:
            self._next = None

    def _respond(self, event: dict[str, Any], context: Any) -> Any:
        try:
            return self._dispatch(event)
        except Exception as exc:
            return self._problem_answer(exc, event)

    def _dispatch(self, event: dict[str, Any]) -> Response:
        ctx = event.get("requestContext") or {}
        method = str(ctx.get("httpMethod") or event.get("httpMethod") or "").upper()
        spec = self._routes.get((method, str(ctx.get("resourcePath"))))
        if spec is None:
            raise self._no_route(method, event)
        counted = self._count(event) if spec.rate_limited else {}
        if self._next is None:
            raise RuntimeError("_dispatch runs only inside the middleware")
        response = self._from_chalice_error(self._next(self.app.current_request), event)
        response.headers.update(counted)
        return response

    def _count(self, event: dict[str, Any]) -> dict[str, str]:
        """Count the request against its principal's budget; the X-RateLimit-* headers, or 429."""
        limiter: FixedWindowRateLimiter | None = self.deps.rate_limiter
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

    # -- the one place errors become HTTP ----------------------------------------------------------
    def _problem_answer(self, exc: Exception, event: Mapping[str, Any]) -> Response:
        return problem_response(self._problem_for(exc), event.get("path"))

    def _problem_for(self, exc: Exception) -> Problem:
        if isinstance(exc, Problem):
            return exc
        for klass in type(exc).__mro__:
            mapped = self._errors.get(klass)
            if mapped is not None:
                return mapped(exc)
        pydantic = sys.modules.get("pydantic")
        if pydantic is not None and isinstance(exc, pydantic.ValidationError):
            return validation_problem(exc.errors())
        if isinstance(exc, AuthError):
            return UnauthorizedError(str(exc))
        store = sys.modules.get("hmskit.store")  # loaded whenever a table was used
        if isinstance(exc, RateLimitError) or (store is not None and isinstance(exc, store.StoreError)):
            logger().exception("storage unavailable")
            return ServiceUnavailableError(
                "storage is unavailable; retry shortly", slug="storage-unavailable"
            )
        logger().exception("unhandled error")
        return InternalError("an unexpected error occurred; it has been logged")

    def _no_route(self, method: str, event: Mapping[str, Any]) -> Problem:
        path = str(event.get("path") or "")
        resource = str((event.get("requestContext") or {}).get("resourcePath") or "")
        allowed = sorted(
            {s.method for s in self._routes.values() if s.path == resource or s.pattern.match(path)}
        )
        if allowed and method not in allowed:
            return MethodNotAllowedError(
                f"{method} is not allowed on {path}; allowed: {', '.join(allowed)}",
                headers={"Allow": ", ".join(allowed)},
            )
        return NotFoundError(f"no route for {method} {path}", slug="no-route")

    def _from_chalice_error(self, response: Response, event: Mapping[str, Any]) -> Response:
        """Chalice's own error answer (``{"Code", "Message"}``), if any, as problem+json."""
        if response.status_code < 400:
            return response
        headers = {
            k: ", ".join(v) if isinstance(v, list) else str(v)
            for k, v in response.headers.items()
            if k.lower() != "content-type"
        }
        ctype = next((str(v) for k, v in response.headers.items() if k.lower() == "content-type"), "")
        if ctype.startswith(PROBLEM_CONTENT_TYPE):
            return response
        body = response.body
        message = body.get("Message") if isinstance(body, dict) else None
        status = response.status_code
        detail = str(message or f"the window answered {status}")
        klass = _CHALICE_ERRORS.get(status)
        problem = (
            klass(detail, headers=headers)
            if klass
            else Problem(detail, status=status, slug=f"http-{status}", headers=headers)
        )
        if status >= 500:
            logger().error("chalice answered %s: %s", status, detail)
        return problem_response(problem, event.get("path"))
