"""The local gateway, driven as an ASGI app (no sockets), with an in-memory invoker and verifier."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from support.kit import FakeVerifier

from hms.local.errors import (
    WindowCrashedError,
    WindowFailedError,
    WindowTimeoutError,
    WindowUnavailableError,
)
from hms.local.gateway import Gateway
from hms.local.routing import RouteTable
from hms.model import Route, Window

NOW = 1_800_000_000.0


def window(name: str, routes: list[Route], *, payload_version: str = "2.0", timeout: int = 10) -> Window:
    return Window(
        name=name,
        manifest_file=f"routes/{name}.yaml",
        uri=f"/api/v1/{name}/**",
        prefix=f"/api/v1/{name}",
        routes=tuple(routes),
        proxy=False,
        scopes=(),
        rate_limit=None,
        throttle=None,
        framework="powertools",
        payload_version=payload_version,
        timeout=timeout,
        memory=256,
        bucket=False,
        code_dir=f"functions/{name}",
    )


PAYMENTS = window(
    "payments",
    [
        Route("POST", "/api/v1/payments", ("payments.write",), True, True),
        Route("GET", "/api/v1/payments", ("payments.read",), True, True),
        Route("GET", "/api/v1/payments/{id}", ("payments.read", "payments.admin"), True, True),
        Route("GET", "/api/v1/payments/health", (), False, False),
        Route("ANY", "/api/v1/payments/any/{proxy+}", (), True, True),
    ],
)
LEGACY = window("legacy", [Route("ANY", "/api/v1/legacy/{proxy+}", (), False, True)], payload_version="1.0")


class FakeInvoker:
    """Records every event; answers with ``result`` or raises ``error``."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any], float]] = []
        self.result: Any = {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": "{}"}
        self.error: Exception | None = None

    async def invoke(self, window_name: str, event: dict[str, Any], *, timeout: float) -> Any:
        self.events.append((window_name, event, timeout))
        if self.error is not None:
            raise self.error
        return self.result

    @property
    def event(self) -> dict[str, Any]:
        return self.events[-1][1]


TOKENS: dict[str, dict[str, Any]] = {
    "reader": {"sub": "alice", "scope": "payments.read", "exp": int(NOW) + 600, "roles": ["a", "b"]},
    "writer": {"sub": "bob", "scp": ["payments.write"], "exp": int(NOW) + 600},
    "nobody": {"sub": "eve", "exp": int(NOW) + 600},
    "short": {"sub": "carol", "scope": "payments.read", "exp": int(NOW) + 5},
}


@dataclass
class Clock:
    now: float = NOW

    def __call__(self) -> float:
        return self.now


@dataclass
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.decode() == name:
                return v.decode("latin-1")
        return None

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Rig:
    invoker: FakeInvoker = field(default_factory=FakeInvoker)
    verifier: FakeVerifier = field(default_factory=lambda: FakeVerifier(TOKENS))
    clock: Clock = field(default_factory=Clock)
    lines: list[str] = field(default_factory=list)
    windows: tuple[Window, ...] = (PAYMENTS, LEGACY)
    max_body: int = 1024

    def app(self, **kw: Any) -> Gateway:
        routes = RouteTable([(w, r) for w in self.windows for r in w.routes])
        return Gateway(
            lambda: routes,
            self.invoker,
            self.verifier,
            max_body=self.max_body,
            log=self.lines.append,
            clock=self.clock,
            **kw,
        )

    def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        chunks: list[bytes] | None = None,
        query: str = "",
        client: tuple[str, int] = ("127.0.0.1", 50000),
        app: Gateway | None = None,
    ) -> Answer:
        hdrs = [(k.lower().encode(), v.encode()) for k, v in (headers or [])]
        hdrs.append((b"host", b"localhost:3000"))
        if token is not None:
            hdrs.append((b"authorization", f"Bearer {token}".encode()))
        parts = chunks if chunks is not None else [body]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "headers": hdrs,
            "client": client,
            "server": ("127.0.0.1", 3000),
        }
        return asyncio.run(drive(app or self.app(), scope, parts))


