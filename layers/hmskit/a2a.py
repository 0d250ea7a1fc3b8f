"""Window-to-window (A2A) HTTP calls, made with the calling citizen's own bearer token.

A window never calls another with credentials of its own: it forwards the token it was called with,
so the called window (behind the same API Gateway and JWT authorizer) sees the same citizen, the
same scopes and the same rate limit. ``bearer_token(event)`` reads that token from the API Gateway
event; ``A2AClient.call`` discovers the window's base URL (``hmskit.discovery``), sends JSON and
answers an ``A2AResponse`` for every status listed in ``expect``. Anything else becomes a problem
the calling window answers as is, with ``upstream_window`` and ``upstream_status`` extensions (and
``upstream_detail``, ``upstream_type`` when the upstream answered problem+json):

=================================================  ================================================
what happened                                      raised
=================================================  ================================================
no token to forward                                401 ``MissingTokenError``
no endpoint for the window                         503 ``DiscoveryError``
connection refused / name not resolved              503 ``ServiceUnavailableError`` (slug upstream-unreachable)
no connection or no answer within ``timeout_ms``   504 ``GatewayTimeoutError`` (slug upstream-timeout)
upstream 429                                       503 ``ServiceUnavailableError``, ``Retry-After`` passed on
upstream 5xx, unexpected status, connection reset  502 ``BadGatewayError`` (slug upstream-error)
a body that is not JSON (or too large)             502 ``BadGatewayError``
=================================================  ================================================

Retries: a refused connection is retried once, after the cached endpoint is expired (the window
may have moved): nothing reached the upstream, so even a POST is safe to send again. A timeout is
never retried: the request may have reached the upstream, which may have acted on it (a POST
retried could create a second payment), and the time budget is spent anyway. A caller that wants
a safe retry sends an ``Idempotency-Key`` header and decides itself.

One ``urllib3.PoolManager`` per client, kept for the life of the process: a warm Lambda reuses its
keep-alive connections. urllib3 comes with botocore; nothing else is added to the runtime.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import uuid
from collections.abc import Collection, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)

from hmskit.problems import (
    PROBLEM_CONTENT_TYPE,
    BadGatewayError,
    GatewayTimeoutError,
    Problem,
    ServiceUnavailableError,
    UnauthorizedError,
)

if TYPE_CHECKING:
    from hmskit.clock import Clock
    from hmskit.discovery import Discovery, ServiceEndpoint
    from hmskit.settings import WindowSettings

MAX_RESPONSE_BYTES = 6 * 1024 * 1024  # what a Lambda may answer anyway
USER_AGENT = "hms-a2a/1"
_BEARER = re.compile(r"\s*bearer\s+(\S+)\s*\Z", re.IGNORECASE)


class Resolver(Protocol):
    """What the client needs of ``hmskit.discovery.Discovery``."""

    def resolve(self, window: str) -> ServiceEndpoint: ...

    def expire(self, window: str) -> None: ...


class MissingTokenError(UnauthorizedError):
    """A window-to-window call was attempted without the caller's bearer token."""

    slug = "missing-token"


@dataclasses.dataclass(frozen=True)
class A2AResponse:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: Any  # parsed JSON (numbers with a fraction as Decimal); None when the body is empty


# -- the caller's token ------------------------------------------------------------------------------
def bearer_token(event: Mapping[str, Any]) -> str | None:
    """The raw bearer token of the request in an API Gateway event (payload 2.0 or 1.0); ``None``
    when the request carried none. Header names are matched case-insensitively."""
    for key in ("headers", "multiValueHeaders"):
        headers = event.get(key)
        if not isinstance(headers, Mapping):
            continue
        for name, value in headers.items():
            if not isinstance(name, str) or name.lower() != "authorization":
                continue
            if isinstance(value, list):  # 1.0 multiValueHeaders
                value = value[0] if value else None
            if isinstance(value, str):
                match = _BEARER.match(value)
                if match:
                    return match.group(1)
    return None


# -- JSON ------------------------------------------------------------------------------------------
def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # money stays exact: "12.50", never a float
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    model_dump = getattr(value, "model_dump", None)  # a pydantic model
    if callable(model_dump):
        return model_dump(mode="json")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def encode_json(body: Any) -> bytes:
    """``body`` as compact JSON: ``Decimal`` as a string, dates and times in ISO 8601."""
    return json.dumps(body, default=_json_default, separators=(",", ":"), ensure_ascii=False).encode()


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


