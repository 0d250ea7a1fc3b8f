"""The A2A client against a real HTTP server on 127.0.0.1 (keep-alive, TCP_NODELAY).

The server is ``http.server`` with Nagle disabled on accepted sockets: without it every keep-alive
request after the first stalls ~44 ms (Nagle plus delayed ACK).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from helpers import free_port, http_event
from support.kit import FakeClock

from hmskit.a2a import A2AClient, A2AResponse, MissingTokenError, bearer_token, encode_json
from hmskit.discovery import Discovery, ServiceEndpoint
from hmskit.problems import BadGatewayError, GatewayTimeoutError, ServiceUnavailableError

TOKEN = "eyJhbGciOiJSUzI1NiJ9.e30.sig"
TIMEOUT_MS = 200
# /sleep answers only once the test releases it: the client can only get a 504 from its own timeout
SLEEP_RELEASE = threading.Event()
SLEEP_HITS: list[str] = []


class Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True  # TCP_NODELAY on each accepted socket

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, obj: Any, content_type: str = "application/json", **extra: str) -> None:
        self._send(status, json.dumps(obj).encode(), content_type, extra)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = self.path
        if path.startswith("/api/v1/echo"):
            self._json(
                200,
                {
                    "method": self.command,
                    "path": path,
                    "authorization": self.headers.get("Authorization"),
                    "correlation": self.headers.get("X-Correlation-Id"),
                    "content_type": self.headers.get("Content-Type"),
                    "idempotency_key": self.headers.get("Idempotency-Key"),
                    "body": raw.decode(),
                    "amount": 12.5,
                },
            )
        elif path.startswith("/status/"):
            status = int(path.rsplit("/", 1)[1])
            extra = {"Retry-After": "7"} if status == 429 else {}
            problem = {
                "type": "about:blank",
                "title": "x",
                "status": status,
                "detail": f"upstream says {status}",
            }
            self._json(status, problem, "application/problem+json", **extra)
        elif path == "/sleep":
            SLEEP_HITS.append(self.command)
            SLEEP_RELEASE.wait(10)  # bounded: a test that fails never leaves a thread behind for long
            self._json(200, {"late": True})
        elif path == "/text":
            self._send(200, b"<html>hello</html>", "text/html")
        elif path == "/bad-json":
            self._send(200, b"{not json", "application/json")
        elif path == "/empty":
            self.send_response(204)
            self.end_headers()
        else:
            self._json(404, {"title": "Not Found", "status": 404, "detail": "no such route"})

    do_GET = do_POST = do_PUT = do_DELETE = _handle


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the client of the timeout test hangs up before the late answer: expected


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    server = QuietServer(("127.0.0.1", 0), Upstream)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def client_for(base_url: str, timeout_ms: int = 1000) -> A2AClient:
    discovery = Discovery(namespace=None, static={"eligibility": base_url}, clock=FakeClock())
    return A2AClient(discovery, timeout_ms)


@pytest.fixture(scope="module")
def client(upstream: str) -> A2AClient:
    return client_for(upstream)


# -- bearer_token ------------------------------------------------------------------------------------
def test_bearer_token_from_a_payload_2_event() -> None:
    event = http_event("GET", "/api/v1/x", headers={"authorization": f"Bearer {TOKEN}"})

    assert bearer_token(event) == TOKEN


def test_bearer_token_from_a_payload_1_event_any_case() -> None:
    assert bearer_token({"headers": {"Authorization": f"bearer {TOKEN}"}}) == TOKEN
    assert (
        bearer_token({"headers": None, "multiValueHeaders": {"AUTHORIZATION": [f"Bearer {TOKEN}"]}}) == TOKEN
    )


def test_bearer_token_is_none_without_one_or_with_another_scheme() -> None:
    assert bearer_token({"headers": {}}) is None
    assert bearer_token({}) is None
    assert bearer_token({"headers": {"authorization": "Basic dXNlcjpwdw=="}}) is None
    assert bearer_token({"headers": {"authorization": "Bearer "}}) is None


# -- calls -------------------------------------------------------------------------------------------
def test_a_post_forwards_token_correlation_id_and_json_with_decimals_and_dates(client: A2AClient) -> None:
    resp = client.call(
        "eligibility",
        "post",
        "/api/v1/echo",
        token=TOKEN,
        json_body={"amount": Decimal("12.50"), "on": dt.date(2026, 1, 2)},
        correlation_id="corr-123",
        headers={"Idempotency-Key": "k1", "authorization": "Bearer someone-else"},
    )

    assert isinstance(resp, A2AResponse) and resp.status == 200
    assert resp.headers["content-type"] == "application/json"
    assert resp.body["method"] == "POST"
    assert resp.body["authorization"] == f"Bearer {TOKEN}"
    assert resp.body["correlation"] == "corr-123"
    assert resp.body["idempotency_key"] == "k1"
    assert resp.body["content_type"] == "application/json"
    assert json.loads(resp.body["body"]) == {"amount": "12.50", "on": "2026-01-02"}
    assert resp.body["amount"] == Decimal("12.5")  # never a float


def test_a_whole_bearer_header_value_is_accepted_as_the_token(client: A2AClient) -> None:
    resp = client.call("eligibility", "GET", "/api/v1/echo?x=1", token=f"Bearer {TOKEN}")

    assert resp.body["authorization"] == f"Bearer {TOKEN}"
    assert resp.body["path"] == "/api/v1/echo?x=1"
    assert resp.body["correlation"] is None


def test_keep_alive_calls_do_not_stall(client: A2AClient) -> None:
    client.call("eligibility", "GET", "/api/v1/echo", token=TOKEN)
    start = time.perf_counter()
    for _ in range(10):
        client.call("eligibility", "POST", "/api/v1/echo", token=TOKEN, json_body={"n": 1})
    assert (time.perf_counter() - start) / 10 < 0.035  # a Nagle stall is ~44 ms per request


def test_no_token_is_refused_before_any_request(client: A2AClient) -> None:
    for token in (None, "", "  ", "two words"):
        with pytest.raises(MissingTokenError) as info:
            client.call("eligibility", "GET", "/api/v1/echo", token=token)
        assert info.value.status == 401
        assert "eligibility" in info.value.detail


def test_an_expected_4xx_is_returned_not_raised(client: A2AClient) -> None:
    resp = client.call("eligibility", "GET", "/status/404", token=TOKEN, expect=(200, 404))

    assert resp.status == 404
    assert resp.body["detail"] == "upstream says 404"


def test_an_empty_expected_answer_has_no_body(client: A2AClient) -> None:
    resp = client.call("eligibility", "DELETE", "/empty", token=TOKEN, expect=(204,))

    assert resp.status == 204 and resp.body is None


def test_an_upstream_5xx_is_a_502_carrying_the_upstream_problem(client: A2AClient) -> None:
    with pytest.raises(BadGatewayError) as info:
        client.call("eligibility", "GET", "/status/500", token=TOKEN)

    problem = info.value
    assert problem.status == 502
    assert (
        "eligibility" in problem.detail and "500" in problem.detail and "upstream says 500" in problem.detail
    )
    body = problem.to_dict()
    assert body["upstream_window"] == "eligibility"
    assert body["upstream_status"] == 500
    assert body["upstream_detail"] == "upstream says 500"


def test_an_unexpected_4xx_is_a_502_naming_what_was_expected(client: A2AClient) -> None:
    with pytest.raises(BadGatewayError) as info:
        client.call("eligibility", "GET", "/status/403", token=TOKEN, expect=(200, 201))

    assert "answered 403" in info.value.detail and "expected 200, 201" in info.value.detail
    assert info.value.extensions["upstream_status"] == 403


def test_an_upstream_429_is_a_503_passing_retry_after_on(client: A2AClient) -> None:
    with pytest.raises(ServiceUnavailableError) as info:
        client.call("eligibility", "GET", "/status/429", token=TOKEN)

    problem = info.value
    assert problem.status == 503
    assert problem.headers == {"Retry-After": "7"}
    assert problem.extensions["upstream_status"] == 429
    assert "retry after 7 s" in problem.detail


def test_a_non_json_body_is_a_502(client: A2AClient) -> None:
    with pytest.raises(BadGatewayError, match=r"non-JSON body \(text/html\)"):
        client.call("eligibility", "GET", "/text", token=TOKEN)
    with pytest.raises(BadGatewayError, match="not valid JSON"):
        client.call("eligibility", "GET", "/bad-json", token=TOKEN)


def test_a_slow_upstream_is_a_504_from_one_timeout_never_retried(upstream: str) -> None:
    slow = client_for(upstream, timeout_ms=TIMEOUT_MS)
    SLEEP_HITS.clear()
    SLEEP_RELEASE.clear()
    try:
        # The upstream holds its answer until released, so the 504 can only be the client's timeout
        with pytest.raises(GatewayTimeoutError) as info:
            slow.call("eligibility", "POST", "/sleep", token=TOKEN, json_body={})
    finally:
        SLEEP_RELEASE.set()

    assert info.value.status == 504
    assert info.value.detail.startswith(f"eligibility did not answer within {TIMEOUT_MS} ms")
    assert SLEEP_HITS == ["POST"]  # not retried: the upstream saw one request, not two


def test_a_refused_port_is_a_503_naming_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    dead = client_for(url)

    with pytest.raises(ServiceUnavailableError) as info:
        dead.call("eligibility", "GET", "/api/v1/echo", token=TOKEN)

    assert info.value.status == 503
    assert info.value.detail == f"eligibility is unreachable at {url}/api/v1/echo: connection refused"
    assert info.value.extensions["upstream_window"] == "eligibility"


class MovingDiscovery:
    """Resolves to a dead URL until expired, then to the live one (the window moved)."""

    def __init__(self, dead: str, live: str) -> None:
        self.urls = [dead, live]
        self.expired = 0

    def resolve(self, window: str) -> ServiceEndpoint:
        return ServiceEndpoint(window, self.urls[min(self.expired, 1)], None, "cloudmap")

    def expire(self, window: str) -> None:
        self.expired += 1


def test_a_refused_connection_is_retried_once_at_a_freshly_discovered_url(upstream: str) -> None:
    moving = MovingDiscovery(f"http://127.0.0.1:{free_port()}", upstream)
    client = A2AClient(moving, 1000)

    resp = client.call("eligibility", "POST", "/api/v1/echo", token=TOKEN, json_body={"a": 1})

    assert resp.status == 200 and moving.expired == 1


def test_an_unknown_window_is_a_discovery_503(client: A2AClient) -> None:
    with pytest.raises(ServiceUnavailableError, match="passport"):
        client.call("passport", "GET", "/x", token=TOKEN)


def test_encode_json_keeps_money_exact_and_refuses_the_unknown() -> None:
    assert encode_json({"a": Decimal("0.10"), "t": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)}) == (
        b'{"a":"0.10","t":"2026-01-02T03:04:05+00:00"}'
    )
    with pytest.raises(TypeError):
        encode_json({"x": object()})


def test_a_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError):
        A2AClient(Discovery(namespace=None), 0)
