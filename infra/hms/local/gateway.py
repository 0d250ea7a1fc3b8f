"""The local API gateway: a raw ASGI app that behaves like API Gateway HTTP API in front of the windows.

Per request: a request id (``apigw-requestid`` and ``x-request-id``), route matching (404/405),
the 10 MB body limit (413), the JWT authorizer (401, with ``WWW-Authenticate``) and route scopes (403),
a payload 2.0 event (or 1.0, per window) built by ``hms.apigw``, the window invoked through the
``invoker``, and its proxy result turned back into an HTTP response. Every error is problem+json in
the shape of ``hmskit.problems``; nothing the gateway answers carries a traceback.

Where the local gateway deliberately differs from AWS, to make local failures easy to read:

* A window that raises answers **502**, naming the exception type. API Gateway answers 500 ``Internal
  Server Error`` for a function error; a 502 blames the window rather than the gateway.
* A window whose worker died answers 502; one that did not answer in time 504; one that cannot take
  requests now (starting, restarting) 503 with ``Retry-After``.
* A method that only other routes on the same path accept answers 405 with ``Allow`` (AWS: 404).
* ``GET /.well-known/jwks.json`` publishes the dev issuer's keys and ``GET /_hms/health`` reports the
  runtime to loopback clients only; the rest of ``/_hms/`` is the developer console
  (``hms.local.console``, loopback only too).
* Every answer carries ``x-correlation-id``: the client's valid ``X-Correlation-Id``, else the request
  id (``hmskit.correlation``; the window derives the same one from the event). ``on_request`` is told
  about each request once it is answered (the trace recorder).

Verified tokens are cached by token string until their ``exp`` (a bounded LRU): verification is a
pure function of the token and the issuer's key, and it is the most expensive step of a request. The
cache never outlives a token: ``exp``, ``nbf`` and ``iat`` must be JSON numbers (RFC 7519
NumericDate; pyjwt alone would take ``"exp": "1700000000"``), else 401, and a token without ``exp``
is verified on every request.

The request line and headers together are bounded as API Gateway HTTP API bounds them (10240 bytes,
header names counted too, so the local gateway is never the laxer of the two): past it 431 Request
Header Fields Too Large (RFC 6585), before routing and before any token is verified or cached. AWS
documents the quota, not the status it answers; 431 is the status HTTP defines for exactly this.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import math
import os
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any, Protocol

from hms.apigw import build_v1_event, build_v2_event, jwt_claims, parse_response
from hms.local.invoker import Invoker
from hms.local.routing import RouteTable
from hms.local.throttle import RouteThrottle
from hmskit.correlation import choose as choose_correlation_id
from hmskit.problems import (
    PROBLEM_CONTENT_TYPE,
    BadGatewayError,
    ForbiddenError,
    GatewayTimeoutError,
    InternalError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    Problem,
    RequestHeaderFieldsTooLargeError,
    ServiceUnavailableError,
    TooManyRequestsError,
    UnauthorizedError,
)

logger = logging.getLogger("hms.gateway")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

MAX_BODY = 10 * 1024 * 1024  # API Gateway HTTP API's payload limit
JWKS_PATH = "/.well-known/jwks.json"
HEALTH_PATH = "/_hms/health"
# The gateway's own backstop over the window's timeout: the invoker enforces the timeout itself, this
# only guarantees that a request never hangs when the invoker does not.
TIMEOUT_GRACE_SECONDS = 5.0
TOKEN_CACHE_SIZE = 1024
# API Gateway HTTP API quota "Total combined size of request line and header values": 10240 bytes,
# not adjustable (docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html).
MAX_REQUEST_LINE_AND_HEADERS = 10240

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "upgrade",
        "te",
        "trailer",
        "content-length",
        "proxy-connection",
    }
)
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost", "::ffff:127.0.0.1"})
_CLIENT_SET = frozenset({b"x-forwarded-proto", b"x-forwarded-port"})  # the gateway sets these


class Verifier(Protocol):
    def verify(self, token: str) -> Mapping[str, Any]: ...


class Site(Protocol):
    """What the gateway serves where no route matched (the portal, the dev sign-in: hms.local.portal)."""

    def handles(self, method: str, path: str) -> bool: ...

    def respond(
        self,
        method: str,
        path: str,
        query: str,
        headers: Iterable[tuple[str, str]],
        body: bytes,
        base_url: str,
    ) -> Any: ...


class _Disconnected(Exception):
    pass


class ClaimTypeError(Exception):
    """A verified token's date claim is not a JSON number (RFC 7519 NumericDate)."""


