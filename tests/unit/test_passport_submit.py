"""POST /api/v1/renewals: validated strictly, checked by eligibility (A2A), stored with its event.

In-memory fakes only: the repository (with the outbox it writes in the same "transaction"), a fake
A2A client standing in for the eligibility window, a pass-through idempotency.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from helpers import assert_problem, body_of
from support.kit import FakeClock, PassThroughIdempotency
from support.passport import InMemoryRenewalRepository

from hms.apigw import build_v2_event
from hmskit.a2a import A2AResponse
from hmskit.context import LocalContext
from hmskit.contracts import RenewalSubmittedV1
from hmskit.ids import is_id, new_id
from hmskit.outbox import Outbox
from hmskit.problems import BadGatewayError, GatewayTimeoutError, ServiceUnavailableError
from hmskit.settings import WindowSettings
from hmskit.store import TableStore
from passport.adapters import A2AEligibility
from passport.bootstrap import Deps
from passport.handler import handle

BASE = "/api/v1/renewals"
TOKEN = "header.payload.signature"

VALID: dict[str, Any] = {
    "full_name": "Alice Example",
    "date_of_birth": "1990-04-01",
    "passport_number": "ab1234567",
    "passport_issued_on": "2017-03-01",
    "passport_expires_on": "2027-03-01",
    "mailing_address": {
        "line1": "1 High Street",
        "city": "Springfield",
        "state": "IL",
        "postal_code": "62701",
        "country": "us",
    },
}
ALLOWED = {"allowed": True, "reasons": [], "checked_on": "2027-01-15"}


class FakeA2A:
    """Stands in for ``hmskit.a2a.A2AClient``: records each call, answers or raises what it is told."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.status = 200
        self.answer: Any = ALLOWED
        self.error: Exception | None = None

    def call(self, window: str, method: str, path: str, **kw: Any) -> A2AResponse:
        self.calls.append({"window": window, "method": method, "path": path, **kw})
        if self.error is not None:
            raise self.error
        assert self.status in kw["expect"]
        return A2AResponse(self.status, {"content-type": "application/json"}, self.answer)


@pytest.fixture
def repo() -> InMemoryRenewalRepository:
    return InMemoryRenewalRepository()


@pytest.fixture
def a2a() -> FakeA2A:
    return FakeA2A()


@pytest.fixture
def deps(
    clock: FakeClock, repo: InMemoryRenewalRepository, a2a: FakeA2A, idem: PassThroughIdempotency
) -> Deps:
    outbox = Outbox(
        TableStore(None, "unused"),
        window="passport",
        new_id=lambda: new_id(int(clock.now() * 1000)),
        now=clock.now,
    )
    return Deps(
        settings=WindowSettings(window="passport", table_name="unused", max_body_bytes=4096),
        renewals=repo,
        eligibility=A2AEligibility(lambda: a2a),
        events=outbox,
        rate_limiter=None,
        idempotency=idem,  # type: ignore[arg-type]
        dedupe_factory=lambda: pytest.fail("a POST never consumes events"),
        clock=clock,
    )


def post(
    deps: Deps,
    body: Any,
    *,
    sub: str | None = "alice",
    claims: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    request_id: str = "req-1",
) -> dict[str, Any]:
    hdrs = {"content-type": "application/json", "authorization": f"Bearer {TOKEN}", **(headers or {})}
    text = body if isinstance(body, str) else json.dumps(body)
    event = build_v2_event(
        method="POST",
        path=BASE,
        route_key=f"POST {BASE}",
        headers=list(hdrs.items()),
        body=text.encode(),
        claims={"sub": sub, "scope": "renewals.write", **(claims or {})} if sub else None,
        scopes=["renewals.write"],
        request_id=request_id,
    )
    return handle(event, LocalContext(), deps)


