"""The payments window's per-principal rate limit, on an in-memory counter and a fake clock."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import body_of, http_event
from support.kit import FakeClock, InMemoryCounter, PassThroughIdempotency
from support.payments import InMemoryPaymentRepository

from hmskit.context import LocalContext
from hmskit.ratelimit import FixedWindowRateLimiter
from hmskit.settings import RateLimit, WindowSettings
from payments.bootstrap import Deps
from payments.handler import handle

BASE = "/api/v1/payments"
LIMIT, WINDOW = 3, 60


class BrokenCounter:
    def increment(self, pk: str, sk: str, *, attr: str, expires_at: int) -> int:
        raise OSError("throttled")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_800_000_000.0 + 20)  # 20 s into a window


@pytest.fixture
def counter() -> InMemoryCounter:
    return InMemoryCounter()


@pytest.fixture
def deps(clock: FakeClock, counter: InMemoryCounter) -> Deps:
    rule = RateLimit(limit=LIMIT, window=WINDOW)
    return Deps(
        settings=WindowSettings(window="payments", table_name="unused", rate_limit=rule),
        payments=InMemoryPaymentRepository(),
        rate_limiter=FixedWindowRateLimiter(counter, rule, clock),
        idempotency=PassThroughIdempotency(),  # type: ignore[arg-type]
        clock=clock,
    )


def get(deps: Deps, path: str = BASE, **kw: Any) -> dict[str, Any]:
    return handle(http_event("GET", path, **kw), LocalContext(), deps)


def test_answers_carry_the_rate_limit_headers(deps: Deps) -> None:
    headers = get(deps)["headers"]

    assert headers["X-RateLimit-Limit"] == "3"
    assert headers["X-RateLimit-Remaining"] == "2"
    assert headers["X-RateLimit-Reset"] == "40"
    assert "Retry-After" not in headers


def test_the_request_over_the_limit_is_429_with_retry_after(deps: Deps) -> None:
    for _ in range(LIMIT):
        assert get(deps)["statusCode"] == 200

    result = get(deps)

    assert result["statusCode"] == 429
    assert result["headers"]["Content-Type"] == "application/problem+json"
    assert result["headers"]["Retry-After"] == "40"
    assert result["headers"]["X-RateLimit-Limit"] == "3"
    assert result["headers"]["X-RateLimit-Remaining"] == "0"
    assert result["headers"]["X-RateLimit-Reset"] == "40"
    problem = body_of(result)
    assert (problem["status"], problem["limit"], problem["window"]) == (429, 3, 60)
    assert "retry after 40 s" in problem["detail"]


def test_every_rate_limited_route_shares_one_budget_per_principal(deps: Deps) -> None:
    get(deps)
    handle(http_event("POST", BASE, body={"amount": "1", "purpose": "x"}), LocalContext(), deps)
    get(deps, f"{BASE}/01ARZ3NDEKTSV4RRFFQ69G5FAV")

    assert get(deps)["statusCode"] == 429


def test_a_refused_request_does_not_reach_the_domain(deps: Deps) -> None:
    for _ in range(LIMIT):
        get(deps)

    result = handle(http_event("POST", BASE, body={"amount": "1", "purpose": "x"}), LocalContext(), deps)

    assert result["statusCode"] == 429
    assert deps.payments.list("alice", limit=10, cursor=None).items == []


def test_the_budget_resets_at_the_next_window(deps: Deps, clock: FakeClock) -> None:
    for _ in range(LIMIT + 1):
        get(deps)

    clock.advance(40)

    result = get(deps)
    assert result["statusCode"] == 200
    assert result["headers"]["X-RateLimit-Remaining"] == "2"
    assert result["headers"]["X-RateLimit-Reset"] == "60"


def test_separate_principals_have_separate_budgets(deps: Deps) -> None:
    for _ in range(LIMIT + 1):
        get(deps, sub="alice")

    assert get(deps, sub="bob")["statusCode"] == 200
    assert get(deps, sub="alice")["statusCode"] == 429


def test_the_x_hms_user_header_does_not_buy_a_fresh_budget(deps: Deps) -> None:
    for _ in range(LIMIT):
        get(deps, sub="alice")

    assert get(deps, sub="alice", headers={"x-hms-user": "someone-else"})["statusCode"] == 429


def test_requests_without_a_sub_are_counted_by_client_ip(deps: Deps, counter: InMemoryCounter) -> None:
    get(deps, sub=None)

    assert list(counter.counts) == [("RATE#ip:127.0.0.1", "W#1800000000")]


def test_anonymous_callers_from_one_ip_share_a_budget_and_are_refused_with_429(deps: Deps) -> None:
    for _ in range(LIMIT):
        assert get(deps, sub=None)["statusCode"] == 401

    assert get(deps, sub=None)["statusCode"] == 429


def test_the_health_route_is_not_rate_limited(deps: Deps, counter: InMemoryCounter) -> None:
    for _ in range(LIMIT * 3):
        result = get(deps, f"{BASE}/health")
        assert result["statusCode"] == 200
        assert "X-RateLimit-Limit" not in result["headers"]

    assert counter.counts == {}


def test_unknown_routes_are_not_counted(deps: Deps, counter: InMemoryCounter) -> None:
    assert get(deps, "/api/v1/elsewhere")["statusCode"] == 404
    assert counter.counts == {}


def test_a_failing_counter_is_503_not_500(deps: Deps, clock: FakeClock) -> None:
    assert deps.rate_limiter is not None
    deps.rate_limiter = FixedWindowRateLimiter(BrokenCounter(), deps.rate_limiter.rule, clock)

    result = get(deps)

    assert result["statusCode"] == 503
    assert body_of(result)["type"].endswith("storage-unavailable")


def test_a_window_without_a_rate_limit_sends_no_rate_limit_headers(deps: Deps) -> None:
    deps.rate_limiter = None

    assert "X-RateLimit-Limit" not in get(deps)["headers"]