# -- the client ------------------------------------------------------------------------------------
class A2AClient:
    """Synchronous HTTP calls to other windows; build one per process and keep it."""

    def __init__(self, discovery: Resolver, timeout_ms: int, http: urllib3.PoolManager | None = None) -> None:
        if timeout_ms <= 0:
            raise ValueError(f"timeout_ms must be greater than 0, got {timeout_ms}")
        self.discovery = discovery
        self.timeout_ms = timeout_ms
        self._http = http or urllib3.PoolManager(num_pools=8, maxsize=4, retries=False)

    def call(
        self,
        window: str,
        method: str,
        path: str,
        *,
        token: str | None,
        json_body: Any = None,
        correlation_id: str | None = None,
        expect: Collection[int] = (200,),
        headers: Mapping[str, str] | None = None,
    ) -> A2AResponse:
        """Call ``method path`` on ``window`` with the caller's ``token``; see the module docstring
        for what is raised. ``path`` is joined to the window's base URL (a query string may follow).
        ``headers`` adds request headers (e.g. ``Idempotency-Key``)."""
        token = self._check_token(window, token)
        method = method.upper()
        request_headers = {
            "Accept": f"application/json, {PROBLEM_CONTENT_TYPE}",
            "User-Agent": USER_AGENT,
            # the token forwarded is always the caller's: no other Authorization gets through
            **{k: v for k, v in (headers or {}).items() if k.lower() != "authorization"},
            "Authorization": f"Bearer {token}",
        }
        if correlation_id:
            request_headers["X-Correlation-Id"] = correlation_id
        body: bytes | None = None
        if json_body is not None:
            body = encode_json(json_body)
            request_headers["Content-Type"] = "application/json"

        endpoint = self.discovery.resolve(window)
        url = _join(endpoint.base_url, path)
        try:
            resp = self._send(method, url, body, request_headers)
        except NewConnectionError:
            # Nothing reached the upstream: safe to try once more, at a freshly discovered URL.
            self.discovery.expire(window)
            endpoint = self.discovery.resolve(window)
            url = _join(endpoint.base_url, path)
            try:
                resp = self._send(method, url, body, request_headers)
            except HTTPError as exc:
                raise self._transport_problem(window, method, url, exc) from exc
        except HTTPError as exc:
            raise self._transport_problem(window, method, url, exc) from exc
        return self._answer(window, method, path, resp, expect)

    # -- internals ---------------------------------------------------------------------------------
    @staticmethod
    def _check_token(window: str, token: str | None) -> str:
        if token is not None:
            match = _BEARER.match(token)  # tolerate a whole "Bearer ..." header value
            if match:
                token = match.group(1)
        if not token or not token.strip() or any(c.isspace() or ord(c) < 32 for c in token):
            raise MissingTokenError(
                f"calling {window} needs the caller's bearer token, and none was given: "
                "a window calls another only on behalf of an authenticated caller",
                upstream_window=window,
            )
        return token

    def _send(self, method: str, url: str, body: bytes | None, headers: dict[str, str]) -> _Raw:
        seconds = self.timeout_ms / 1000
        resp = self._http.request(
            method,
            url,
            body=body,
            headers=headers,
            timeout=urllib3.Timeout(total=seconds, connect=seconds, read=seconds),
            retries=False,
            redirect=False,
            preload_content=False,
        )
        try:
            data = resp.read(MAX_RESPONSE_BYTES + 1)
            too_large = len(data) > MAX_RESPONSE_BYTES
            if too_large:
                resp.close()  # do not drain the rest into a pooled connection
            else:
                resp.drain_conn()
        finally:
            resp.release_conn()
        return _Raw(resp.status, {k.lower(): v for k, v in resp.headers.items()}, data, too_large)

    def _transport_problem(self, window: str, method: str, url: str, exc: HTTPError) -> Problem:
        if isinstance(exc, NameResolutionError):
            return ServiceUnavailableError(
                f"{window} is unreachable at {url}: its host name does not resolve",
                slug="upstream-unreachable",
                upstream_window=window,
            )
        if isinstance(exc, NewConnectionError):  # before ConnectTimeoutError: it subclasses it
            return ServiceUnavailableError(
                f"{window} is unreachable at {url}: {_reason(exc)}",
                slug="upstream-unreachable",
                upstream_window=window,
            )
        if isinstance(exc, ConnectTimeoutError):
            return GatewayTimeoutError(
                f"{window} did not accept a connection within {self.timeout_ms} ms at {url}",
                slug="upstream-timeout",
                upstream_window=window,
            )
        if isinstance(exc, ReadTimeoutError):
            return GatewayTimeoutError(
                f"{window} did not answer within {self.timeout_ms} ms ({method} {url})",
                slug="upstream-timeout",
                upstream_window=window,
            )
        if isinstance(exc, ProtocolError):
            return BadGatewayError(
                f"{window} closed the connection without a complete answer ({method} {url}): {_reason(exc)}",
                slug="upstream-error",
                upstream_window=window,
            )
        return BadGatewayError(
            f"calling {window} failed ({method} {url}): {_reason(exc)}",
            slug="upstream-error",
            upstream_window=window,
        )

    def _answer(self, window: str, method: str, path: str, raw: _Raw, expect: Collection[int]) -> A2AResponse:
        what = f"{method} {path}"
        content_type = raw.headers.get("content-type", "")
        ext: dict[str, Any] = {"upstream_window": window, "upstream_status": raw.status}
        if raw.too_large:
            raise BadGatewayError(
                f"{window} answered {what} with a body over {MAX_RESPONSE_BYTES} bytes",
                slug="upstream-error",
                **ext,
            )
        body, parse_error = _parse(raw.data, content_type)

        if raw.status in expect:
            if parse_error:
                raise BadGatewayError(
                    f"{window} answered {raw.status} to {what} with {parse_error}",
                    slug="upstream-error",
                    **ext,
                )
            return A2AResponse(raw.status, raw.headers, body)

        if isinstance(body, Mapping) and _is_problem(content_type, body):
            if isinstance(body.get("detail"), str):
                ext["upstream_detail"] = body["detail"]
            if isinstance(body.get("type"), str):
                ext["upstream_type"] = body["type"]
        told = f": {ext['upstream_detail']}" if "upstream_detail" in ext else ""

        if raw.status == 429:
            retry_after = raw.headers.get("retry-after")
            wait = f"; retry after {retry_after} s" if retry_after else ""
            raise ServiceUnavailableError(
                f"{window} is rate limiting these calls ({what} answered 429){wait}{told}",
                slug="upstream-rate-limited",
                headers={"Retry-After": retry_after} if retry_after else None,
                **ext,
            )
        if raw.status >= 500:
            raise BadGatewayError(
                f"{window} failed: {what} answered {raw.status}{told}", slug="upstream-error", **ext
            )
        expected = ", ".join(str(s) for s in sorted(expect)) or "nothing"
        raise BadGatewayError(
            f"{window} answered {raw.status} to {what} (expected {expected}){told}",
            slug="upstream-error",
            **ext,
        )