async def drive(app: Gateway, scope: dict[str, Any], parts: list[bytes]) -> Answer:
    incoming = [
        {"type": "http.request", "body": p, "more_body": i < len(parts) - 1} for i, p in enumerate(parts)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop(0)
        await asyncio.sleep(3600)  # a real server would wait for the disconnect
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    await asyncio.wait_for(app(scope, receive, send), 5)
    start, body = sent
    assert start["type"] == "http.response.start" and body["type"] == "http.response.body"
    return Answer(start["status"], list(start["headers"]), body["body"])


@pytest.fixture
def rig() -> Rig:
    return Rig()


def assert_problem(answer: Answer, status: int) -> dict[str, Any]:
    assert answer.status == status
    assert answer.header("content-type") == "application/problem+json"
    problem = answer.json()
    assert problem["status"] == status
    assert problem["type"].startswith("https://")
    assert {"title", "detail", "instance"} <= set(problem)
    assert "Traceback" not in answer.body.decode()
    return problem


# -- routing ------------------------------------------------------------------------------------------
def test_an_unknown_path_is_a_404_problem(rig: Rig) -> None:
    problem = assert_problem(rig.call("GET", "/api/v1/nothing"), 404)
    assert problem["instance"] == "/api/v1/nothing"
    assert rig.invoker.events == []


def test_a_method_only_other_routes_accept_is_a_405_with_allow(rig: Rig) -> None:
    answer = rig.call("DELETE", "/api/v1/payments", token="reader")
    assert_problem(answer, 405)
    assert answer.header("allow") == "GET, POST"


def test_every_answer_carries_the_request_id_and_one_access_line(rig: Rig) -> None:
    answer = rig.call("GET", "/api/v1/payments/p-1", token="reader")
    rid = answer.header("apigw-requestid")
    assert rid and answer.header("x-request-id") == rid
    assert uuid.UUID(rid).version == 4 and str(uuid.UUID(rid)) == rid
    assert rig.invoker.event["requestContext"]["requestId"] == rid
    (line,) = rig.lines
    assert line.startswith("GET /api/v1/payments/p-1 200 payments ") and line.endswith(rid)
    assert_problem(rig.call("GET", "/nope"), 404)
    assert rig.lines[-1].startswith("GET /nope 404 - ")


# -- auth ---------------------------------------------------------------------------------------------
def test_a_missing_token_is_a_401_with_a_bearer_challenge(rig: Rig) -> None:
    answer = rig.call("GET", "/api/v1/payments/p-1")
    assert_problem(answer, 401)
    assert (answer.header("www-authenticate") or "").startswith("Bearer")
    assert rig.invoker.events == []


def test_an_invalid_token_is_a_401_naming_the_reason(rig: Rig) -> None:
    answer = rig.call("GET", "/api/v1/payments/p-1", token="forged")
    problem = assert_problem(answer, 401)
    assert "bad signature" in problem["detail"]
    challenge = answer.header("www-authenticate") or ""
    assert 'error="invalid_token"' in challenge and 'error_description="bad signature"' in challenge


def test_a_token_without_a_required_scope_is_a_403_naming_the_scopes(rig: Rig) -> None:
    answer = rig.call("GET", "/api/v1/payments/p-1", token="writer")
    problem = assert_problem(answer, 403)
    assert "payments.read" in problem["detail"] and "payments.admin" in problem["detail"]
    assert problem["requiredScopes"] == ["payments.read", "payments.admin"]
    assert rig.invoker.events == []


def test_a_route_without_scopes_takes_any_valid_token(rig: Rig) -> None:
    assert rig.call("GET", "/api/v1/payments/any/x", token="nobody").status == 200


def test_scp_claims_grant_scopes_too(rig: Rig) -> None:
    assert rig.call("POST", "/api/v1/payments", token="writer", body=b"{}").status == 200
    assert rig.invoker.event["requestContext"]["authorizer"]["jwt"]["scopes"] == ["payments.write"]


def test_a_public_route_needs_no_token_and_gets_no_authorizer(rig: Rig) -> None:
    assert rig.call("GET", "/api/v1/payments/health").status == 200
    assert "authorizer" not in rig.invoker.event["requestContext"]


def test_verified_tokens_are_cached_until_they_expire(rig: Rig) -> None:
    app = rig.app()
    for _ in range(3):
        assert rig.call("GET", "/api/v1/payments/p-1", token="short", app=app).status == 200
    assert rig.verifier.calls == 1
    rig.clock.now = NOW + 6  # past exp: verified again (and the fake still says yes)
    rig.call("GET", "/api/v1/payments/p-1", token="short", app=app)
    assert rig.verifier.calls == 2


def test_the_token_cache_is_bounded(rig: Rig) -> None:
    app = rig.app(token_cache_size=2)
    for name in ("reader", "short", "nobody", "reader"):
        rig.call("GET", "/api/v1/payments/any/x", token=name, app=app)
    assert rig.verifier.calls == 4  # "reader" was evicted by the third token


# -- the event ----------------------------------------------------------------------------------------
def test_the_event_is_a_payload_2_0_event_for_the_route(rig: Rig) -> None:
    rig.call(
        "GET",
        "/api/v1/payments/p%201",
        token="reader",
        query="a=1&a=2&b=",
        headers=[("Cookie", "s=1; t=2"), ("User-Agent", "pytest"), ("X-Forwarded-For", "10.0.0.9")],
        client=("127.0.0.7", 41000),
    )
    name, event, timeout = rig.invoker.events[-1]
    assert (name, timeout) == ("payments", 10)
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /api/v1/payments/{id}"
    assert event["rawPath"] == "/api/v1/payments/p%201"
    assert event["rawQueryString"] == "a=1&a=2&b="
    assert event["queryStringParameters"] == {"a": "1,2", "b": ""}
    assert event["pathParameters"] == {"id": "p 1"}
    assert event["cookies"] == ["s=1", "t=2"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-forwarded-for"] == "10.0.0.9,127.0.0.7"
    assert event["headers"]["x-forwarded-proto"] == "http"
    ctx = event["requestContext"]
    assert ctx["routeKey"] == "GET /api/v1/payments/{id}"
    assert ctx["http"] == {
        "method": "GET",
        "path": "/api/v1/payments/p%201",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.7",
        "userAgent": "pytest",
    }
    assert ctx["domainName"] == "localhost"
    assert ctx["timeEpoch"] == int(NOW * 1000)
    jwt = ctx["authorizer"]["jwt"]
    assert jwt["claims"]["sub"] == "alice"
    assert jwt["claims"]["exp"] == str(int(NOW) + 600)  # claims arrive as strings, as in AWS
    assert jwt["claims"]["roles"] == "[a b]"
    assert jwt["scopes"] == ["payments.read"]


def test_client_sent_x_hms_headers_never_reach_the_window(rig: Rig) -> None:
    rig.call(
        "GET",
        "/api/v1/payments/p-1",
        token="reader",
        headers=[("X-HMS-User", "admin"), ("x-hms-scopes", "all"), ("X-Hmsish", "kept")],
    )
    headers = rig.invoker.event["headers"]
    assert not any(k.startswith("x-hms-") for k in headers)
    assert headers["x-hmsish"] == "kept"


def test_a_binary_body_arrives_base64_encoded_and_a_text_body_as_text(rig: Rig) -> None:
    blob = bytes(range(256))
    rig.call(
        "POST",
        "/api/v1/payments",
        token="writer",
        headers=[("content-type", "image/png")],
        chunks=[blob[:100], blob[100:]],
    )
    event = rig.invoker.event
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == blob
    rig.call(
        "POST",
        "/api/v1/payments",
        token="writer",
        headers=[("content-type", "application/json")],
        body=b'{"a":1}',
    )
    assert rig.invoker.event["body"] == '{"a":1}' and rig.invoker.event["isBase64Encoded"] is False


def test_a_payload_1_0_window_gets_a_1_0_event(rig: Rig) -> None:
    rig.call("PUT", "/api/v1/legacy/a/b", query="x=1", body=b"hi", headers=[("content-type", "text/plain")])
    name, event, _ = rig.invoker.events[-1]
    assert name == "legacy"
    assert event["version"] == "1.0"
    assert event["httpMethod"] == "PUT"
    assert event["resource"] == "/api/v1/legacy/{proxy+}"
    assert event["path"] == "/api/v1/legacy/a/b"
    assert event["pathParameters"] == {"proxy": "a/b"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1"]}
    assert event["body"] == "hi"


# -- body limit ---------------------------------------------------------------------------------------
def test_a_declared_body_over_the_limit_is_a_413_and_its_body_is_discarded_not_buffered(rig: Rig) -> None:
    answer = rig.call(
        "POST",
        "/api/v1/payments",
        token="writer",
        headers=[("content-length", "999999")],
        chunks=[b"x" * 600, b"x" * 600],
    )
    assert_problem(answer, 413)
    assert answer.header("connection") == "close"
    assert rig.invoker.events == []


def test_a_streamed_body_over_the_limit_is_a_413(rig: Rig) -> None:
    answer = rig.call("POST", "/api/v1/payments", token="writer", chunks=[b"x" * 600, b"x" * 600, b"x"])
    assert_problem(answer, 413)
    assert rig.invoker.events == []


# -- the window's answer ------------------------------------------------------------------------------
def test_the_window_result_becomes_the_response(rig: Rig) -> None:
    rig.invoker.result = {
        "statusCode": 201,
        "headers": {"Content-Type": "application/json", "Content-Length": "999", "Location": "/x/1"},
        "multiValueHeaders": {"X-Many": ["a", "b"]},
        "cookies": ["a=1; Path=/", "b=2"],
        "body": '{"id": "1"}',
    }
    answer = rig.call("POST", "/api/v1/payments", token="writer", body=b"{}")
    assert answer.status == 201
    assert answer.json() == {"id": "1"}
    assert answer.header("location") == "/x/1"
    assert answer.header("content-length") == str(len(answer.body))
    assert [v for k, v in answer.headers if k == b"set-cookie"] == [b"a=1; Path=/", b"b=2"]
    assert [v for k, v in answer.headers if k == b"x-many"] == [b"a", b"b"]


def test_a_base64_result_is_decoded(rig: Rig) -> None:
    blob = bytes(range(256))
    rig.invoker.result = {
        "statusCode": 200,
        "headers": {"content-type": "application/octet-stream"},
        "body": base64.b64encode(blob).decode(),
        "isBase64Encoded": True,
    }
    assert rig.call("GET", "/api/v1/payments/health").body == blob


def test_a_2_0_result_without_status_code_is_a_200_json_body(rig: Rig) -> None:
    rig.invoker.result = {"hello": "world"}
    answer = rig.call("GET", "/api/v1/payments/health")
    assert (answer.status, answer.json()) == (200, {"hello": "world"})


def test_a_no_content_answer_carries_no_body(rig: Rig) -> None:
    rig.invoker.result = {"statusCode": 204, "body": "ignored"}
    answer = rig.call("GET", "/api/v1/payments/health")
    assert (answer.status, answer.body, answer.header("content-length")) == (204, b"", None)
    assert answer.header("content-type") is None


def test_headers_that_would_break_the_response_are_dropped(rig: Rig) -> None:
    rig.invoker.result = {
        "statusCode": 200,
        "headers": {"x-ok": "1", "x-bad": "a\r\nInjected: 1", "bad name": "x"},
    }
    answer = rig.call("GET", "/api/v1/payments/health")
    assert answer.header("x-ok") == "1"
    assert answer.header("x-bad") is None and answer.header("injected") is None


@pytest.mark.parametrize(
    ("result", "version"),
    [
        ("not a dict", "1.0"),
        ({"body": "no status"}, "1.0"),
        ({"statusCode": "abc"}, "2.0"),
        ({"statusCode": 42}, "2.0"),
        ({"statusCode": 101}, "2.0"),
        ({"statusCode": 200, "body": "abc", "isBase64Encoded": True}, "2.0"),
    ],
)
def test_a_malformed_window_result_is_a_502(rig: Rig, result: Any, version: str) -> None:
    rig.invoker.result = result
    path = "/api/v1/legacy/x" if version == "1.0" else "/api/v1/payments/health"
    problem = assert_problem(rig.call("GET", path), 502)
    assert "malformed response" in problem["detail"]


@pytest.mark.parametrize(
    ("error", "status", "words"),
    [
        (WindowCrashedError("exit code -11"), 502, "the payments window crashed while handling the request"),
        (WindowFailedError("boom", error_type="KeyError"), 502, "KeyError"),
        (WindowTimeoutError("no answer"), 504, "within its timeout of 10 s"),
        (WindowUnavailableError("restarting", retry_after=3), 503, "restarting"),
        (RuntimeError("pipe broke"), 502, "RuntimeError"),
    ],
)
def test_worker_errors_map_to_gateway_answers(rig: Rig, error: Exception, status: int, words: str) -> None:
    rig.invoker.error = error
    answer = rig.call("GET", "/api/v1/payments/health")
    problem = assert_problem(answer, status)
    assert words in problem["detail"]
    if status == 503:
        assert answer.header("retry-after") == "3"
    assert rig.lines[-1].startswith(f"GET /api/v1/payments/health {status} payments ")


def test_a_worker_error_class_from_another_module_maps_by_name(rig: Rig) -> None:
    class WindowTimeoutError(Exception):  # e.g. hms.local.workers' own class of that name
        pass

    rig.invoker.error = WindowTimeoutError("late")
    assert_problem(rig.call("GET", "/api/v1/payments/health"), 504)


def test_the_worker_pool_errors_map_to_gateway_answers(rig: Rig) -> None:
    from hms.local import workers

    cases = [
        (workers.WindowCrashedError("payments", "exit code -9"), 502, "crashed"),
        (
            workers.WindowFailedError("payments", "ZeroDivisionError", "division by zero"),
            502,
            "ZeroDivisionError",
        ),
        (workers.WindowTimeoutError("payments", "no answer within 10s"), 504, "timeout"),
        (workers.WindowUnavailableError("payments", "crash loop"), 503, "right now: crash loop"),
        (workers.WindowThrottledError("payments", "all 2 execution environments are busy"), 503, "throttled"),
    ]
    for error, status, words in cases:
        rig.invoker.error = error
        answer = rig.call("GET", "/api/v1/payments/health")
        assert words in assert_problem(answer, status)["detail"]
        if status == 503:
            assert int(answer.header("retry-after") or 0) >= 1


def test_an_invoker_that_hangs_is_cut_off_after_the_window_timeout(rig: Rig) -> None:
    class Hanging(FakeInvoker):
        async def invoke(self, window_name: str, event: dict[str, Any], *, timeout: float) -> Any:
            await asyncio.sleep(3600)

    rig.invoker = Hanging()
    rig.windows = (window("slow", [Route("GET", "/api/v1/slow", (), False, True)], timeout=0),)
    assert_problem(rig.call("GET", "/api/v1/slow", app=rig.app(timeout_grace=0.05)), 504)


def test_a_gateway_bug_is_a_500_problem_without_a_traceback(rig: Rig) -> None:
    def broken() -> RouteTable:
        raise KeyError("secret internals")

    app = Gateway(broken, rig.invoker, rig.verifier, log=rig.lines.append)
    problem = assert_problem(rig.call("GET", "/x", app=app), 500)
    assert "secret" not in json.dumps(problem)


def test_a_client_that_goes_away_mid_body_is_logged_not_answered(rig: Rig) -> None:
    app = rig.app()
    sent: list[Any] = []
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": b"x", "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/payments",
        "raw_path": b"/api/v1/payments",
        "query_string": b"",
        "headers": [(b"authorization", b"Bearer writer")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 3000),
    }
    asyncio.run(app(scope, receive, send))
    assert sent == [] and " 499 " in rig.lines[-1]


# -- the gateway's own endpoints ----------------------------------------------------------------------
def test_the_jwks_is_published(rig: Rig) -> None:
    keys = {"keys": [{"kid": "dev", "kty": "RSA"}]}
    answer = rig.call(
        "GET", "/.well-known/jwks.json", app=rig.app(jwks_provider=lambda: keys), client=("10.1.1.1", 1)
    )
    assert (answer.status, answer.json()) == (200, keys)


def health_app(rig: Rig, provider: Callable[[], Any]) -> Gateway:
    return rig.app(health_provider=provider)


def test_health_answers_loopback_clients_only(rig: Rig) -> None:
    app = health_app(rig, lambda: {"windows": {"payments": "up"}})
    answer = rig.call("GET", "/_hms/health", app=app)
    assert (answer.status, answer.json()) == (200, {"windows": {"payments": "up"}})
    assert rig.call("GET", "/_hms/health", app=app, client=("::1", 1)).status == 200
    assert_problem(rig.call("GET", "/_hms/health", app=app, client=("192.168.1.20", 1)), 404)


def test_health_may_be_async(rig: Rig) -> None:
    async def report() -> dict[str, str]:
        return {"status": "ok"}

    assert rig.call("GET", "/_hms/health", app=health_app(rig, report)).json() == {"status": "ok"}