def with_(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(VALID)
    body.update(changes)
    return body


def with_address(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(VALID)
    body["mailing_address"].update(changes)
    return body


def without(path: str) -> dict[str, Any]:
    body = copy.deepcopy(VALID)
    *parents, last = path.split(".")
    node = body
    for p in parents:
        node = node[p]
    del node[last]
    return body


# -- the happy path ---------------------------------------------------------------------------------


def test_a_submitted_renewal_is_202_with_its_location_and_is_stored(
    deps: Deps, repo: InMemoryRenewalRepository
) -> None:
    result = post(deps, VALID)

    assert result["statusCode"] == 202, result["body"]
    body = body_of(result)
    assert is_id(body["id"])
    assert result["headers"]["Location"] == f"{BASE}/{body['id']}"
    assert body == {
        "id": body["id"],
        "status": "submitted",
        "fee": {"amount": "130.00", "currency": "USD"},  # what to pay (the default fee)
        "full_name": "Alice Example",
        "date_of_birth": "1990-04-01",
        "passport_number": "*****4567",
        "passport_issued_on": "2017-03-01",
        "passport_expires_on": "2027-03-01",
        "mailing_address": {
            "line1": "1 High Street",
            "line2": None,
            "city": "Springfield",
            "state": "IL",
            "postal_code": "62701",
            "country": "US",
        },
        "email": None,
        "name_on_passport": None,
        "name_change_document_ids": [],
        "eligibility_checked_on": "2027-01-15",
        "payment_id": None,
        "photo_document_id": None,
        "submitted_at": "2027-01-15T08:00:00.000+00:00",
        "updated_at": "2027-01-15T08:00:00.000+00:00",
        "paid_at": None,
        "photo_received_at": None,
        "ready_for_review_at": None,
    }
    (stored,) = repo.items.values()
    assert (stored.owner, stored.id, stored.status) == ("alice", body["id"], "submitted")
    assert stored.passport_number == "AB1234567"  # stored in full, normalised; only the view masks it


def test_exactly_one_renewal_submitted_event_is_written_with_the_renewal(
    deps: Deps, repo: InMemoryRenewalRepository
) -> None:
    result = post(deps, with_(email="alice@example.org"), request_id="req-42")

    (event,) = repo.outbox
    assert event.type == "RenewalSubmitted"
    assert isinstance(event.data, RenewalSubmittedV1)
    assert event.metadata.source == "passport"
    assert event.metadata.correlation_id == "req-42"  # the API Gateway request id
    assert event.detail()["data"] == {
        "renewal_id": body_of(result)["id"],
        "owner": "alice",
        "full_name": "Alice Example",
        "email": "alice@example.org",
        "submitted_at": "2027-01-15T08:00:00Z",
    }


def test_the_email_comes_from_the_token_when_the_body_has_none(
    deps: Deps, repo: InMemoryRenewalRepository
) -> None:
    post(deps, VALID, claims={"email": "alice@token.example"})
    post(deps, with_(email="alice@body.example"), claims={"email": "alice@token.example"})
    post(deps, VALID, claims={"email": "not an email"})

    assert [e.data.email for e in repo.outbox] == [  # type: ignore[attr-defined]
        "alice@token.example",
        "alice@body.example",
        None,
    ]


def test_eligibility_is_asked_with_the_callers_token_and_the_request_id(deps: Deps, a2a: FakeA2A) -> None:
    post(
        deps,
        with_(
            name_on_passport="Alice Old",
            name_change_document_ids=[new_id(1_700_000_000_000)],
            passport_damaged=False,
            email="a@example.org",
        ),
        request_id="req-7",
    )

    (call,) = a2a.calls
    doc_id = call["json_body"]["name_change_document_ids"][0]
    assert call == {
        "window": "eligibility",
        "method": "POST",
        "path": "/api/v1/eligibility/check",
        "token": TOKEN,
        "correlation_id": "req-7",
        "expect": (200, 403, 422),
        "json_body": {  # exactly eligibility's fields: never the passport number, address or email
            "full_name": "Alice Example",
            "date_of_birth": "1990-04-01",
            "passport_issued_on": "2017-03-01",
            "passport_expires_on": "2027-03-01",
            "name_on_passport": "Alice Old",
            "name_change_document_ids": [doc_id],
            "passport_damaged": False,
            "passport_lost_or_stolen": False,
        },
    }


def test_the_owner_is_the_token_sub_never_a_header_or_the_body(
    deps: Deps, repo: InMemoryRenewalRepository
) -> None:
    post(deps, VALID, sub="alice", headers={"x-hms-user": "bob"})
    assert [r.owner for r in repo.items.values()] == ["alice"]

    problem = assert_problem(post(deps, with_(owner="bob")), 422)
    assert [e["field"] for e in problem["errors"]] == ["owner"]


def test_the_submit_runs_through_idempotency_scoped_to_principal_and_route(
    deps: Deps, idem: PassThroughIdempotency
) -> None:
    post(deps, VALID, headers={"Idempotency-Key": "k-1"})

    (call,) = idem.calls
    assert (call["key"], call["principal"], call["route"]) == ("k-1", "alice", "POST /api/v1/renewals")
    assert call["body"]["passport_number"] == "AB1234567"


def test_a_retry_replayed_by_idempotency_creates_no_second_renewal(
    deps: Deps, repo: InMemoryRenewalRepository, a2a: FakeA2A
) -> None:
    class Replaying(PassThroughIdempotency):
        def __init__(self) -> None:
            super().__init__()
            self.answers: dict[tuple[str | None, str], dict[str, Any]] = {}

        def run(self, *, key: str | None, principal: str, compute: Any, **kw: Any) -> dict[str, Any]:
            if (key, principal) not in self.answers:
                self.answers[(key, principal)] = compute()
            return self.answers[(key, principal)]

    deps.idempotency = Replaying()  # type: ignore[assignment]

    first = post(deps, VALID, headers={"Idempotency-Key": "k-1"})
    again = post(deps, VALID, headers={"Idempotency-Key": "k-1"})

    assert again["statusCode"] == first["statusCode"] == 202
    assert body_of(again)["id"] == body_of(first)["id"]
    assert len(repo.items) == len(repo.outbox) == len(a2a.calls) == 1


# -- validation -------------------------------------------------------------------------------------

REQUIRED = [
    "full_name",
    "date_of_birth",
    "passport_number",
    "passport_issued_on",
    "passport_expires_on",
    "mailing_address",
    "mailing_address.line1",
    "mailing_address.city",
    "mailing_address.state",
    "mailing_address.postal_code",
    "mailing_address.country",
]


@pytest.mark.parametrize("field", REQUIRED)
def test_each_required_field_is_named_when_missing(
    deps: Deps, repo: InMemoryRenewalRepository, a2a: FakeA2A, field: str
) -> None:
    problem = assert_problem(post(deps, without(field)), 422)

    assert [e["field"] for e in problem["errors"]] == [field]
    assert field in problem["detail"]
    assert repo.items == {} and repo.outbox == [] and a2a.calls == []


def test_an_empty_body_names_every_required_top_level_field(deps: Deps) -> None:
    problem = assert_problem(post(deps, {}), 422)

    assert {e["field"] for e in problem["errors"]} == {f for f in REQUIRED if "." not in f}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("full_name", ""),
        ("full_name", "   "),
        ("full_name", "x" * 201),
        ("full_name", 5),
        ("full_name", None),
        ("date_of_birth", "01/04/1990"),
        ("date_of_birth", "19900401"),
        ("date_of_birth", "1990-02-30"),
        ("date_of_birth", "1990-04-01T00:00:00"),
        ("date_of_birth", 638928000),
        ("passport_issued_on", "2017-3-1"),
        ("passport_expires_on", ""),
        ("passport_number", "12345"),  # too short
        ("passport_number", "1234567890"),  # too long
        ("passport_number", "AB-12345"),
        ("passport_number", "AB 12345"),
        ("passport_number", 123456789),
        ("passport_number", "ÀB123456"),
        ("email", "not-an-email"),
        ("email", "a@b"),
        ("email", 5),
        ("name_on_passport", ""),
        ("name_change_document_ids", ["not-an-id"]),
        ("name_change_document_ids", "01J0000000000000000000000"),
        ("name_change_document_ids", ["01MCC5RM002KT2X6WDSQTN77AV"] * 11),
        ("passport_damaged", "false"),
        ("passport_damaged", 0),
        ("passport_damaged", None),
        ("passport_lost_or_stolen", "yes"),
        ("mailing_address", "1 High Street, Springfield"),
    ],
)
def test_an_invalid_field_is_422_naming_it(
    deps: Deps, repo: InMemoryRenewalRepository, a2a: FakeA2A, field: str, value: Any
) -> None:
    problem = assert_problem(post(deps, with_(**{field: value})), 422)

    assert problem["errors"][0]["field"].split(".")[0] == field
    assert repo.items == {} and a2a.calls == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("line1", ""),
        ("line1", "x" * 101),
        ("line2", ""),
        ("city", 7),
        ("state", None),
        ("postal_code", ""),
        ("postal_code", "62701!"),
        ("postal_code", "1" * 17),
        ("country", "USA"),
        ("country", "XX"),
        ("country", "U"),
        ("country", 1),
    ],
)
def test_an_invalid_address_field_is_422_naming_it(deps: Deps, field: str, value: Any) -> None:
    problem = assert_problem(post(deps, with_address(**{field: value})), 422)

    assert problem["errors"][0]["field"] == f"mailing_address.{field}"


