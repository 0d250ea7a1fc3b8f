"""A manifest's ``throttle`` (API Gateway route throttling, all callers together), locally."""

from __future__ import annotations

import dataclasses

from test_gateway import PAYMENTS, Rig, assert_problem

from hms.local.throttle import RouteThrottle
from hms.manifest import Throttle
from hms.model import Window

THROTTLED = dataclasses.replace(PAYMENTS, throttle=Throttle(rate=2, burst=3))
ROUTE = THROTTLED.routes[0]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_passes_then_requests_wait_for_the_refill() -> None:
    clock = Clock()
    throttle = RouteThrottle(clock)

    assert [throttle.retry_after(THROTTLED, ROUTE) for _ in range(4)] == [None, None, None, 1]
    clock.now += 0.5  # rate 2/s: one token back
    assert [throttle.retry_after(THROTTLED, ROUTE) for _ in range(2)] == [None, 1]


def test_a_window_without_throttle_is_never_throttled() -> None:
    throttle = RouteThrottle(Clock())

    assert {throttle.retry_after(PAYMENTS, ROUTE) for _ in range(1000)} == {None}


def test_a_changed_throttle_is_in_force_with_the_next_request() -> None:
    throttle = RouteThrottle(Clock())
    for _ in range(3):
        throttle.retry_after(THROTTLED, ROUTE)
    wider: Window = dataclasses.replace(THROTTLED, throttle=Throttle(rate=2, burst=10))

    assert throttle.retry_after(THROTTLED, ROUTE) == 1
    assert throttle.retry_after(wider, ROUTE) is None


def test_the_gateway_answers_429_past_the_throttle_before_invoking_the_window() -> None:
    rig = Rig(windows=(dataclasses.replace(PAYMENTS, throttle=Throttle(rate=0.001, burst=1)),))
    app = rig.app()

    first = rig.call("GET", "/api/v1/payments/health", app=app)
    second = rig.call("GET", "/api/v1/payments/health", app=app)

    assert first.status == 200 and len(rig.invoker.events) == 1
    problem = assert_problem(second, 429)
    assert problem["type"].endswith("/throttled") and second.header("retry-after") is not None
