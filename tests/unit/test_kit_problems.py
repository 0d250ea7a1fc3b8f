"""Every error is an RFC 9457 problem with a useful detail."""

from __future__ import annotations

import json

from hmskit.problems import (
    PROBLEM_CONTENT_TYPE,
    TYPE_BASE,
    NotFoundError,
    TooManyRequestsError,
    UnprocessableError,
    validation_problem,
)


def test_a_problem_renders_the_rfc_9457_members() -> None:
    body = json.loads(NotFoundError("no payment X").to_json("/api/v1/payments/X"))

    assert body == {
        "type": TYPE_BASE + "not-found",
        "title": "Not Found",
        "status": 404,
        "detail": "no payment X",
        "instance": "/api/v1/payments/X",
    }


def test_a_problem_without_instance_leaves_the_member_out() -> None:
    assert "instance" not in NotFoundError("x").to_dict()


def test_extensions_and_headers_travel_with_the_problem() -> None:
    problem = TooManyRequestsError("slow down", headers={"Retry-After": "5"}, limit=30)

    assert problem.to_dict()["limit"] == 30
    assert problem.headers == {"Retry-After": "5"}
    assert problem.status == 429


def test_status_and_slug_can_be_narrowed_per_raise() -> None:
    problem = NotFoundError("no route", slug="no-route")

    assert problem.to_dict()["type"] == TYPE_BASE + "no-route"
    assert NotFoundError("x").slug == "not-found"


def test_a_validation_problem_names_every_invalid_field() -> None:
    problem = validation_problem(
        [
            {"loc": ("body", "amount"), "msg": "too big"},
            {"loc": ("purpose",), "msg": "missing"},
        ]
    )

    assert isinstance(problem, UnprocessableError)
    assert problem.status == 422
    assert problem.to_dict()["errors"] == [
        {"field": "amount", "reason": "too big"},
        {"field": "purpose", "reason": "missing"},
    ]
    assert "amount: too big" in problem.detail and "purpose: missing" in problem.detail


def test_problems_are_served_as_problem_json() -> None:
    assert PROBLEM_CONTENT_TYPE == "application/problem+json"
