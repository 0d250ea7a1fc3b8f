"""The eligibility window (Chalice, payload 1.0) through its Lambda entry, with in-memory fakes.

Events are built as API Gateway builds them: a payload 2.0 event (``build_v2_event``) converted to
1.0 (``build_v1_event``), exactly as the local gateway does for a Chalice window.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from helpers import http_event
from support.kit import FakeClock, InMemoryCounter

from eligibility import bootstrap
from eligibility.app import app, handle
from hms.apigw import build_v1_event, parse_response
from hmskit.context import LocalContext
from hmskit.observability import logger
from hmskit.settings import RateLimit, WindowSettings

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

BASE = "/api/v1/eligibility"
CHECK = f"{BASE}/check"
HEALTH = f"{BASE}/health"
TODAY = datetime(2026, 6, 15, 9, 30, tzinfo=UTC)
LIMIT = 3

GOOD = {
    "full_name": "Jane Doe",
    "date_of_birth": "1990-04-02",
    "passport_issued_on": "2017-09-01",
    "passport_expires_on": "2027-03-01",
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(TODAY.timestamp())


@pytest.fixture
def counter() -> InMemoryCounter:
    return InMemoryCounter()


@pytest.fixture
def deps(clock: FakeClock, counter: InMemoryCounter) -> bootstrap.Deps:
    settings = WindowSettings(
        window="eligibility",
        table_name="unused",
        rate_limit=RateLimit(limit=LIMIT, window=60),
        max_body_bytes=2048,
    )
    return bootstrap.build(settings, counter=counter, clock=clock)


def event(method: str, path: str, *, resource: str | None = None, **kw: Any) -> dict[str, Any]:
    """A payload 1.0 event; ``resource`` is the API Gateway route (``requestContext.resourcePath``)."""
    return build_v1_event(http_event(method, path, **kw), resource=resource or path)


def call(deps: bootstrap.Deps, method: str, path: str, **kw: Any) -> dict[str, Any]:
    return handle(event(method, path, **kw), LocalContext(), deps)


def check(deps: bootstrap.Deps, body: Any, **kw: Any) -> dict[str, Any]:
    if isinstance(body, str):
        kw.setdefault("content_type", "application/json")
    return call(deps, "POST", CHECK, body=body, **kw)


def problem(result: dict[str, Any], status: int) -> dict[str, Any]:
    assert result["statusCode"] == status
    assert result["headers"]["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = json.loads(result["body"])
    assert body["status"] == status
    assert body["type"].startswith("https://hms.example.gov/problems/")
    assert {"title", "detail", "instance"} <= set(body)
    assert "Code" not in body and "Message" not in body  # never Chalice's own error body
    return body


def fields(body: dict[str, Any]) -> list[str]:
    return [e["field"] for e in body["errors"]]


# -- 200 ----------------------------------------------------------------------------------------------
def test_an_eligible_applicant_is_allowed_with_no_reasons(deps: bootstrap.Deps) -> None:
    result = check(deps, GOOD)

    assert result["statusCode"] == 200
    assert result["headers"]["Content-Type"] == "application/json"
    assert json.loads(result["body"]) == {"allowed": True, "reasons": [], "checked_on": "2026-06-15"}


def test_an_ineligible_applicant_is_refused_with_every_reason(deps: bootstrap.Deps) -> None:
    body = {
        **GOOD,
        "passport_expires_on": "2030-01-01",
        "name_on_passport": "Jane Smith",
        "passport_damaged": True,
        "passport_lost_or_stolen": True,
    }

    answer = json.loads(check(deps, body)["body"])

    assert answer["allowed"] is False
    assert [r["code"] for r in answer["reasons"]] == [
        "NOT_YET_RENEWABLE",
        "NAME_CHANGE_UNDOCUMENTED",
        "PASSPORT_DAMAGED",
        "PASSPORT_LOST_OR_STOLEN",
    ]
    assert all(r["message"] for r in answer["reasons"])
    assert answer["checked_on"] == "2026-06-15"


def test_a_name_change_with_documents_is_allowed(deps: bootstrap.Deps) -> None:
    body = {
        **GOOD,
        "name_on_passport": "Jane Smith",
        "name_change_document_ids": ["01ARZ3NDEKTSV4RRFFQ69G5FAV"],
    }

    assert json.loads(check(deps, body)["body"])["allowed"] is True


def test_today_comes_from_the_injected_clock(deps: bootstrap.Deps, clock: FakeClock) -> None:
    clock.advance(365 * 86400)

    assert json.loads(check(deps, GOOD)["body"])["checked_on"] == "2027-06-15"


def test_a_renewals_token_forwarded_by_the_passport_window_is_accepted(deps: bootstrap.Deps) -> None:
    assert check(deps, GOOD, sub="citizen-7", scopes=["renewals.write"])["statusCode"] == 200


# -- payload 1.0 ----------------------------------------------------------------------------------------
def test_the_answer_is_a_payload_1_0_proxy_result(deps: bootstrap.Deps) -> None:
    result = check(deps, GOOD)

    assert set(result) == {"statusCode", "headers", "multiValueHeaders", "body"}
    assert isinstance(result["body"], str)
    status, headers, body = parse_response(result, payload_version="1.0")
    assert status == 200
    assert ("content-type", "application/json") in headers
    assert json.loads(body)["allowed"] is True


def test_the_app_is_the_lambda_entry_and_routes_on_the_resource_path(deps: bootstrap.Deps) -> None:
    ev = event("GET", HEALTH)

    assert ev["requestContext"]["resourcePath"] == HEALTH
    assert app(ev, LocalContext())["statusCode"] == 200  # the handler string eligibility.app.app


def test_the_log_correlation_id_is_the_api_gateway_request_id(deps: bootstrap.Deps) -> None:
    ev = event("POST", CHECK, body=GOOD)
    ev["requestContext"]["requestId"] = "req-eligibility-1"

    handle(ev, LocalContext(), deps)

    assert logger().get_correlation_id() == "req-eligibility-1"


# -- identity -------------------------------------------------------------------------------------------
def test_no_verified_identity_is_401(deps: bootstrap.Deps) -> None:
    body = problem(check(deps, GOOD, sub=None), 401)

    assert body["instance"] == CHECK


def test_an_x_hms_user_header_is_not_an_identity(deps: bootstrap.Deps) -> None:
    problem(check(deps, GOOD, sub=None, headers={"x-hms-user": "alice"}), 401)


def test_identity_is_checked_before_the_body_is_read(deps: bootstrap.Deps) -> None:
    problem(check(deps, "{not json", sub=None), 401)


def test_the_health_route_needs_no_identity(deps: bootstrap.Deps) -> None:
    result = call(deps, "GET", HEALTH, sub=None)

    assert result["statusCode"] == 200
    assert json.loads(result["body"]) == {"window": "eligibility", "status": "ok"}


# -- 400, 413, 415, 422 ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw", ["{", "", "not json", '{"full_name": "x",}'], ids=["open", "empty", "text", "comma"]
)
def test_malformed_json_is_400(deps: bootstrap.Deps, raw: str) -> None:
    body = problem(check(deps, raw), 400)

    assert body["type"].endswith("/malformed-json")


def test_a_body_that_is_not_utf8_is_400(deps: bootstrap.Deps) -> None:
    result = call(deps, "POST", CHECK, body=b'{"full_name": "\xff"}', content_type="application/json")

    problem(result, 400)


def test_a_body_over_the_limit_is_413(deps: bootstrap.Deps) -> None:
    body = {**GOOD, "full_name": "x" * 4000}

    problem(check(deps, body), 413)


def test_a_body_that_is_not_json_by_content_type_is_415(deps: bootstrap.Deps) -> None:
    problem(check(deps, json.dumps(GOOD), content_type="text/plain"), 415)
    problem(check(deps, "full_name=x", content_type="application/x-www-form-urlencoded"), 415)


def test_a_json_object_sent_with_curls_default_form_type_is_taken_as_json(deps: bootstrap.Deps) -> None:
    result = check(deps, json.dumps(GOOD), content_type="application/x-www-form-urlencoded")

    assert result["statusCode"] == 200, result


def test_missing_and_unknown_fields_are_422_naming_each(deps: bootstrap.Deps) -> None:
    body = problem(check(deps, {"full_name": "Jane Doe", "nationality": "GB"}), 422)

    assert sorted(fields(body)) == [
        "date_of_birth",
        "nationality",
        "passport_expires_on",
        "passport_issued_on",
    ]


@pytest.mark.parametrize(
    "value",
    ["15/06/1990", "1990-06-15T00:00:00", "19900615", "1990-6-15", "1990-02-30", 645408000, None],
    ids=["uk", "datetime", "basic", "unpadded", "no-such-day", "timestamp", "null"],
)
def test_dates_must_be_iso_strings(deps: bootstrap.Deps, value: Any) -> None:
    body = problem(check(deps, {**GOOD, "date_of_birth": value}), 422)

    assert fields(body) == ["date_of_birth"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("full_name", ""),
        ("full_name", "   "),
        ("full_name", "x" * 201),
        ("full_name", 42),
        ("name_on_passport", ""),
        ("passport_damaged", "true"),
        ("passport_lost_or_stolen", 1),
        ("name_change_document_ids", "01ARZ3NDEKTSV4RRFFQ69G5FAV"),
        ("name_change_document_ids", ["not-a-document-id"]),
        ("name_change_document_ids", ["01ARZ3NDEKTSV4RRFFQ69G5FAV"] * 11),
    ],
)
def test_each_invalid_field_is_422_naming_it(deps: bootstrap.Deps, field: str, value: Any) -> None:
    body = problem(check(deps, {**GOOD, field: value}), 422)

    assert {f.split(".")[0] for f in fields(body)} == {field}


def test_a_json_value_that_is_not_an_object_is_422(deps: bootstrap.Deps) -> None:
    problem(check(deps, "[]"), 422)


def test_dates_that_contradict_each_other_are_422_naming_the_fields(deps: bootstrap.Deps) -> None:
    body = {**GOOD, "date_of_birth": "2018-01-01", "passport_expires_on": "2017-01-01"}

    answer = problem(check(deps, body), 422)

    assert answer["errors"] == [
        {"field": "passport_issued_on", "reason": "must not be before date_of_birth"},
        {"field": "passport_expires_on", "reason": "must be after passport_issued_on"},
    ]


def test_a_birth_date_in_the_future_is_422(deps: bootstrap.Deps) -> None:
    answer = problem(check(deps, {**GOOD, "date_of_birth": "2026-06-16"}), 422)

    assert "date_of_birth" in fields(answer)


# -- 404, 405 -------------------------------------------------------------------------------------------
def test_an_unknown_route_is_a_404_problem(deps: bootstrap.Deps) -> None:
    body = problem(call(deps, "GET", f"{BASE}/nowhere"), 404)

    assert body["instance"] == f"{BASE}/nowhere"


def test_a_known_path_with_another_method_is_a_405_problem_with_allow(deps: bootstrap.Deps) -> None:
    result = call(deps, "GET", CHECK)

    problem(result, 405)
    assert result["headers"]["Allow"] == "POST"


def test_an_unknown_route_leaves_the_route_table_alone(deps: bootstrap.Deps) -> None:
    before = {path: set(methods) for path, methods in app.routes.items()}

    call(deps, "DELETE", f"{BASE}/elsewhere")

    assert {path: set(methods) for path, methods in app.routes.items()} == before


# -- 429 ------------------------------------------------------------------------------------------------
def test_answers_carry_the_rate_limit_headers(deps: bootstrap.Deps) -> None:
    headers = check(deps, GOOD)["headers"]

    assert headers["X-RateLimit-Limit"] == str(LIMIT)
    assert headers["X-RateLimit-Remaining"] == str(LIMIT - 1)
    assert headers["X-RateLimit-Reset"] == "60"  # 09:30:00 starts a 60 s window
    assert "Retry-After" not in headers


def test_the_request_over_the_limit_is_429_with_retry_after(deps: bootstrap.Deps) -> None:
    for _ in range(LIMIT):
        assert check(deps, GOOD)["statusCode"] == 200

    result = check(deps, GOOD)

    body = problem(result, 429)
    assert result["headers"]["Retry-After"] == result["headers"]["X-RateLimit-Reset"]
    assert result["headers"]["X-RateLimit-Remaining"] == "0"
    assert (body["limit"], body["window"]) == (LIMIT, 60)


def test_malformed_and_invalid_requests_spend_the_budget_too(deps: bootstrap.Deps) -> None:
    check(deps, "{")
    check(deps, {})

    assert check(deps, GOOD)["statusCode"] == 200
    assert check(deps, GOOD)["statusCode"] == 429


def test_anonymous_callers_are_counted_by_client_ip(deps: bootstrap.Deps, counter: InMemoryCounter) -> None:
    check(deps, GOOD, sub=None)

    assert list(counter.counts) == [("RATE#ip:127.0.0.1", f"W#{int(TODAY.timestamp())}")]


def test_each_principal_has_its_own_budget(deps: bootstrap.Deps) -> None:
    for _ in range(LIMIT + 1):
        check(deps, GOOD, sub="alice")

    assert check(deps, GOOD, sub="bob")["statusCode"] == 200


def test_the_health_route_is_not_rate_limited(deps: bootstrap.Deps, counter: InMemoryCounter) -> None:
    for _ in range(LIMIT * 2):
        result = call(deps, "GET", HEALTH)
        assert result["statusCode"] == 200
        assert "X-RateLimit-Limit" not in result["headers"]

    assert counter.counts == {}


def test_unknown_routes_are_not_counted(deps: bootstrap.Deps, counter: InMemoryCounter) -> None:
    call(deps, "GET", f"{BASE}/nowhere")

    assert counter.counts == {}


def test_the_flat_authorizer_context_aws_gives_payload_1_0_is_an_identity(
    deps: bootstrap.Deps, counter: InMemoryCounter
) -> None:
    # AWS puts a JWT authorizer's result at requestContext.authorizer.{claims,scopes} for 1.0
    ev = event("POST", CHECK, body=GOOD, sub=None)
    ev["requestContext"]["authorizer"] = {
        "claims": {"sub": "citizen-9", "scope": "renewals.write"},
        "scopes": None,
    }

    assert handle(ev, LocalContext(), deps)["statusCode"] == 200
    assert [pk for pk, _ in counter.counts] == ["RATE#sub:citizen-9"]


def test_an_authorizer_context_without_claims_is_no_identity(deps: bootstrap.Deps) -> None:
    ev = event("POST", CHECK, body=GOOD, sub=None)
    ev["requestContext"]["authorizer"] = {"claims": None, "scopes": None}

    problem(handle(ev, LocalContext(), deps), 401)
