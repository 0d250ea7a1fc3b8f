"""GET /api/v1/notifications: citizens see only their own notifications, newest first, page by page."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, MutableMapping
from typing import Any

import pytest
from helpers import ROOT, assert_problem, body_of, http_event
from support.kit import FakeClock, FakeVerifier
from support.notifications import InMemoryMailer, InMemoryNotificationRepository

from hms.local.gateway import Gateway
from hms.local.routing import RouteTable
from hms.model import load_platform
from hmskit.consumer import InMemoryDeduplicator
from hmskit.context import LocalContext
from hmskit.ratelimit import FixedWindowRateLimiter
from hmskit.settings import RateLimit, WindowSettings
from notifications import domain
from notifications.bootstrap import Deps
from notifications.handler import app, handle

BASE = "/api/v1/notifications"
NOW = 1_800_000_000.0
EVENT_TYPES = ("RenewalSubmitted", "PaymentCaptured", "RenewalReadyForReview")


class InMemoryCounter:
    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}

    def increment(self, pk: str, sk: str, *, attr: str, expires_at: int) -> int:
        self.counts[(pk, sk)] = self.counts.get((pk, sk), 0) + 1
        return self.counts[(pk, sk)]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def deps(clock: FakeClock) -> Deps:
    return Deps(
        settings=WindowSettings(window="notifications", table_name="unused", email_sender="hms@example.gov"),
        notifications=InMemoryNotificationRepository(),
        mailer=InMemoryMailer(),
        dedupe=InMemoryDeduplicator(),
        clock=clock,
    )


def notify(
    deps: Deps, owner: str, minute: int, *, event_type: str = "RenewalSubmitted", email: str | None = None
) -> str:
    """A notification for ``owner`` about an event ``minute`` minutes in; its id."""
    cause = domain.Cause(
        event_id=f"{owner}-{minute}-{event_type}",
        type=event_type,
        owner=owner,
        occurred_ms=int(NOW * 1000) + minute * 60_000,
        renewal_id="R-1",
        email=email if email is not None else f"{owner}@example.org",
        correlation_id="req-1",
    )
    letter = domain.Letter(subject=f"{event_type} {minute}", text="text", html="<p>html</p>")
    return domain.notify(
        cause, letter, repo=deps.notifications, mailer=deps.mailer, now_iso=deps.now_iso, now=deps.clock.now
    ).id


def call(deps: Deps, method: str, path: str, **kw: Any) -> dict[str, Any]:
    return handle(http_event(method, path, **kw), LocalContext(), deps)


def list_all(deps: Deps, sub: str, limit: int) -> tuple[list[str], int]:
    ids: list[str] = []
    pages, cursor = 0, None
    while True:
        query = f"limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        result = call(deps, "GET", BASE, sub=sub, query=query)
        assert result["statusCode"] == 200
        body = body_of(result)
        ids += [item["id"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return ids, pages


# -- lists --------------------------------------------------------------------------------------------


def test_a_citizen_lists_only_their_own_notifications_newest_first_with_their_type(deps: Deps) -> None:
    first = notify(deps, "alice", 1, event_type="RenewalSubmitted")
    notify(deps, "bob", 2)
    second = notify(deps, "alice", 3, event_type="PaymentCaptured")
    third = notify(deps, "alice", 4, event_type="RenewalReadyForReview")

    body = body_of(call(deps, "GET", BASE, sub="alice"))

    assert [i["id"] for i in body["items"]] == [third, second, first]
    assert [i["type"] for i in body["items"]] == [
        "RenewalReadyForReview",
        "PaymentCaptured",
        "RenewalSubmitted",
    ]
    assert body["next_cursor"] is None


def test_a_listed_notification_masks_the_address_and_hides_provider_details(deps: Deps) -> None:
    notify(deps, "alice", 1, event_type="PaymentCaptured", email="alice.smith@example.org")

    (item,) = body_of(call(deps, "GET", BASE, sub="alice"))["items"]

    assert item == {
        "id": item["id"],
        "type": "PaymentCaptured",
        "event_id": "alice-1-PaymentCaptured",
        "renewal_id": "R-1",
        "subject": "PaymentCaptured 1",
        "channel": "email",
        "recipient": "a***@example.org",
        "delivery": "sent",
        "created_at": "2027-01-15T08:00:00.000+00:00",
    }
    assert "alice.smith" not in json.dumps(item)


def test_a_notification_that_had_no_address_is_listed_as_such(deps: Deps) -> None:
    an_hour_ago = int(NOW * 1000) - 3_600_000  # past the grace period: stored as no_address
    cause = domain.Cause("e-1", "PaymentCaptured", "carol", an_hour_ago, None, None, None)
    domain.notify(
        cause,
        domain.Letter("s", "t", "h"),
        repo=deps.notifications,
        mailer=deps.mailer,
        now_iso=deps.now_iso,
        now=deps.clock.now,
    )

    (item,) = body_of(call(deps, "GET", BASE, sub="carol"))["items"]

    assert (item["delivery"], item["recipient"], item["renewal_id"]) == ("no_address", None, None)
    assert "text" not in item and "html" not in item  # the letter kept for later is not listed


def test_an_empty_list_has_no_cursor(deps: Deps) -> None:
    assert body_of(call(deps, "GET", BASE, sub="dave")) == {"items": [], "next_cursor": None}


@pytest.mark.parametrize("limit", [1, 2, 3, 7])
def test_pages_cover_every_notification_once_in_order(deps: Deps, limit: int) -> None:
    created = [notify(deps, "alice", m) for m in range(7)]
    notify(deps, "bob", 3)

    ids, pages = list_all(deps, "alice", limit)

    assert ids == list(reversed(created))  # no duplicates, no gaps, newest first
    assert pages == -(-7 // limit)


def test_a_cursor_is_opaque(deps: Deps) -> None:
    for m in range(3):
        notify(deps, "alice", m)

    cursor = body_of(call(deps, "GET", BASE, sub="alice", query="limit=1"))["next_cursor"]

    assert "alice" not in cursor and "OWNER" not in cursor and "NOTIFICATION" not in cursor


def test_another_citizens_cursor_only_pages_the_callers_own_notifications(deps: Deps) -> None:
    for m in range(3):
        notify(deps, "alice", m)
    mine = notify(deps, "bob", 0)
    cursor = body_of(call(deps, "GET", BASE, sub="alice", query="limit=1"))["next_cursor"]

    body = body_of(call(deps, "GET", BASE, sub="bob", query=f"cursor={cursor}"))

    assert {item["id"] for item in body["items"]} <= {mine}


def tamper(cursor: str) -> str:
    """A cursor is the id of a page's last item: one cut short is not an id."""
    return cursor[:-1]


