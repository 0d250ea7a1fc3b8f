"""Versioned contracts: payments v2 (`/api/v2/payments`, an amount is a money object) beside v1.

v1's answers must not change shape: its documented operations and schemas are compared with
``golden/payments_v1.json`` (``docs/openapi.json`` as it was when v2 was added), and its real
answers are validated against that golden schema. Changing v1's shape is a breaking change: make
it a new version instead (a deliberate, compatible tightening of v1 updates the golden file).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import ROOT, http_event
from jsonschema import Draft202012Validator
from support.kit import FakeClock, PassThroughIdempotency
from support.payments import InMemoryPaymentRepository

from hmskit.context import LocalContext
from hmskit.settings import WindowSettings
from payments.bootstrap import Deps
from payments.handler import handle

GOLDEN = json.loads((Path(__file__).parent / "golden" / "payments_v1.json").read_text())
V1, V2 = "/api/v1/payments", "/api/v2/payments"


@pytest.fixture
def deps() -> Deps:
    return Deps(
        settings=WindowSettings(window="payments", table_name="unused"),
        payments=InMemoryPaymentRepository(),
        rate_limiter=None,
        idempotency=PassThroughIdempotency(),  # type: ignore[arg-type]
        clock=FakeClock(),
    )


def call(deps: Deps, method: str, path: str, **kw: Any) -> dict[str, Any]:
    return handle(http_event(method, path, sub="ada", **kw), LocalContext(), deps)


def golden_validator(name: str) -> Draft202012Validator:
    schema = {**GOLDEN["schemas"][name], "$defs": GOLDEN["schemas"]}
    text = json.dumps(schema).replace("#/components/schemas/", "#/$defs/")
    return Draft202012Validator(json.loads(text))


def test_the_documented_v1_contract_is_unchanged() -> None:
    document = json.loads((ROOT / "docs" / "openapi.json").read_text())

    for key, golden in GOLDEN["operations"].items():
        method, path = key.split(" ", 1)
        op = document["paths"][path][method.lower()]
        assert op.get("requestBody") == golden["request"], key
        now = {s: r.get("content") for s, r in op["responses"].items() if s.startswith("2")}
        assert now == golden["responses"], key
    for name, schema in GOLDEN["schemas"].items():
        assert document["components"]["schemas"][name] == schema, name


def test_v1_answers_keep_their_shape_and_say_they_are_deprecated(deps: Deps) -> None:
    created = call(deps, "POST", V1, body={"amount": "12.5", "currency": "usd", "purpose": "fee"})
    one = call(deps, "GET", f"{V1}/{json.loads(created['body'])['id']}")
    page = call(deps, "GET", V1)

    payment = golden_validator("Payment")
    for answer in (created, one):
        body = json.loads(answer["body"])
        payment.validate(body)
        assert set(body) == set(GOLDEN["schemas"]["Payment"]["properties"])
        assert (body["amount"], body["currency"]) == ("12.50", "USD")
    golden_validator("PaymentPage").validate(json.loads(page["body"]))
    for answer in (created, one, page, call(deps, "GET", f"{V1}/01JD2XA0RG8K4T1P9N6D3B5W2X")):
        headers = answer["headers"]
        assert headers["Deprecation"].startswith("@") and headers["Sunset"].endswith(" GMT")
        assert headers["Link"] == '</api/v2/payments>; rel="successor-version"'


def test_v2_takes_and_answers_a_money_object_for_the_same_payments(deps: Deps) -> None:
    money = {"value": "12.50", "currency": "USD"}

    created = call(deps, "POST", V2, body={"amount": money, "purpose": "passport renewal fee"})

    assert created["statusCode"] == 201 and "Deprecation" not in created["headers"]
    body = json.loads(created["body"])
    assert body["amount"] == money and "currency" not in body
    assert created["headers"]["Location"] == f"{V2}/{body['id']}"
    assert json.loads(call(deps, "GET", f"{V2}/{body['id']}")["body"])["amount"] == money
    assert [p["amount"] for p in json.loads(call(deps, "GET", V2)["body"])["items"]] == [money]
    v1 = json.loads(call(deps, "GET", f"{V1}/{body['id']}")["body"])  # one window, one table
    assert (v1["amount"], v1["currency"]) == ("12.50", "USD")


@pytest.mark.parametrize(
    "amount",
    [
        {"value": 12.5, "currency": "USD"},
        {"value": "12.505", "currency": "USD"},
        {"value": "1.5", "currency": "JPY"},
        {"value": "0", "currency": "USD"},
        {"value": "1e3", "currency": "USD"},
        {"value": "12.50"},
        {"value": "12.50", "currency": "XXY"},
        "12.50",
    ],
)
def test_v2_refuses_an_amount_that_is_not_a_valid_money_object(deps: Deps, amount: Any) -> None:
    answer = call(deps, "POST", V2, body={"amount": amount, "purpose": "fee"})

    assert answer["statusCode"] == 422, answer["body"]
