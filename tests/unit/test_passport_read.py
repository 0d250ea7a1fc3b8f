"""GET a renewal and list renewals: citizens see only their own, newest first, page by page."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from helpers import ROOT, assert_problem, body_of, example_body, http_event
from support.kit import FakeClock, PassThroughIdempotency
from support.passport import InMemoryRenewalRepository

from hmskit.a2a import A2AResponse
from hmskit.context import LocalContext
from hmskit.ids import new_id
from hmskit.outbox import Outbox
from hmskit.settings import WindowSettings
from hmskit.store import TableStore
from passport.adapters import A2AEligibility
from passport.bootstrap import Deps
from passport.handler import handle

BASE = "/api/v1/renewals"
# the documented renewal, without its optional email
BODY: dict[str, Any] = {
    k: v for k, v in example_body("passport", "POST", "/api/v1/renewals").items() if k != "email"
}


class AllowingEligibility:
    def call(self, window: str, method: str, path: str, **kw: Any) -> A2AResponse:
        return A2AResponse(200, {}, {"allowed": True, "reasons": [], "checked_on": "2027-01-15"})


@pytest.fixture
def deps(clock: FakeClock) -> Deps:
    return Deps(
        settings=WindowSettings(window="passport", table_name="unused"),
        renewals=InMemoryRenewalRepository(),
        eligibility=A2AEligibility(AllowingEligibility),
        events=Outbox(
            TableStore(None, "unused"),
            window="passport",
            new_id=lambda: new_id(int(clock.now() * 1000)),
            now=clock.now,
        ),
        rate_limiter=None,
        idempotency=PassThroughIdempotency(),  # type: ignore[arg-type]
        dedupe_factory=lambda: pytest.fail("no events here"),
        clock=clock,
    )


def call(deps: Deps, method: str, path: str, **kw: Any) -> dict[str, Any]:
    return handle(http_event(method, path, **kw), LocalContext(), deps)


def submit(deps: Deps, clock: FakeClock, sub: str, name: str = "Alice Example") -> str:
    clock.advance(0.005)  # ids are ordered by millisecond
    result = call(deps, "POST", BASE, body={**BODY, "full_name": name}, sub=sub)
    assert result["statusCode"] == 202, result["body"]
    return str(body_of(result)["id"])


def list_all(deps: Deps, sub: str, limit: int) -> tuple[list[str], int]:
    ids: list[str] = []
    pages, cursor = 0, None
    while True:
        query = f"limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        result = call(deps, "GET", BASE, sub=sub, query=query)
        assert result["statusCode"] == 200, result["body"]
        body = body_of(result)
        ids += [item["id"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return ids, pages


# -- one renewal ------------------------------------------------------------------------------------


def test_the_owner_reads_the_renewal_with_its_status_and_a_masked_passport_number(
    deps: Deps, clock: FakeClock
) -> None:
    renewal_id = submit(deps, clock, "alice")

    result = call(deps, "GET", f"{BASE}/{renewal_id}", route=f"{BASE}/{{id}}", sub="alice")

    assert result["statusCode"] == 200
    body = body_of(result)
    assert body["id"] == renewal_id
    assert body["status"] == "submitted"
    assert body["passport_number"] == "*****4567"
    assert "AB1234567" not in result["body"]
    assert {"payment_id", "photo_document_id", "submitted_at", "updated_at", "paid_at"} <= body.keys()


def test_the_renewal_shows_the_fee_to_pay_in_every_answer(deps: Deps, clock: FakeClock) -> None:
    clock.advance(0.005)
    submitted = call(deps, "POST", BASE, body=BODY, sub="alice")
    renewal_id = body_of(submitted)["id"]

    got = body_of(call(deps, "GET", f"{BASE}/{renewal_id}", route=f"{BASE}/{{id}}", sub="alice"))
    listed = body_of(call(deps, "GET", BASE, sub="alice"))

    fee = {"amount": "130.00", "currency": "USD"}  # the default, a decimal string, never a number
    assert body_of(submitted)["fee"] == got["fee"] == listed["items"][0]["fee"] == fee


def test_the_fee_shown_is_the_windows_setting(deps: Deps, clock: FakeClock) -> None:
    from passport.settings import parse_fee

    deps.renewal_fee = parse_fee("75.5 GBP")
    renewal_id = submit(deps, clock, "alice")

    got = body_of(call(deps, "GET", f"{BASE}/{renewal_id}", route=f"{BASE}/{{id}}", sub="alice"))

    assert got["fee"] == {"amount": "75.50", "currency": "GBP"}


def test_another_citizen_gets_404_for_a_renewal_that_exists(deps: Deps, clock: FakeClock) -> None:
    renewal_id = submit(deps, clock, "alice")

    problem = assert_problem(call(deps, "GET", f"{BASE}/{renewal_id}", sub="bob"), 404)

    assert renewal_id in problem["detail"]
    assert "alice" not in json.dumps(problem)


@pytest.mark.parametrize(
    "renewal_id", ["01MCC5RM002KT2X6WDSQTN77AV", "not-an-id", "x" * 300], ids=["unknown", "malformed", "long"]
)
def test_an_unknown_or_malformed_id_is_404(deps: Deps, renewal_id: str) -> None:
    assert_problem(call(deps, "GET", f"{BASE}/{renewal_id}"), 404)


def test_reading_needs_a_verified_identity(deps: Deps, clock: FakeClock) -> None:
    renewal_id = submit(deps, clock, "alice")

    assert_problem(call(deps, "GET", f"{BASE}/{renewal_id}", sub=None), 401)
    assert_problem(call(deps, "GET", BASE, sub=None), 401)


# -- the list ---------------------------------------------------------------------------------------


def test_the_list_is_the_callers_own_newest_first(deps: Deps, clock: FakeClock) -> None:
    first = submit(deps, clock, "alice", "First")
    submit(deps, clock, "bob", "Bob's")
    second = submit(deps, clock, "alice", "Second")

    body = body_of(call(deps, "GET", BASE, sub="alice"))

    assert [(i["id"], i["full_name"]) for i in body["items"]] == [(second, "Second"), (first, "First")]
    assert body["next_cursor"] is None
    assert all(i["passport_number"] == "*****4567" for i in body["items"])


def test_the_list_pages_through_everything_without_gaps_or_repeats(deps: Deps, clock: FakeClock) -> None:
    made = [submit(deps, clock, "alice") for _ in range(7)]

    ids, pages = list_all(deps, "alice", limit=3)

    assert ids == list(reversed(made))
    assert pages == 3


def test_an_empty_list_is_200(deps: Deps) -> None:
    assert body_of(call(deps, "GET", BASE, sub="nobody")) == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=101", "limit=abc", "limit=-1", "limit=1.5", "limit=%C2%B2"]
)
def test_a_bad_limit_is_400(deps: Deps, query: str) -> None:
    assert "limit" in assert_problem(call(deps, "GET", BASE, query=query), 400)["detail"]


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        base64.urlsafe_b64encode(b'{"after": "PAYMENT#01J"}').decode(),
        base64.urlsafe_b64encode(b'{"after": "OWNER#bob"}').decode(),
        "x" * 513,
    ],
)
def test_a_cursor_this_api_did_not_issue_is_400(deps: Deps, cursor: str) -> None:
    assert_problem(call(deps, "GET", BASE, query=f"cursor={cursor}"), 400)


# -- health and cold start --------------------------------------------------------------------------


def test_health_needs_no_identity_and_no_table(deps: Deps) -> None:
    result = call(deps, "GET", f"{BASE}/health", sub=None)

    assert result["statusCode"] == 200
    assert body_of(result) == {"window": "passport", "status": "ok"}


def test_a_wrong_method_is_405_naming_the_allowed_ones(deps: Deps) -> None:
    problem = assert_problem(call(deps, "DELETE", f"{BASE}/{new_id()}"), 405)

    assert "GET" in problem["detail"]


def test_a_get_never_imports_pydantic_the_a2a_client_or_the_consumer() -> None:
    """A GET's cold start pays for none of what only a POST or an event needs."""
    script = textwrap.dedent(
        """
        import sys
        sys.path[:0] = ["layers", "infra", "tests", "functions/passport"]
        from helpers import http_event
        from support.kit import FakeClock
        from hmskit.context import LocalContext
        from hmskit.settings import WindowSettings
        from passport import bootstrap
        from support.passport import InMemoryRenewalRepository
        from passport.handler import handle

        deps = bootstrap.build(WindowSettings(window="passport", table_name="t"), dynamodb=None, clock=FakeClock())
        deps.renewals = InMemoryRenewalRepository()
        assert handle(http_event("GET", "/api/v1/renewals"), LocalContext(), deps)["statusCode"] == 200
        assert handle(http_event("GET", "/api/v1/renewals/01J"), LocalContext(), deps)["statusCode"] == 404
        heavy = [m for m in ("pydantic", "hmskit.a2a", "hmskit.discovery", "hmskit.contracts",
                             "passport.consumers", "passport.models") if m in sys.modules]
        print(",".join(heavy))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False, timeout=60
    )

    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