@pytest.mark.parametrize("cursor", ["abc", "!!!", "eyJ4IjoxfQ", "bnVsbA", "W10"])
def test_a_cursor_this_api_did_not_issue_is_400(deps: Deps, cursor: str) -> None:
    problem = assert_problem(call(deps, "GET", BASE, query=f"cursor={cursor}"), 400)

    assert "cursor" in problem["detail"]


def test_a_tampered_cursor_is_400(deps: Deps) -> None:
    for m in range(2):
        notify(deps, "alice", m)
    cursor = body_of(call(deps, "GET", BASE, sub="alice", query="limit=1"))["next_cursor"]

    assert_problem(call(deps, "GET", BASE, sub="alice", query=f"cursor={tamper(cursor)}"), 400)


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=ten", "cursor=" + "a" * 600])
def test_a_bad_query_is_400(deps: Deps, query: str) -> None:
    assert_problem(call(deps, "GET", BASE, query=query), 400)


def test_listing_without_a_verified_identity_is_401(deps: Deps) -> None:
    assert_problem(call(deps, "GET", BASE, sub=None), 401)


def test_an_x_hms_user_header_does_not_list_another_citizens_notifications(deps: Deps) -> None:
    notify(deps, "alice", 1)

    body = body_of(call(deps, "GET", BASE, sub="bob", headers={"x-hms-user": "alice"}))

    assert body["items"] == []