_DATE_CLAIMS = ("exp", "nbf", "iat")


def numeric_dates(claims: Mapping[str, Any]) -> float | None:
    """The token's ``exp`` (``None`` without one), once ``exp``, ``nbf`` and ``iat`` (where present)
    are checked to be finite JSON numbers; else ``ClaimTypeError`` naming the claim."""
    for name in _DATE_CLAIMS:
        if name not in claims:
            continue
        value = claims[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ClaimTypeError(
                f"the {name} claim must be a JSON number (RFC 7519 NumericDate), not {json.dumps(value)[:40]}"
            )
    exp = claims.get("exp")
    return None if exp is None else float(exp)


def request_line_and_headers_size(method: str, raw_path: str, query: bytes, headers: Headers) -> int:
    """Bytes of ``METHOD /path?query HTTP/1.1`` plus every header name and value, as sent."""
    size = len(method) + len(raw_path) + 10 + (len(query) + 1 if query else 0)
    for name, value in headers:
        size += len(name) + len(value)
    return size


class _Response:
    __slots__ = ("body", "headers", "status", "window")

    def __init__(self, status: int, headers: Headers, body: bytes, window: str | None = None) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.window = window


def new_request_id() -> str:
    """A random (version 4) UUID string, about twice as fast as ``str(uuid.uuid4())``."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def scopes_of(claims: Mapping[str, Any]) -> tuple[str, ...]:
    """The scopes a token grants: ``scope`` (space-separated) or ``scp`` (a list or a string)."""
    raw = claims.get("scope")
    if raw is None:
        raw = claims.get("scp")
    if isinstance(raw, str):
        return tuple(raw.split())
    if isinstance(raw, list | tuple):
        return tuple(str(s) for s in raw)
    return ()


def _quote(text: str) -> str:
    """``text`` made safe inside a quoted auth-param (no quotes, backslashes or control characters)."""
    return _BAD_VALUE_RE.sub(" ", text).replace("\\", "/").replace('"', "'")


class Gateway:
    """The ASGI3 app. Collaborators are injected; ``routes_provider`` is read on every request."""

    def __init__(
        self,
        routes_provider: Callable[[], RouteTable],
        invoker: Invoker,
        verifier: Verifier,
        *,
        max_body: int = MAX_BODY,
        max_header_bytes: int = MAX_REQUEST_LINE_AND_HEADERS,
        log: Callable[[str], None] | None = None,
        health_provider: Callable[[], Any] | None = None,
        jwks_provider: Callable[[], Mapping[str, Any]] | None = None,
        clock: Callable[[], float] = time.time,
        token_cache_size: int = TOKEN_CACHE_SIZE,
        timeout_grace: float = TIMEOUT_GRACE_SECONDS,
        site: Site | None = None,
        on_request: Callable[..., None] | None = None,
        console: Callable[[Scope, Receive, Send], Awaitable[None]] | None = None,
    ) -> None:
        self._routes = routes_provider
        self._invoker = invoker
        self._verifier = verifier
        self._max_body = max_body
        self._max_header_bytes = max_header_bytes
        self._log = log if log is not None else logger.info
        self._health = health_provider
        self._jwks = jwks_provider
        self._clock = clock
        self._tokens: OrderedDict[str, tuple[float, Mapping[str, Any], tuple[str, ...]]] = OrderedDict()
        self._token_cache_size = token_cache_size
        self._grace = timeout_grace
        self._site = site
        self.on_request = on_request  # settable: the console turns recording on and off
        self._console = console
        self._throttle = RouteThrottle()  # the manifests' throttle (API Gateway route throttling)

    # -- ASGI entry point --------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http":
            if kind == "lifespan":
                await _lifespan(receive, send)
            return  # websockets: not accepted (the server answers 403)
        started = time.perf_counter()
        request_id = new_request_id()
        method: str = scope["method"]
        raw_path: bytes | None = scope.get("raw_path")
        if raw_path:
            path = raw_path.decode("latin-1")
            if "?" in path:
                path = path.partition("?")[0]
        else:
            path = scope["path"]
        if path[:6] == "/_hms/" and path != HEALTH_PATH and self._console is not None:
            await self._console(scope, receive, send)  # loopback only: the console checks the client
            return
        correlation_id = request_id
        for name, value in scope["headers"]:
            if name == b"x-correlation-id":
                correlation_id = choose_correlation_id(value.decode("latin-1"), request_id)
                break
        try:
            response = await self._handle(scope, receive, method, path, request_id)
        except _Disconnected:
            self._finished(scope, method, path, 499, None, started, request_id, correlation_id)
            return
        except Exception:
            logger.exception("gateway error on %s %s (request %s)", method, path, request_id)
            response = _problem(
                InternalError("the local gateway failed on this request; its log has the details"),
                path,
                request_id,
            )
        rid = request_id.encode("ascii")
        headers = response.headers
        if response.status not in (204, 304):
            headers.append((b"content-length", str(len(response.body)).encode("ascii")))
        headers.append((b"apigw-requestid", rid))
        headers.append((b"x-request-id", rid))
        headers.append(
            (b"x-correlation-id", rid if correlation_id is request_id else correlation_id.encode())
        )
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})
        self._finished(
            scope, method, path, response.status, response.window, started, request_id, correlation_id
        )

    def _finished(
        self,
        scope: Scope,
        method: str,
        path: str,
        status: int,
        window: str | None,
        started: float,
        request_id: str,
        correlation_id: str,
    ) -> None:
        """The access log line and, when a recorder listens, the request's trace entry."""
        ms = (time.perf_counter() - started) * 1000.0
        cid = "" if correlation_id is request_id else f" cid={correlation_id}"
        self._log(f"{method} {path} {status} {window or '-'} {ms:.2f}ms {request_id}{cid}")
        if self.on_request is None:
            return
        self.on_request(
            correlation_id=correlation_id,
            request_id=request_id,
            method=method,
            path=path,
            route=scope.get("hms.route"),
            window=window,
            sub=scope.get("hms.sub"),
            status=status,
            ms=ms,
        )

    # -- one request -------------------------------------------------------------------------------
    async def _handle(self, scope: Scope, receive: Receive, method: str, path: str, rid: str) -> _Response:
        size = request_line_and_headers_size(method, path, scope.get("query_string", b""), scope["headers"])
        if size > self._max_header_bytes:
            await self._drain(receive)
            return self._headers_too_large(size, path, rid)
        if path[:2] in ("/.", "/_"):
            special = await self._special(scope, method, path, rid)
            if special is not None:
                return special
        table = self._routes()
        match = table.match(method, path)
        if match is None and self._site is not None and self._site.handles(method, path):
            served = await self._serve_site(scope, receive, method, path, rid)
            if served is not None:
                return served
        if match is None:
            allowed = table.allowed_methods(path)
            if allowed:
                return _problem(
                    MethodNotAllowedError(
                        f"{method} is not allowed on {path}; allowed: {', '.join(allowed)}",
                        headers={"allow": ", ".join(allowed)},
                    ),
                    path,
                    rid,
                )
            return _problem(NotFoundError(f"no route for {method} {path}", slug="no-route"), path, rid)
        window, route = match.window, match.route
        scope["hms.route"] = route.key  # for the trace recorder (Gateway._record)
        wait = self._throttle.retry_after(window, route)
        if wait is not None:
            await self._drain(receive)
            throttled = TooManyRequestsError(
                f"{route.key} is over its throttle (all callers together)",
                slug="throttled",
                headers={"retry-after": str(wait)},
            )
            return _problem(throttled, path, rid, window.name)

        # One pass over the headers: drop x-hms-*, note what the gateway needs.
        headers: list[tuple[str, str]] = []
        authorization: str | None = None
        content_length: str | None = None
        host = ""
        for raw_name, raw_value in scope["headers"]:
            name_b = raw_name.lower()
            if name_b.startswith(b"x-hms-") or name_b in _CLIENT_SET:
                continue
            name = name_b.decode("latin-1")
            value = raw_value.decode("latin-1")
            if name == "authorization":
                authorization = value
            elif name == "content-length":
                content_length = value
            elif name == "host":
                host = value
            headers.append((name, value))

        if content_length is not None and content_length.isdigit() and int(content_length) > self._max_body:
            await self._drain(receive)
            return self._too_large(path, rid, window.name)

        claims: Mapping[str, Any] | None = None
        token_scopes: tuple[str, ...] = ()
        if route.authorized:
            denied, claims, token_scopes = self._authorize(authorization, route.scopes, path, rid)
            if denied is not None:
                denied.window = window.name
                return denied
            scope["hms.sub"] = claims.get("sub") if claims is not None else None

        body = await self._read_body(receive)
        if body is None:
            await self._drain(receive)
        if body is None:
            return self._too_large(path, rid, window.name)

        client = scope.get("client")
        source_ip = client[0] if client else "127.0.0.1"
        server = scope.get("server")
        headers.append(("x-forwarded-for", source_ip))
        headers.append(("x-forwarded-proto", scope.get("scheme", "http")))
        if server and server[1] is not None:
            headers.append(("x-forwarded-port", str(server[1])))
        event = build_v2_event(
            method=method,
            path=path,
            route_key=route.key,
            raw_query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=body,
            path_parameters=match.path_parameters,
            claims=claims,
            scopes=list(token_scopes) if claims is not None and token_scopes else None,
            source_ip=source_ip,
            request_id=rid,
            domain=_domain(host),
            now=self._clock(),
        )
        if window.payload_version == "1.0":
            event = build_v1_event(event, resource=route.path)

        try:
            async with asyncio.timeout(window.timeout + self._grace):
                result = await self._invoker.invoke(window.name, event, timeout=window.timeout)
        except Exception as exc:
            return self._invoke_error(exc, window.name, window.timeout, path, rid)
        return self._window_response(result, window.name, window.payload_version, path, rid)

    async def _serve_site(
        self, scope: Scope, receive: Receive, method: str, path: str, rid: str
    ) -> _Response | None:
        body = await self._read_body(receive)
        if body is None:
            await self._drain(receive)
            return self._too_large(path, rid, "site")
        headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]
        host = next((v for k, v in headers if k == "host"), "") or "127.0.0.1"
        query = scope.get("query_string", b"").decode("latin-1")
        base_url = f"{scope.get('scheme', 'http')}://{host}"
        answer = self._site.respond(method, path, query, headers, body, base_url) if self._site else None
        if answer is None:
            return None
        out: Headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers]
        return _Response(answer.status, out, b"" if method == "HEAD" else answer.body)

    async def _special(self, scope: Scope, method: str, path: str, rid: str) -> _Response | None:
        if method != "GET":
            return None
        if path == JWKS_PATH and self._jwks is not None:
            return _json(200, self._jwks())
        if path == HEALTH_PATH:
            client = scope.get("client")
            if not client or client[0] not in _LOOPBACK:
                return _problem(NotFoundError(f"no route for {method} {path}", slug="no-route"), path, rid)
            report: Any = self._health() if self._health is not None else {"status": "ok"}
            if inspect.isawaitable(report):
                report = await report
            return _json(200, report)
        return None

    # -- auth --------------------------------------------------------------------------------------
    def _authorize(
        self, authorization: str | None, required: tuple[str, ...], path: str, rid: str
    ) -> tuple[_Response | None, Mapping[str, Any] | None, tuple[str, ...]]:
        token = _bearer(authorization)
        if not token:
            problem: Problem = UnauthorizedError(
                "this route needs a bearer token (Authorization: Bearer <jwt>); mint one with `hms token`",
                headers={"www-authenticate": 'Bearer realm="hms"'},
            )
            return _problem(problem, path, rid), None, ()
        try:
            claims, granted = self._verified(token)
        except Exception as exc:
            reason = str(exc) or type(exc).__name__
            problem = UnauthorizedError(
                f"the bearer token was refused: {reason}",
                headers={
                    "www-authenticate": f'Bearer realm="hms", error="invalid_token", '
                    f'error_description="{_quote(reason)}"'
                },
            )
            return _problem(problem, path, rid), None, ()
        if required and not any(s in granted for s in required):
            needed = " ".join(required)
            problem = ForbiddenError(
                f"this route needs one of the scopes {', '.join(required)}; "
                f"the token grants {', '.join(granted) or 'none'}",
                headers={
                    "www-authenticate": f'Bearer realm="hms", error="insufficient_scope", scope="{needed}"'
                },
                requiredScopes=list(required),
            )
            return _problem(problem, path, rid), None, ()
        return None, claims, granted

    def _verified(self, token: str) -> tuple[Mapping[str, Any], tuple[str, ...]]:
        now = self._clock()
        cache = self._tokens
        hit = cache.get(token)
        if hit is not None:
            if now < hit[0]:
                cache.move_to_end(token)
                return hit[1], hit[2]
            del cache[token]
        verified = self._verifier.verify(token)
        expires = numeric_dates(verified)
        granted = scopes_of(verified)
        claims = jwt_claims(verified)  # converted once per token, not per request
        if expires is not None and expires > now:
            cache[token] = (expires, claims, granted)
            if len(cache) > self._token_cache_size:
                cache.popitem(last=False)
        return claims, granted

    # -- body --------------------------------------------------------------------------------------
    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole body, or None as soon as it exceeds the limit (the rest is never buffered)."""
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        body: bytes = message.get("body", b"")
        if not message.get("more_body", False):
            return body if len(body) <= self._max_body else None
        chunks = [body]
        size = len(body)
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self._max_body:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _drain(self, receive: Receive) -> None:
        """Read and discard the rest of an oversized body, up to a bound.

        A server that answers 413 and closes while the client is still sending makes the kernel
        reset the connection, and the client then loses the 413 it was sent. Discarding the rest
        (bounded at 4x the limit; loopback reads it in milliseconds) lets the answer arrive.
        """
        discarded = 0
        bound = 4 * self._max_body
        while discarded <= bound:
            message = await receive()
            if message["type"] != "http.request":
                return
            discarded += len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    def _headers_too_large(self, size: int, path: str, rid: str) -> _Response:
        response = _problem(
            RequestHeaderFieldsTooLargeError(
                f"the request line and headers are {size} bytes; API Gateway's limit is "
                f"{self._max_header_bytes} bytes"
            ),
            path,
            rid,
        )
        response.headers.append((b"connection", b"close"))
        return response

    def _too_large(self, path: str, rid: str, window: str) -> _Response:
        limit_mb = self._max_body / (1024 * 1024)
        response = _problem(
            PayloadTooLargeError(f"the request body is larger than the gateway's limit of {limit_mb:g} MB"),
            path,
            rid,
            window,
        )
        # The body was drained (up to a bound); still, do not reuse a connection after an oversized body.
        response.headers.append((b"connection", b"close"))
        return response

    # -- the window's answer -----------------------------------------------------------------------
    def _invoke_error(self, exc: Exception, window: str, timeout: float, path: str, rid: str) -> _Response:
        problem = _problem_for(exc, window, timeout)
        if problem is None:
            logger.error("invoking the %s window failed (request %s): %r", window, rid, exc)
            problem = BadGatewayError(
                f"the gateway could not invoke the {window} window ({type(exc).__name__}); see its log"
            )
        return _problem(problem, path, rid, window)

    def _window_response(
        self, result: Any, window: str, payload_version: str, path: str, rid: str
    ) -> _Response:
        if payload_version == "1.0" and (not isinstance(result, dict) or "statusCode" not in result):
            return self._bad_response(
                window,
                f"a payload 1.0 result must be an object with a statusCode, got {type(result).__name__}",
                path,
                rid,
            )
        try:
            status, headers, body = parse_response(result, payload_version=payload_version)
        except Exception as exc:
            return self._bad_response(window, f"{type(exc).__name__}: {exc}", path, rid)
        if not 200 <= status <= 599:
            return self._bad_response(window, f"statusCode {status} is not a final HTTP status", path, rid)
        if status in (204, 304):
            body = b""  # these answers have no body; sending one would corrupt the connection
        return _Response(status, _response_headers(headers, bool(body)), body, window)

    def _bad_response(self, window: str, why: str, path: str, rid: str) -> _Response:
        logger.warning("the %s window returned a malformed response (request %s): %s", window, rid, why)
        return _problem(
            BadGatewayError(
                f"the {window} window returned a malformed response: {why}", slug="bad-window-response"
            ),
            path,
            rid,
            window,
        )


# -- error mapping: the one place where invoke errors become HTTP answers ------------------------------
def _crashed(exc: Exception, window: str, timeout: float) -> Problem:
    return BadGatewayError(
        f"the {window} window crashed while handling the request; it is being restarted",
        slug="window-crashed",
    )


def _failed(exc: Exception, window: str, timeout: float) -> Problem:
    error_type = getattr(exc, "error_type", None) or "an exception"
    return BadGatewayError(
        f"the {window} window raised {error_type} while handling the request; its log has the traceback",
        slug="window-error",
        errorType=error_type,
    )


def _timed_out(exc: Exception, window: str, timeout: float) -> Problem:
    return GatewayTimeoutError(
        f"the {window} window did not answer within its timeout of {timeout:g} s", slug="window-timeout"
    )


def _unavailable(exc: Exception, window: str, timeout: float) -> Problem:
    retry_after = getattr(exc, "retry_after", 1)
    detail = _reason(exc, window) or "it is starting or restarting"
    return ServiceUnavailableError(
        f"the {window} window cannot take requests right now: {detail}",
        slug="window-unavailable",
        headers={"retry-after": str(int(retry_after))},
    )


def _throttled(exc: Exception, window: str, timeout: float) -> Problem:
    # API Gateway answers a throttled Lambda (TooManyRequestsException) with 500; a 503 says the same
    # thing (the server is out of capacity, retry later) precisely, with Retry-After
    return ServiceUnavailableError(
        f"the {window} window is throttled: {_reason(exc, window)}",
        slug="window-throttled",
        headers={"retry-after": str(int(getattr(exc, "retry_after", 1)))},
    )


# Keyed by class name along the MRO: hms.local.errors' classes, and an invoker's own errors of those
# names (a test's, a remote runner's), map without the invoker having to import hms.local.errors.
_ERROR_MAP: dict[str, Callable[[Exception, str, float], Problem]] = {
    "WindowCrashedError": _crashed,
    "WindowFailedError": _failed,
    "WindowTimeoutError": _timed_out,
    "TimeoutError": _timed_out,
    "WindowThrottledError": _throttled,
    "WindowUnavailableError": _unavailable,
    "UnknownWindowError": _unavailable,  # a manifest reloaded ahead of the worker pool
}


def _reason(exc: Exception, window: str) -> str:
    """The error's own words, without a leading "<window>: " some raisers add."""
    text = str(getattr(exc, "message", None) or exc)
    return text.removeprefix(f"{window}: ")


