"""The eligibility window behind the local gateway: its real manifest, payload 1.0 events, no sockets.

The gateway (an ASGI app driven in-process) routes by ``routes/eligibility.yaml``, checks the
token's scopes, builds the 1.0 event and hands it to an invoker that calls the Chalice app in this
process, as a worker would.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any

import pytest
from helpers import ROOT
from support.kit import FakeClock, FakeVerifier, InMemoryCounter

from eligibility import bootstrap
from eligibility.app import handle
from hms.local.gateway import Gateway
from hms.local.routing import RouteTable
from hms.model import load_platform
from hmskit.context import LocalContext
from hmskit.settings import WindowSettings

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

NOW = datetime(2026, 6, 15, 9, 30, tzinfo=UTC).timestamp()
GOOD = {
    "full_name": "Jane Doe",
    "date_of_birth": "1990-04-02",
    "passport_issued_on": "2017-09-01",
    "passport_expires_on": "2027-03-01",
}
TOKENS = {
    "checker": {"sub": "caseworker-1", "scope": "eligibility.check", "exp": int(NOW) + 600},
    "renewals": {"sub": "citizen-7", "scope": "renewals.write", "exp": int(NOW) + 600},
    "payments": {"sub": "citizen-8", "scope": "payments.read", "exp": int(NOW) + 600},
}


class InProcessInvoker:
    """Calls the eligibility app as its worker would, and keeps the events it was given."""

    def __init__(self, deps: bootstrap.Deps) -> None:
        self.deps = deps
        self.events: list[dict[str, Any]] = []

    async def invoke(self, window_name: str, event: dict[str, Any], *, timeout: float) -> Any:
        assert window_name == "eligibility"
        self.events.append(event)
        return handle(json.loads(json.dumps(event)), LocalContext(), self.deps)


@pytest.fixture
def invoker() -> InProcessInvoker:
    settings = WindowSettings(window="eligibility", table_name="unused", rate_limit="60/60")
    return InProcessInvoker(bootstrap.build(settings, counter=InMemoryCounter(), clock=FakeClock(NOW)))


@pytest.fixture
def gateway(invoker: InProcessInvoker) -> Gateway:
    platform = load_platform(ROOT)
    routes = RouteTable([(w, r) for w in platform.windows for r in w.routes])
    return Gateway(lambda: routes, invoker, FakeVerifier(TOKENS), log=lambda line: None, clock=lambda: NOW)


def request(
    gateway: Gateway, method: str, path: str, *, token: str | None = None, body: Any = None
) -> tuple[int, dict[str, str], Any]:
    headers = [(b"host", b"localhost:3000")]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    data = b""
    if body is not None:
        data = json.dumps(body).encode()
        headers.append((b"content-type", b"application/json"))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 3000),
    }
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": data, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    asyncio.run(asyncio.wait_for(gateway(scope, receive, send), 5))
    start, end = sent
    answer_headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], answer_headers, json.loads(end["body"])


def test_the_manifest_makes_eligibility_a_chalice_window_on_payload_1_0() -> None:
    window = load_platform(ROOT).window("eligibility")

    assert (window.framework, window.payload_version, window.handler) == (
        "chalice",
        "1.0",
        "eligibility.app.app",
    )
    assert {(r.method, r.path, r.rate_limited) for r in window.routes} == {
        ("POST", "/api/v1/eligibility/check", True),
        ("GET", "/api/v1/eligibility/health", False),
    }


def test_a_check_through_the_gateway_is_answered_by_the_chalice_app(
    gateway: Gateway, invoker: InProcessInvoker
) -> None:
    status, headers, body = request(gateway, "POST", "/api/v1/eligibility/check", token="checker", body=GOOD)

    assert (status, body) == (200, {"allowed": True, "reasons": [], "checked_on": "2026-06-15"})
    assert headers["x-ratelimit-limit"] == "60"
    event = invoker.events[-1]
    assert event["version"] == "1.0"
    assert event["requestContext"]["resourcePath"] == "/api/v1/eligibility/check"
    assert event["requestContext"]["authorizer"]["claims"]["sub"] == "caseworker-1"  # 1.0: flat


def test_the_passport_windows_renewals_token_is_accepted(gateway: Gateway) -> None:
    status, _, _ = request(gateway, "POST", "/api/v1/eligibility/check", token="renewals", body=GOOD)

    assert status == 200


def test_a_token_without_either_scope_is_refused_by_the_gateway(
    gateway: Gateway, invoker: InProcessInvoker
) -> None:
    status, _, body = request(gateway, "POST", "/api/v1/eligibility/check", token="payments", body=GOOD)

    assert (status, body["status"]) == (403, 403)
    assert invoker.events == []


def test_the_health_route_takes_any_valid_token(gateway: Gateway) -> None:
    status, _, body = request(gateway, "GET", "/api/v1/eligibility/health", token="payments")

    assert (status, body) == (200, {"window": "eligibility", "status": "ok"})


def test_a_window_error_reaches_the_citizen_as_problem_json(gateway: Gateway) -> None:
    status, headers, body = request(
        gateway, "POST", "/api/v1/eligibility/check", token="checker", body={**GOOD, "extra": 1}
    )

    assert status == 422
    assert headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in body["errors"]] == ["extra"]
