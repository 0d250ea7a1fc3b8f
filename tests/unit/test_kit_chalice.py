"""``ChaliceWindow``: the platform's concerns around any Chalice app, on a small app of its own."""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from chalice import Chalice, Response
from helpers import http_event
from support.kit import FakeClock, InMemoryCounter

from hms.apigw import build_v1_event, build_v2_event
from hmskit.chalice import ChaliceWindow, json_response
from hmskit.context import LocalContext
from hmskit.observability import logger
from hmskit.problems import ConflictError, Problem
from hmskit.ratelimit import FixedWindowRateLimiter
from hmskit.settings import RateLimit, WindowSettings
from hmskit.store import StoreError

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


class AlreadyDoneError(Exception):
    pass


class BrokenCounter:
    def increment(self, pk: str, sk: str, *, attr: str, expires_at: int) -> int:
        raise OSError("throttled")


@dataclass
class Deps:
    settings: WindowSettings
    rate_limiter: FixedWindowRateLimiter | None


def make_window() -> tuple[Chalice, ChaliceWindow]:
    app = Chalice(app_name="window-test")
    window = ChaliceWindow(
        app,
        deps=lambda: pytest.fail("the composition root is never used when deps are injected"),
        errors={AlreadyDoneError: lambda exc: ConflictError(f"already done: {exc}")},
    )

    @window.get("/t/items/{id}")
    def item(id: str) -> Response:
        return json_response(200, {"id": id, "caller": window.principal().sub})

    @window.post("/t/echo")
    def echo() -> Response:
        from pydantic import BaseModel, ConfigDict

        class Echo(BaseModel):
            model_config = ConfigDict(extra="forbid", strict=True)
            text: str

        return json_response(200, window.json_body(Echo).model_dump())

    @window.get("/t/boom", rate_limited=False)
    def boom() -> Response:
        raise RuntimeError("secret internals")

    @window.get("/t/bad-header", rate_limited=False)
    def bad_header() -> Response:
        return Response(body="{}", headers={"X-Bad": "a\nb"})

    @window.get("/t/done", rate_limited=False)
    def done() -> Response:
        raise AlreadyDoneError("item 7")

    @window.get("/t/store", rate_limited=False)
    def store() -> Response:
        raise StoreError("table gone")

    @window.get("/t/teapot", rate_limited=False)
    def teapot() -> Response:
        raise Problem("short and stout", status=418, slug="teapot")

    return app, window


@pytest.fixture
def rig() -> tuple[Chalice, ChaliceWindow]:
    return make_window()