@pytest.mark.parametrize(
    "body",
    [with_(pasport_number="X"), with_(status="ready_for_review"), with_address(county="Kent")],
    ids=["typo", "status", "address-extra"],
)
def test_unknown_fields_are_refused_not_ignored(
    deps: Deps, repo: InMemoryRenewalRepository, body: Any
) -> None:
    problem = assert_problem(post(deps, body), 422)

    assert problem["errors"][0]["reason"] == "Extra inputs are not permitted"
    assert repo.items == {}


def test_text_is_normalised(deps: Deps, repo: InMemoryRenewalRepository) -> None:
    body = with_(full_name="  Alice Example ", passport_number=" c01x00t47 ")
    body["mailing_address"].update(country="gb", postal_code=" sw1a 1aa ", line2="Flat 2")

    assert post(deps, body)["statusCode"] == 202
    (renewal,) = repo.items.values()
    assert renewal.full_name == "Alice Example"
    assert renewal.passport_number == "C01X00T47"
    address = renewal.mailing_address
    assert (address.country, address.postal_code, address.line2) == ("GB", "SW1A 1AA", "Flat 2")


def test_malformed_json_is_400_and_another_content_type_415(deps: Deps) -> None:
    assert_problem(post(deps, '{"full_name": '), 400)
    assert_problem(post(deps, json.dumps(VALID), headers={"content-type": "text/plain"}), 415)


