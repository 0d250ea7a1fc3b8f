"""GET a payment and list payments: citizens see only their own, newest first, page by page."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import assert_problem, body_of, http_event
from support.kit import FakeClock, PassThroughIdempotency
from support.payments import InMemoryPaymentRepository

from hmskit.context import LocalContext
from hmskit.ids import new_id
from hmskit.settings import WindowSettings
from payments.bootstrap import Deps
from payments.handler import app, handle

BASE = "/api/v1/payments"


@pytest.fixture
def deps(clock: FakeClock) -> Deps:
    return Deps(
        settings=WindowSettings(window="payments", table_name="unused"),
        payments=InMemoryPaymentRepository(),
        rate_limiter=None,
        idempotency=PassThroughIdempotency(),  # type: ignore[arg-type]
        clock=clock,
    )


def call(deps: Deps, method: str, path: str, **kw: Any) -> dict[str, Any]:
    return handle(http_event(method, path, **kw), LocalContext(), deps)


def create(deps: Deps, clock: FakeClock, sub: str, purpose: str = "fee") -> str:
    clock.advance(0.005)  # ids are ordered by millisecond
    result = call(deps, "POST", BASE, body={"amount": "5", "purpose": purpose}, sub=sub)
    assert result["statusCode"] == 201
    return str(body_of(result)["id"])


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


# -- one payment ------------------------------------------------------------------------------------


def test_a_citizen_reads_their_own_payment(deps: Deps, clock: FakeClock) -> None:
    pid = create(deps, clock, "alice", purpose="passport")

    result = call(deps, "GET", f"{BASE}/{pid}", sub="alice")

    assert result["statusCode"] == 200
    assert body_of(result)["id"] == pid
    assert body_of(result)["purpose"] == "passport"
    assert "owner" not in body_of(result)


def test_another_citizens_payment_is_404_not_403(deps: Deps, clock: FakeClock) -> None:
    pid = create(deps, clock, "alice")

    problem = assert_problem(call(deps, "GET", f"{BASE}/{pid}", sub="bob"), 404)

    assert pid in problem["detail"]


def test_an_x_hms_user_header_does_not_unlock_another_citizens_payment(deps: Deps, clock: FakeClock) -> None:
    pid = create(deps, clock, "alice")

    assert_problem(call(deps, "GET", f"{BASE}/{pid}", sub="bob", headers={"x-hms-user": "alice"}), 404)


def test_an_unknown_id_is_404(deps: Deps) -> None:
    assert_problem(call(deps, "GET", f"{BASE}/{new_id()}"), 404)


@pytest.mark.parametrize("bad", ["not-an-id", "0" * 27, "%27%20OR%201", "ILOU" * 6 + "AA"])
def test_a_malformed_id_is_404(deps: Deps, bad: str) -> None:
    assert_problem(call(deps, "GET", f"{BASE}/{bad}"), 404)


def test_reading_without_a_token_is_401(deps: Deps, clock: FakeClock) -> None:
    pid = create(deps, clock, "alice")

    assert_problem(call(deps, "GET", f"{BASE}/{pid}", sub=None), 401)


# -- lists ------------------------------------------------------------------------------------------


def test_a_list_holds_only_the_callers_payments_newest_first(deps: Deps, clock: FakeClock) -> None:
    a1 = create(deps, clock, "alice")
    create(deps, clock, "bob")
    a2 = create(deps, clock, "alice")
    a3 = create(deps, clock, "alice")

    body = body_of(call(deps, "GET", BASE, sub="alice"))

    assert [item["id"] for item in body["items"]] == [a3, a2, a1]
    assert body["next_cursor"] is None


def test_an_empty_list_has_no_cursor(deps: Deps) -> None:
    assert body_of(call(deps, "GET", BASE, sub="carol")) == {"items": [], "next_cursor": None}


@pytest.mark.parametrize("limit", [1, 2, 3, 7])
def test_pages_cover_every_payment_once_in_order(deps: Deps, clock: FakeClock, limit: int) -> None:
    created = [create(deps, clock, "alice") for _ in range(7)]
    create(deps, clock, "bob")

    ids, pages = list_all(deps, "alice", limit)

    assert ids == list(reversed(created))  # no duplicates, no gaps, newest first
    assert pages == -(-7 // limit)


def test_a_cursor_is_opaque(deps: Deps, clock: FakeClock) -> None:
    for _ in range(3):
        create(deps, clock, "alice")

    cursor = body_of(call(deps, "GET", BASE, sub="alice", query="limit=1"))["next_cursor"]

    assert "alice" not in cursor and "OWNER" not in cursor and "PAYMENT" not in cursor


def test_another_citizens_cursor_only_pages_the_callers_own_payments(deps: Deps, clock: FakeClock) -> None:
    for _ in range(3):
        create(deps, clock, "alice")
    mine = create(deps, clock, "bob")
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


def test_a_tampered_cursor_is_400(deps: Deps, clock: FakeClock) -> None:
    for _ in range(2):
        create(deps, clock, "alice")
    cursor = body_of(call(deps, "GET", BASE, sub="alice", query="limit=1"))["next_cursor"]

    assert_problem(call(deps, "GET", BASE, sub="alice", query=f"cursor={tamper(cursor)}"), 400)


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=ten", "cursor=" + "a" * 600])
def test_a_bad_query_is_400(deps: Deps, query: str) -> None:
    assert_problem(call(deps, "GET", BASE, query=query), 400)


# -- routing ----------------------------------------------------------------------------------------


def test_an_unknown_route_is_404(deps: Deps) -> None:
    problem = assert_problem(call(deps, "GET", "/api/v1/nowhere"), 404)

    assert "/api/v1/nowhere" in problem["detail"]


def test_a_wrong_method_is_405_with_allow(deps: Deps) -> None:
    result = call(deps, "DELETE", BASE)

    assert_problem(result, 405)
    assert result["headers"]["Allow"] == "GET, POST"


def test_a_wrong_method_on_a_payment_is_405(deps: Deps) -> None:
    result = call(deps, "PUT", f"{BASE}/{new_id()}")

    assert_problem(result, 405)
    assert result["headers"]["Allow"] == "GET"


def test_health_answers_without_a_token(deps: Deps) -> None:
    result = call(deps, "GET", f"{BASE}/health", sub=None)

    assert result["statusCode"] == 200
    assert body_of(result) == {"window": "payments", "status": "ok"}


def test_the_route_table_is_what_the_manifest_declares() -> None:
    assert app.route_table() == [
        ("GET", "/api/v1/payments"),
        ("GET", "/api/v1/payments/health"),
        ("GET", "/api/v1/payments/{id}"),
        ("GET", "/api/v2/payments"),
        ("GET", "/api/v2/payments/{id}"),
        ("POST", "/api/v1/payments"),
        ("POST", "/api/v2/payments"),
    ]