@pytest.fixture
def deps() -> Deps:
    rule = RateLimit(limit=2, window=60)
    return Deps(
        settings=WindowSettings(window="t", table_name="unused", rate_limit=rule, max_body_bytes=64),
        rate_limiter=FixedWindowRateLimiter(InMemoryCounter(), rule, FakeClock()),
    )


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """What the window's Powertools Logger writes, formatted as in Lambda (JSON lines)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger().registered_formatter)
    logger().addHandler(handler)
    try:
        yield stream
    finally:
        logger().removeHandler(handler)


def call(
    rig: tuple[Chalice, ChaliceWindow],
    deps: Deps,
    method: str,
    path: str,
    resource: str | None = None,
    **kw: Any,
) -> dict[str, Any]:
    event = build_v1_event(http_event(method, path, **kw), resource=resource or path)
    return rig[1].handle(event, LocalContext(), deps)


def item_event(method: str, item_id: str, sub: str | None = "alice") -> dict[str, Any]:
    """A request for /t/items/{id}, with the path parameter API Gateway extracts."""
    v2 = build_v2_event(
        method=method,
        path=f"/t/items/{item_id}",
        route_key=f"{method} /t/items/{{id}}",
        path_parameters={"id": item_id},
        claims={"sub": sub} if sub else None,
    )
    return build_v1_event(v2, resource="/t/items/{id}")


def problem(result: dict[str, Any], status: int) -> dict[str, Any]:
    assert result["statusCode"] == status
    assert result["headers"]["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = json.loads(result["body"])
    assert body["status"] == status
    assert "Code" not in body and "Traceback" not in result["body"]
    return body


def test_path_parameters_reach_the_view(rig: Any, deps: Deps) -> None:
    result = rig[1].handle(item_event("GET", "42"), LocalContext(), deps)

    assert json.loads(result["body"]) == {"id": "42", "caller": "alice"}


def test_a_known_pattern_with_another_method_is_405(rig: Any, deps: Deps) -> None:
    result = rig[1].handle(item_event("DELETE", "42"), LocalContext(), deps)

    problem(result, 405)
    assert result["headers"]["Allow"] == "GET"


def test_an_unexpected_exception_is_a_logged_500_problem_without_internals(
    rig: Any, deps: Deps, log_lines: io.StringIO
) -> None:
    event = build_v1_event(http_event("GET", "/t/boom"), resource="/t/boom")
    event["requestContext"]["requestId"] = "req-boom"

    result = rig[1].handle(event, LocalContext(), deps)

    body = problem(result, 500)
    assert "secret internals" not in result["body"]
    assert body["instance"] == "/t/boom"
    logged = [json.loads(line) for line in log_lines.getvalue().splitlines() if '"unhandled error"' in line]
    assert logged and logged[0]["correlation_id"] == "req-boom"
    assert "secret internals" in logged[0]["exception"]


def test_chalice_own_error_answers_become_problems(rig: Any, deps: Deps) -> None:
    # a header with a newline: Chalice refuses the response itself and answers {"Code": ...}
    problem(call(rig, deps, "GET", "/t/bad-header"), 500)


def test_mapped_domain_errors_become_their_problem(rig: Any, deps: Deps) -> None:
    body = problem(call(rig, deps, "GET", "/t/done"), 409)

    assert body["detail"] == "already done: item 7"


def test_a_raised_problem_keeps_its_status(rig: Any, deps: Deps) -> None:
    assert problem(call(rig, deps, "GET", "/t/teapot"), 418)["type"].endswith("/teapot")


def test_a_storage_error_is_503(rig: Any, deps: Deps) -> None:
    assert problem(call(rig, deps, "GET", "/t/store"), 503)["type"].endswith("/storage-unavailable")


def test_a_failing_rate_limit_counter_is_503(rig: Any, deps: Deps) -> None:
    assert deps.rate_limiter is not None
    deps.rate_limiter = FixedWindowRateLimiter(BrokenCounter(), deps.rate_limiter.rule, FakeClock())

    problem(rig[1].handle(item_event("GET", "1"), LocalContext(), deps), 503)


def test_a_window_without_a_rate_limit_sends_no_rate_limit_headers(rig: Any, deps: Deps) -> None:
    deps.rate_limiter = None

    result = rig[1].handle(item_event("GET", "1"), LocalContext(), deps)

    assert result["statusCode"] == 200
    assert "X-RateLimit-Limit" not in result["headers"]


def test_a_base64_encoded_json_body_is_decoded(rig: Any, deps: Deps) -> None:
    event = build_v1_event(http_event("POST", "/t/echo", body={"text": "hi"}), resource="/t/echo")
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    event["isBase64Encoded"] = True

    result = rig[1].handle(event, LocalContext(), deps)

    assert json.loads(result["body"]) == {"text": "hi"}


def test_a_base64_encoded_body_over_the_limit_is_413_before_decoding(rig: Any, deps: Deps) -> None:
    event = build_v1_event(http_event("POST", "/t/echo", body={"text": "x" * 100}), resource="/t/echo")
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    event["isBase64Encoded"] = True

    problem(rig[1].handle(event, LocalContext(), deps), 413)


def test_a_json_suffix_content_type_is_json(rig: Any, deps: Deps) -> None:
    result = call(
        rig, deps, "POST", "/t/echo", body='{"text": "hi"}', content_type="application/merge-patch+json"
    )

    assert result["statusCode"] == 200


def test_a_payload_2_0_event_is_refused_as_a_problem_not_routed(rig: Any, deps: Deps) -> None:
    result = rig[1].handle(http_event("GET", "/t/boom"), LocalContext(), deps)

    assert problem(result, 500)["type"].endswith("/unsupported-event")


def test_the_composition_root_is_asked_only_when_no_deps_are_injected() -> None:
    app = Chalice(app_name="window-test-root")
    built: list[Deps] = []

    def root() -> Deps:
        built.append(Deps(WindowSettings(window="t", table_name="unused"), None))
        return built[-1]

    window = ChaliceWindow(app, deps=root)

    @window.get("/t/ping")
    def ping() -> Response:
        return json_response(200, {"limit": window.deps.settings.max_body_bytes})

    result = app(build_v1_event(http_event("GET", "/t/ping"), resource="/t/ping"), LocalContext())

    assert result["statusCode"] == 200
    assert len(built) == 2  # the rate-limit step and the view; the real root caches its deps


def test_a_missing_path_parameter_is_a_logged_500_not_a_crash(
    rig: Any, deps: Deps, log_lines: io.StringIO
) -> None:
    event = item_event("GET", "42")
    event["pathParameters"] = None

    problem(rig[1].handle(event, LocalContext(), deps), 500)
    assert '"unhandled error"' in log_lines.getvalue()
