"""POST /api/v1/payments: the handler with in-memory fakes (no sockets, no mock.patch)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest
from helpers import assert_problem, body_of, http_event
from support.kit import FakeClock, PassThroughIdempotency
from support.payments import InMemoryPaymentRepository

from hmskit.context import LocalContext
from hmskit.ids import is_id
from hmskit.settings import WindowSettings
from payments.bootstrap import Deps
from payments.domain import Payment
from payments.handler import handle

BASE = "/api/v1/payments"


class SpyRepository(InMemoryPaymentRepository):
    """The in-memory repository, remembering what the domain handed it."""

    def __init__(self) -> None:
        super().__init__()
        self.added: list[Payment] = []

    def add(self, payment: Payment, events: Sequence[Any] = ()) -> None:
        self.added.append(payment)
        super().add(payment, events)


@pytest.fixture
def repo() -> SpyRepository:
    return SpyRepository()


@pytest.fixture
def deps(repo: SpyRepository, idem: PassThroughIdempotency) -> Deps:
    settings = WindowSettings(window="payments", table_name="unused", max_body_bytes=1024)
    return Deps(
        settings=settings,
        payments=repo,
        rate_limiter=None,
        idempotency=idem,  # type: ignore[arg-type]
        clock=FakeClock(),
    )


def post(deps: Deps, body: Any, **kw: Any) -> dict[str, Any]:
    if isinstance(body, str):
        kw.setdefault("content_type", "application/json")
    return handle(http_event("POST", BASE, body=body, **kw), LocalContext(), deps)


def raw(deps: Deps, amount_json: str, **extra: str) -> dict[str, Any]:
    fields = {"amount": amount_json, "purpose": '"passport fee"', **extra}
    return post(deps, "{" + ",".join(f'"{k}":{v}' for k, v in fields.items()) + "}")


# -- the happy path ---------------------------------------------------------------------------------


def test_creating_a_payment_answers_201_with_its_location(deps: Deps, repo: SpyRepository) -> None:
    result = post(deps, {"amount": "12.50", "currency": "GBP", "purpose": "passport fee"})

    assert result["statusCode"] == 201
    body = body_of(result)
    assert is_id(body["id"])
    assert result["headers"]["Location"] == f"{BASE}/{body['id']}"
    assert body == {
        "id": body["id"],
        "amount": "12.50",
        "currency": "GBP",
        "purpose": "passport fee",
        "status": "captured",
        "renewal_id": None,
        "created_at": "2027-01-15T08:00:00.000+00:00",
    }
    assert result["headers"]["Content-Type"] == "application/json"


def test_the_payment_belongs_to_the_token_sub(deps: Deps, repo: SpyRepository) -> None:
    post(deps, {"amount": "1", "purpose": "x"}, sub="alice")

    assert [p.owner for p in repo.added] == ["alice"]


def test_a_client_sent_x_hms_user_header_does_not_change_the_owner(deps: Deps, repo: SpyRepository) -> None:
    post(deps, {"amount": "1", "purpose": "x"}, sub="alice", headers={"x-hms-user": "bob"})

    assert [p.owner for p in repo.added] == ["alice"]
    assert repo.list("bob", limit=10, cursor=None).items == []


def test_the_owner_cannot_be_sent_in_the_body(deps: Deps, repo: SpyRepository) -> None:
    result = post(deps, {"amount": "1", "purpose": "x", "owner": "bob"})

    assert result["statusCode"] == 422
    assert "owner" in body_of(result)["detail"]
    assert repo.added == []


def test_the_create_runs_through_idempotency_scoped_to_principal_and_route(
    deps: Deps, idem: PassThroughIdempotency
) -> None:
    post(deps, {"amount": "3", "purpose": "x"}, sub="alice", headers={"Idempotency-Key": "k-1"})

    assert idem.calls == [
        {
            "key": "k-1",
            "principal": "alice",
            "route": "POST /api/v1/payments",
            "body": {"amount": "3.00", "currency": "USD", "purpose": "x"},
        }
    ]


# -- amounts ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount_json", "stored"),
    [
        ('"12.50"', Decimal("12.50")),
        ("12.5", Decimal("12.50")),
        ("12.50", Decimal("12.50")),
        ("7", Decimal("7.00")),
        ('"0.01"', Decimal("0.01")),
        ('"1000000.00"', Decimal("1000000.00")),
        ("0.1", Decimal("0.10")),  # 0.1 is exact: it never became a float
    ],
)
def test_amounts_as_strings_or_json_numbers_reach_the_domain_as_decimal(
    deps: Deps, repo: SpyRepository, amount_json: str, stored: Decimal
) -> None:
    result = raw(deps, amount_json)

    assert result["statusCode"] == 201, result["body"]
    (payment,) = repo.added
    assert type(payment.amount) is Decimal
    assert payment.amount == stored
    assert str(payment.amount) == str(stored)


@pytest.mark.parametrize(
    "amount_json",
    [
        '"0"',
        "0",
        '"-1"',
        "-0.01",  # not positive
        '"0.001"',
        "1.005",  # more than 2 places
        '"1000000.01"',
        "1000001",  # over the maximum
        '"1e3"',
        "1e3",
        '"1E3"',
        "1.5e2",  # exponent notation
        '"NaN"',
        "NaN",
        '"Infinity"',
        "Infinity",
        "-Infinity",
        '"-Infinity"',  # not finite
        "true",
        "false",  # booleans are not numbers
        '"1_000"',
        '"0x10"',
        '"\u0661\u0662"',
        '" 12"',
        '"twelve"',
        '""',  # not plain decimals
        "null",
        "[1]",
        '{"value": 1}',
    ],
)
def test_invalid_amounts_are_refused_with_422(deps: Deps, repo: SpyRepository, amount_json: str) -> None:
    result = raw(deps, amount_json)

    assert result["statusCode"] == 422, result["body"]
    problem = body_of(result)
    assert problem["errors"][0]["field"] in ("amount", "body")
    assert problem["detail"]
    assert repo.added == []


def test_zero_decimal_currencies_refuse_fractions(deps: Deps, repo: SpyRepository) -> None:
    assert raw(deps, '"100.5"', currency='"JPY"')["statusCode"] == 422
    assert raw(deps, '"0.50"', currency='"KRW"')["statusCode"] == 422
    result = raw(deps, '"100"', currency='"JPY"')

    assert result["statusCode"] == 201
    assert body_of(result)["amount"] == "100"
    assert repo.added[0].amount == Decimal("100")


def test_the_minor_unit_error_names_the_currency(deps: Deps) -> None:
    assert (
        "JPY amounts have at most 0 decimal places" in body_of(raw(deps, '"1.5"', currency='"JPY"'))["detail"]
    )


# -- currency and purpose ---------------------------------------------------------------------------


def test_currency_defaults_to_usd(deps: Deps, repo: SpyRepository) -> None:
    post(deps, {"amount": "1", "purpose": "x"})

    assert repo.added[0].currency == "USD"


def test_a_lower_case_currency_is_normalised(deps: Deps) -> None:
    assert body_of(post(deps, {"amount": "1", "currency": "eur", "purpose": "x"}))["currency"] == "EUR"


@pytest.mark.parametrize("currency", ["XXX", "US", "EURO", "", "123", 5, None])
def test_a_currency_outside_iso_4217_is_refused(deps: Deps, currency: Any) -> None:
    result = post(deps, {"amount": "1", "currency": currency, "purpose": "x"})

    assert result["statusCode"] == 422
    assert body_of(result)["errors"][0]["field"] == "currency"


@pytest.mark.parametrize("purpose", ["a", "a" * 200])
def test_a_purpose_of_1_to_200_characters_is_accepted(deps: Deps, purpose: str) -> None:
    assert post(deps, {"amount": "1", "purpose": purpose})["statusCode"] == 201


@pytest.mark.parametrize("purpose", ["", "   ", "a" * 201, 5, None])
def test_a_purpose_outside_1_to_200_characters_is_refused(deps: Deps, purpose: Any) -> None:
    result = post(deps, {"amount": "1", "purpose": purpose})

    assert result["statusCode"] == 422
    assert body_of(result)["errors"][0]["field"] == "purpose"


def test_missing_fields_are_all_named(deps: Deps) -> None:
    result = post(deps, {})

    assert result["statusCode"] == 422
    assert {e["field"] for e in body_of(result)["errors"]} == {"amount", "purpose"}


# -- bodies the handler cannot read -----------------------------------------------------------------


def test_malformed_json_is_400(deps: Deps) -> None:
    assert_problem(post(deps, '{"amount": '), 400)


def test_a_json_array_body_is_422(deps: Deps) -> None:
    assert_problem(post(deps, "[1, 2]"), 422)


def test_a_body_over_the_limit_is_413(deps: Deps, repo: SpyRepository) -> None:
    problem = assert_problem(post(deps, {"amount": "1", "purpose": "x" * 2000}), 413)

    assert "1024" in problem["detail"]
    assert repo.added == []


def test_a_base64_body_over_the_limit_is_413(deps: Deps) -> None:
    event = http_event("POST", BASE, body=b"\xff" * 2000, content_type="application/json")
    assert event["isBase64Encoded"]

    assert_problem(handle(event, LocalContext(), deps), 413)


def test_a_base64_encoded_json_body_is_decoded(deps: Deps) -> None:
    import base64

    event = http_event("POST", BASE, body={"amount": "2", "purpose": "x"})
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    event["isBase64Encoded"] = True

    assert handle(event, LocalContext(), deps)["statusCode"] == 201


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/xml", "multipart/form-data"])
def test_a_body_that_is_not_json_is_415(deps: Deps, content_type: str | None) -> None:
    body = json.dumps({"amount": "1", "purpose": "x"})
    event = http_event("POST", BASE, body=body, content_type=content_type)

    assert_problem(handle(event, LocalContext(), deps), 415)


def test_a_json_object_sent_with_curls_default_form_type_is_taken_as_json(
    deps: Deps, repo: SpyRepository
) -> None:
    # curl -d '{"amount":42,"purpose":"FOIA copy fee"}' sends application/x-www-form-urlencoded
    body = '{"amount":42,"purpose":"FOIA copy fee"}'
    event = http_event("POST", BASE, body=body, content_type="application/x-www-form-urlencoded", sub="carol")

    assert handle(event, LocalContext(), deps)["statusCode"] == 201
    assert [(p.owner, p.amount, p.purpose) for p in repo.added] == [("carol", Decimal(42), "FOIA copy fee")]


@pytest.mark.parametrize("body", ["amount=1&purpose=x", "%7B%22amount%22%3A1%7D", "[1, 2]"])
def test_a_urlencoded_form_that_is_not_a_json_object_is_still_415(deps: Deps, body: str) -> None:
    event = http_event("POST", BASE, body=body, content_type="application/x-www-form-urlencoded")

    assert_problem(handle(event, LocalContext(), deps), 415)


def test_json_with_a_charset_or_a_json_suffix_type_is_accepted(deps: Deps) -> None:
    body = json.dumps({"amount": "1", "purpose": "x"})
    for ctype in ("application/json; charset=utf-8", "application/merge-patch+json"):
        event = http_event("POST", BASE, body=body, content_type=ctype)
        assert handle(event, LocalContext(), deps)["statusCode"] == 201


def test_no_authorizer_context_is_401(deps: Deps, repo: SpyRepository) -> None:
    problem = assert_problem(post(deps, {"amount": "1", "purpose": "x"}, sub=None), 401)

    assert "identity" in problem["detail"]
    assert repo.added == []


def test_an_x_hms_user_header_without_a_token_is_still_401(deps: Deps) -> None:
    assert_problem(
        post(deps, {"amount": "1", "purpose": "x"}, sub=None, headers={"x-hms-user": "alice"}), 401
    )


def test_a_malformed_idempotency_key_is_refused_by_the_real_idempotency(deps: Deps) -> None:
    from hmskit.idempotency import Idempotency

    deps.idempotency = Idempotency(None, "unused", ttl_seconds=60, scope="payments")

    problem = assert_problem(
        post(deps, {"amount": "1", "purpose": "x"}, headers={"Idempotency-Key": "bad key"}), 400
    )
    assert problem["type"].endswith("bad-idempotency-key")


# -- PaymentCaptured, recorded in the outbox with the payment ---------------------------------------


@pytest.fixture
def deps_with_outbox(deps: Deps) -> Deps:
    from hmskit.ids import new_id
    from hmskit.outbox import Outbox

    deps.outbox = Outbox(
        None,  # type: ignore[arg-type]  # the in-memory repository records events itself
        window="payments",
        new_id=lambda: new_id(int(deps.clock.now() * 1000)),
        now=deps.clock.now,
    )
    return deps


def test_a_payment_for_a_renewal_records_one_payment_captured_event(
    deps_with_outbox: Deps, repo: SpyRepository
) -> None:
    from hmskit.ids import new_id

    renewal = new_id()
    request = http_event(
        "POST", BASE, body={"amount": "130.00", "purpose": "passport fee", "renewal_id": renewal}
    )
    result = handle(request, LocalContext(), deps_with_outbox)

    assert result["statusCode"] == 201
    assert body_of(result)["renewal_id"] == renewal
    [event] = repo.events
    assert event.type == "PaymentCaptured" and event.metadata.version == 1
    assert event.metadata.source == "payments"
    assert event.metadata.correlation_id == request["requestContext"]["requestId"]
    data = event.detail()["data"]
    assert data["payment_id"] == body_of(result)["id"]
    assert data["owner"] == "alice"
    assert data["amount"] == "130.00"  # a decimal string on the bus, never a float
    assert data["renewal_id"] == renewal


def test_a_payment_without_renewal_still_announces_its_capture(
    deps_with_outbox: Deps, repo: SpyRepository
) -> None:
    post(deps_with_outbox, {"amount": "5", "purpose": "copy of a certificate"})

    [event] = repo.events
    assert "renewal_id" not in event.detail()["data"]


@pytest.mark.parametrize("renewal_id", ["not-an-id", "", "01ARZ3NDEKTSV4RRFFQ69G5FA", 7])
def test_a_malformed_renewal_id_is_refused_and_nothing_is_recorded(
    deps_with_outbox: Deps, repo: SpyRepository, renewal_id: Any
) -> None:
    result = post(deps_with_outbox, {"amount": "5", "purpose": "x", "renewal_id": renewal_id})

    assert result["statusCode"] == 422
    assert "renewal_id" in body_of(result)["detail"]
    assert repo.added == [] and repo.events == []


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"email": "ada@example.org"}, "ada@example.org"),
        ({"email": "ada@example.org "}, None),  # not an address the contract takes: left out, not a 422
        ({"email": "ada@example.org", "email_verified": False}, None),
        ({"email": "x" * 300 + "@example.org"}, None),
        ({}, None),
    ],
)
def test_the_token_email_travels_with_the_event_only_when_usable(
    deps_with_outbox: Deps, repo: SpyRepository, claims: dict[str, Any], expected: str | None
) -> None:
    event = http_event("POST", BASE, body={"amount": "5", "purpose": "x"})
    event["requestContext"]["authorizer"]["jwt"]["claims"].update(claims)

    result = handle(event, LocalContext(), deps_with_outbox)

    assert result["statusCode"] == 201
    assert repo.events[0].detail()["data"].get("email") == expected