# -- routes, health, rate limit -------------------------------------------------------------------------


def test_health_answers_without_a_token(deps: Deps) -> None:
    result = call(deps, "GET", f"{BASE}/health", sub=None)

    assert result["statusCode"] == 200
    assert body_of(result) == {"window": "notifications", "status": "ok"}


def test_a_wrong_method_is_405_with_allow(deps: Deps) -> None:
    result = call(deps, "POST", BASE, body={})

    assert_problem(result, 405)
    assert result["headers"]["Allow"] == "GET"


def test_the_route_table_is_what_the_manifest_declares() -> None:
    assert app.route_table() == [("GET", BASE), ("GET", f"{BASE}/health")]


def test_the_list_is_rate_limited_per_citizen_and_health_is_not(deps: Deps, clock: FakeClock) -> None:
    manifest = load_platform(ROOT).window("notifications")
    assert manifest.rate_limit is not None and str(manifest.rate_limit) == "60/60"
    deps.rate_limiter = FixedWindowRateLimiter(InMemoryCounter(), RateLimit(60, 60), clock)

    answers = [call(deps, "GET", BASE, sub="alice")["statusCode"] for _ in range(61)]

    assert answers == [200] * 60 + [429]
    assert call(deps, "GET", BASE, sub="bob")["statusCode"] == 200
    assert all(call(deps, "GET", f"{BASE}/health", sub="alice")["statusCode"] == 200 for _ in range(3))


# -- through the platform: the gateway built from routes/notifications.yaml -----------------------------


TOKENS: Mapping[str, Mapping[str, Any]] = {
    "reader": {"sub": "alice", "scope": "notifications.read", "exp": int(NOW) + 600},
    "payer": {"sub": "alice", "scope": "payments.read payments.write", "exp": int(NOW) + 600},
}


class WindowInvoker:
    """Runs the notifications handler in-process, as a worker would."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.calls = 0

    async def invoke(self, window_name: str, event: dict[str, Any], *, timeout: float) -> Any:
        assert window_name == "notifications"
        self.calls += 1
        return handle(event, LocalContext(), self.deps)


def through_gateway(deps: Deps, path: str, token: str | None = None) -> tuple[int, Any, WindowInvoker]:
    window = load_platform(ROOT).window("notifications")
    routes = RouteTable([(window, r) for r in window.routes])
    invoker = WindowInvoker(deps)
    gateway = Gateway(
        lambda: routes, invoker, FakeVerifier(TOKENS), log=lambda _line: None, clock=lambda: NOW
    )
    headers = [(b"host", b"localhost:3000")]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
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
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    asyncio.run(gateway(scope, receive, send))
    start, body = sent
    return int(start["status"]), json.loads(body["body"]), invoker


def test_through_the_gateway_a_reader_token_lists_its_own_notifications(deps: Deps) -> None:
    notify(deps, "alice", 1)

    status, body, _ = through_gateway(deps, BASE, "reader")

    assert status == 200 and len(body["items"]) == 1


def test_through_the_gateway_no_token_is_401_before_the_window_runs(deps: Deps) -> None:
    status, problem, invoker = through_gateway(deps, BASE)

    assert status == 401 and problem["status"] == 401
    assert invoker.calls == 0


def test_through_the_gateway_a_token_without_notifications_read_is_403(deps: Deps) -> None:
    status, problem, invoker = through_gateway(deps, BASE, "payer")

    assert status == 403 and problem["requiredScopes"] == ["notifications.read"]
    assert invoker.calls == 0


def test_through_the_gateway_health_takes_any_valid_token(deps: Deps) -> None:
    """``scopes: []`` under the auth plugin: any valid token, whatever its scopes (as payments)."""
    status, body, _ = through_gateway(deps, f"{BASE}/health", "payer")

    assert (status, body) == (200, {"window": "notifications", "status": "ok"})
