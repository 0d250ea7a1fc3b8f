"""``hmskit.webcore``: what both frameworks' windows answer alike, without either framework."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from support.kit import FakeClock, InMemoryCounter

from hmskit.problems import (
    ConflictError,
    InternalError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    ServiceUnavailableError,
    TooManyRequestsError,
    UnauthorizedError,
)
from hmskit.ratelimit import FixedWindowRateLimiter, RateLimitError
from hmskit.settings import RateLimit
from hmskit.webcore import RouteSpec, WindowCore, count_request, problem_for, read_body, route_pattern

EVENT = {"requestContext": {"http": {"sourceIp": "203.0.113.9"}}}


class AlreadyDoneError(Exception):
    pass


class Core(WindowCore):
    """The smallest adapter: it records views instead of handing them to a router."""

    def __init__(self) -> None:
        super().__init__("t")
        self.views: dict[RouteSpec, Any] = {}

    @property
    def raw_event(self) -> dict[str, Any]:
        return EVENT

    @property
    def deps(self) -> Any:
        raise AssertionError("not needed here")

    def header(self, name: str) -> str | None:
        return None

    def _register(self, spec: RouteSpec, view: Any) -> None:
        self.views[spec] = view


def core() -> Core:
    c = Core()
    c.get("/t/items/{id}")(lambda id: id)
    c.get("/t/items/health", rate_limited=False)(lambda: "ok")
    c.post("/t/items", idempotent=True)(lambda: "made")
    c.get("/t/files/{key+}")(lambda key: key)
    return c


def test_a_path_parameter_is_one_segment_and_a_greedy_one_any_number() -> None:
    assert route_pattern("/t/{id}").match("/t/7")
    assert not route_pattern("/t/{id}").match("/t/7/more")
    assert route_pattern("/t/{key+}").match("/t/a/b/c")
    assert not route_pattern("/t.x").match("/t-x")


def test_the_route_table_is_every_declared_route_with_its_properties() -> None:
    c = core()

    assert c.route_table() == [
        ("GET", "/t/files/{key+}"),
        ("GET", "/t/items/health"),
        ("GET", "/t/items/{id}"),
        ("POST", "/t/items"),
    ]
    specs = {(s.method, s.path): s for s in c.route_specs()}
    assert not specs[("GET", "/t/items/health")].rate_limited
    assert specs[("POST", "/t/items")].idempotent is True
    assert specs[("GET", "/t/items/{id}")].idempotent is None  # not declared
    assert set(c.views) == set(c.route_specs())


def test_another_method_on_a_served_path_is_405_naming_each_method_once() -> None:
    refusal = core().no_route("DELETE", "/t/items/health")

    assert isinstance(refusal, MethodNotAllowedError)
    assert refusal.headers == {"Allow": "GET"}


def test_a_path_nothing_serves_is_404_no_route() -> None:
    refusal = core().no_route("GET", "/t/other")

    assert isinstance(refusal, NotFoundError) and refusal.slug == "no-route"


def test_the_resource_path_counts_as_served_even_when_the_path_does_not_match() -> None:
    refusal = core().no_route("PUT", "/t/items/a%2Fb", resource="/t/items/{id}")

    assert refusal.headers == {"Allow": "GET"}


def test_a_body_over_the_limit_is_413_and_a_base64_one_before_it_is_decoded() -> None:
    assert read_body({"body": "abc"}, 3) == b"abc"
    assert read_body({"body": base64.b64encode(b"abc").decode(), "isBase64Encoded": True}, 3) == b"abc"
    with pytest.raises(PayloadTooLargeError, match="4 bytes; the limit is 3"):
        read_body({"body": "abcd"}, 3)
    with pytest.raises(PayloadTooLargeError, match="exceeds 3 bytes"):
        read_body({"body": "A" * 100, "isBase64Encoded": True}, 3)


def test_a_mapped_error_becomes_its_problem_whether_mapped_to_a_class_or_a_function() -> None:
    by_class = problem_for(AlreadyDoneError("item 7"), {AlreadyDoneError: ConflictError})
    by_function = problem_for(
        AlreadyDoneError("item 7"), {Exception: lambda exc: ConflictError(f"done: {exc}")}
    )

    assert isinstance(by_class, ConflictError) and by_class.detail == "item 7"
    assert isinstance(by_function, ConflictError) and by_function.detail == "done: item 7"


def test_platform_errors_have_their_own_answers() -> None:
    from hmskit.auth import AuthError

    raised = ConflictError("as raised")
    assert problem_for(raised, {}) is raised
    assert isinstance(problem_for(AuthError("no token"), {}), UnauthorizedError)
    assert isinstance(problem_for(RateLimitError("down"), {}), ServiceUnavailableError)
    unexpected = problem_for(RuntimeError("secret"), {})
    assert isinstance(unexpected, InternalError) and "secret" not in unexpected.detail


def test_the_rate_limit_answers_headers_then_429_with_retry_after() -> None:
    limiter = FixedWindowRateLimiter(InMemoryCounter(), RateLimit(limit=1, window=60), FakeClock(60.0))

    assert count_request(limiter, EVENT)["X-RateLimit-Remaining"] == "0"
    with pytest.raises(TooManyRequestsError) as refused:
        count_request(limiter, EVENT)
    assert refused.value.headers["Retry-After"] == "60"
    assert refused.value.extensions == {"limit": 1, "window": 60}


def test_no_limiter_and_routes_that_are_not_rate_limited_count_nothing() -> None:
    c = core()

    assert count_request(None, EVENT) == {}
    assert c.count(None) == {}
    assert c.count(RouteSpec("GET", "/t/items/health", rate_limited=False)) == {}