def _problem_for(exc: Exception, window: str, timeout: float) -> Problem | None:
    for cls in type(exc).__mro__:
        mapper = _ERROR_MAP.get(cls.__name__)
        if mapper is not None:
            return mapper(exc, window, timeout)
    return None


# -- helpers -----------------------------------------------------------------------------------------
def _bearer(authorization: str | None) -> str | None:
    if authorization is None:
        return None
    value = authorization.strip()
    if value[:7].lower() == "bearer ":
        return value[7:].strip() or None
    # API Gateway's JWT authorizer also takes the bare token
    return value if value and " " not in value else None


def _domain(host: str) -> str:
    """The Host header without its port: the event's ``domainName``."""
    if not host:
        return "localhost"
    if host.endswith("]") or ":" not in host:
        return host
    return host.rpartition(":")[0]


def _response_headers(headers: Iterable[tuple[str, str]], has_body: bool) -> Headers:
    out: Headers = []
    has_type = False
    for name, value in headers:
        if name in _HOP_BY_HOP or not _TOKEN_RE.fullmatch(name) or _BAD_VALUE_RE.search(value):
            continue
        if name == "content-type":
            has_type = True
        out.append((name.encode("ascii"), value.encode("latin-1", "replace")))
    if has_body and not has_type:
        out.append((b"content-type", b"application/json"))
    return out


def _json(status: int, payload: Any) -> _Response:
    return _Response(
        status, [(b"content-type", b"application/json")], json.dumps(payload, default=str).encode()
    )


def _problem(problem: Problem, path: str, rid: str, window: str | None = None) -> _Response:
    body = problem.to_dict(path)
    body["requestId"] = rid
    headers: Headers = [(b"content-type", PROBLEM_CONTENT_TYPE.encode("ascii"))]
    for name, value in problem.headers.items():
        headers.append((name.lower().encode("ascii"), value.encode("latin-1", "replace")))
    return _Response(problem.status, headers, json.dumps(body, default=str).encode(), window)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