@dataclasses.dataclass(frozen=True)
class _Raw:
    status: int
    headers: dict[str, str]
    data: bytes
    too_large: bool


def _join(base_url: str, path: str) -> str:
    return f"{base_url.rstrip('/')}/{path.lstrip('/')}"


def _reason(exc: HTTPError) -> str:
    """The root cause in a few words ("connection refused"), not urllib3's whole message."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ConnectionResetError):
            return "connection reset by peer"
        if (
            isinstance(cause, ProtocolError)
            and len(cause.args) > 1
            and isinstance(cause.args[1], BaseException)
        ):
            cause = cause.args[1]  # ("Connection aborted.", RemoteDisconnected(...))
            if not isinstance(cause, (ConnectionRefusedError, ConnectionResetError)):
                return str(cause) or type(cause).__name__
            continue
        cause = cause.__cause__ or cause.__context__
    return str(exc)


def _parse(data: bytes, content_type: str) -> tuple[Any, str | None]:
    """The JSON body (``None`` when empty) and why it is not JSON (``None`` when it is)."""
    if not data.strip():
        return None, None
    if content_type and not _is_json(content_type):
        media = content_type.split(";", 1)[0].strip()
        return None, f"a non-JSON body ({media})"
    try:
        return json.loads(data, parse_float=Decimal), None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        return None, f"a body that is not valid JSON ({exc})"


def _is_problem(content_type: str, body: Mapping[str, Any]) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == PROBLEM_CONTENT_TYPE or ("status" in body and "title" in body)


def a2a_from_settings(
    settings: WindowSettings, *, discovery: Discovery | None = None, clock: Clock | None = None
) -> A2AClient:
    """The window's A2A client: its discovery (built from the settings unless given) and its
    ``a2a_timeout_ms`` (``HMS_A2A_TIMEOUT_MS``)."""
    if discovery is None:
        from hmskit.discovery import discovery_from_settings

        discovery = discovery_from_settings(settings, clock)
    return A2AClient(discovery, settings.a2a_timeout_ms)