def test_no_verified_identity_is_401_and_nothing_is_asked(deps: Deps, a2a: FakeA2A) -> None:
    assert_problem(post(deps, VALID, sub=None), 401)
    assert a2a.calls == []


# -- eligibility's answers --------------------------------------------------------------------------

REFUSED = {
    "allowed": False,
    "reasons": [
        {"code": "PASSPORT_TOO_OLD", "message": "Issued more than 15 years ago: apply for a new passport."},
        {"code": "PASSPORT_DAMAGED", "message": "The passport is damaged: apply for a new passport."},
    ],
    "checked_on": "2027-01-15",
}


def test_not_eligible_is_403_with_the_reasons_and_nothing_is_stored_or_emitted(
    deps: Deps, repo: InMemoryRenewalRepository, a2a: FakeA2A
) -> None:
    a2a.answer = REFUSED

    problem = assert_problem(post(deps, with_(passport_damaged=True)), 403)

    assert problem["type"].endswith("/renewal-not-eligible")
    assert problem["reasons"] == REFUSED["reasons"]
    assert "PASSPORT_TOO_OLD: Issued more than 15 years ago" in problem["detail"]
    assert "PASSPORT_DAMAGED" in problem["detail"]
    assert repo.items == {} and repo.outbox == []


@pytest.mark.parametrize(
    "error",
    [
        ServiceUnavailableError("eligibility is unreachable", slug="upstream-unreachable"),
        GatewayTimeoutError("eligibility did not answer within 3000 ms", slug="upstream-timeout"),
        BadGatewayError("eligibility failed: 500", slug="upstream-error"),
    ],
    ids=["503", "504", "502"],
)
def test_eligibility_down_or_slow_propagates_its_problem_and_nothing_is_stored(
    deps: Deps, repo: InMemoryRenewalRepository, a2a: FakeA2A, error: Exception
) -> None:
    a2a.error = error

    problem = assert_problem(post(deps, VALID), error.status)  # type: ignore[attr-defined]

    assert problem["type"].endswith(error.slug)  # type: ignore[attr-defined]
    assert problem["detail"] == str(error)
    assert repo.items == {} and repo.outbox == []


def test_eligibility_refusing_the_token_is_a_clear_403(
    deps: Deps, repo: InMemoryRenewalRepository, a2a: FakeA2A
) -> None:
    a2a.status, a2a.answer = (
        403,
        {"status": 403, "title": "Forbidden", "detail": "missing scope eligibility.check"},
    )

    problem = assert_problem(post(deps, VALID), 403)

    assert problem["type"].endswith("/eligibility-forbidden")
    assert "missing scope eligibility.check" in problem["detail"]
    assert repo.items == {}


def test_an_application_eligibility_finds_invalid_is_422_with_its_field_errors(
    deps: Deps, repo: InMemoryRenewalRepository, a2a: FakeA2A
) -> None:
    errors = [{"field": "passport_issued_on", "reason": "is before date_of_birth"}]
    a2a.status, a2a.answer = (
        422,
        {"status": 422, "title": "Unprocessable", "detail": "dates", "errors": errors},
    )

    problem = assert_problem(post(deps, VALID), 422)

    assert problem["type"].endswith("/renewal-invalid")
    assert problem["errors"] == errors
    assert repo.items == {}


@pytest.mark.parametrize(
    "answer",
    [
        None,
        {},
        {"allowed": "yes", "reasons": []},
        {"allowed": True, "reasons": "none", "checked_on": "x"},
        {"allowed": False, "reasons": [{"code": 1}], "checked_on": "2027-01-15"},
        {"allowed": True, "reasons": []},
    ],
)
def test_an_answer_that_is_not_a_decision_is_502(
    deps: Deps, repo: InMemoryRenewalRepository, a2a: FakeA2A, answer: Any
) -> None:
    a2a.answer = answer

    problem = assert_problem(post(deps, VALID), 502)

    assert problem["type"].endswith("/eligibility-answer-invalid")
    assert repo.items == {}
