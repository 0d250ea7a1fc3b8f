"""Money reads back exactly as written, on a table that normalises numbers as DynamoDB does.

moto keeps ``N "12.50"`` as it was sent; DynamoDB (and ministack) store ``12.5``, and ``130.00`` as
``130``. ``NormalisingDynamoDB`` puts that behaviour in front of moto, so the payments window here
meets the numbers it meets in AWS: its answers, its events and the letters written from them still
carry the currency's minor units.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import boto3
import pytest
from helpers import body_of, http_event
from support.kit import FakeClock

from hmskit.context import LocalContext
from hmskit.contracts import PaymentCapturedV1
from hmskit.outbox import OUTBOX_PK
from hmskit.settings import WindowSettings
from hmskit.store import TableStore
from notifications.letters import payment_captured
from payments import bootstrap
from payments.handler import handle

pytestmark = pytest.mark.integration


def _normalised(value: Any) -> Any:
    """A typed DynamoDB value with its numbers as DynamoDB stores them (no trailing zeros)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for tag, inner in value.items():
            if tag == "N":
                out[tag] = f"{Decimal(inner).normalize():f}"
            elif tag == "NS":
                out[tag] = [f"{Decimal(n).normalize():f}" for n in inner]
            else:
                out[tag] = _normalised(inner)
        return out
    if isinstance(value, list):
        return [_normalised(v) for v in value]
    return value


class NormalisingDynamoDB:
    """A DynamoDB client whose writes store numbers normalised, as DynamoDB itself does."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def put_item(self, **kw: Any) -> Any:
        return self._client.put_item(**{**kw, "Item": _normalised(kw["Item"])})

    def update_item(self, **kw: Any) -> Any:
        if "ExpressionAttributeValues" in kw:
            kw = {**kw, "ExpressionAttributeValues": _normalised(kw["ExpressionAttributeValues"])}
        return self._client.update_item(**kw)

    def transact_write_items(self, **kw: Any) -> Any:
        items = []
        for op in kw["TransactItems"]:
            ((kind, body),) = op.items()
            body = dict(body)
            if "Item" in body:
                body["Item"] = _normalised(body["Item"])
            if "ExpressionAttributeValues" in body:
                body["ExpressionAttributeValues"] = _normalised(body["ExpressionAttributeValues"])
            items.append({kind: body})
        return self._client.transact_write_items(**{**kw, "TransactItems": items})


@pytest.fixture
def deps(moto_endpoint: str, table: str) -> bootstrap.Deps:
    settings = WindowSettings(window="payments", table_name=table)
    return bootstrap.build(
        settings, dynamodb=NormalisingDynamoDB(boto3.client("dynamodb")), clock=FakeClock()
    )


def call(deps: bootstrap.Deps, method: str, path: str = "/api/v1/payments", **kw: Any) -> dict[str, Any]:
    return handle(http_event(method, path, **kw), LocalContext(), deps)


def stored_amount(table: str, payment_id: str) -> str:
    item = boto3.client("dynamodb").get_item(
        TableName=table, Key={"pk": {"S": "OWNER#alice"}, "sk": {"S": f"PAYMENT#{payment_id}"}}
    )["Item"]
    return str(item["amount"]["N"])


@pytest.mark.parametrize(
    ("sent", "currency", "kept", "answered"),
    [("12.50", "USD", "12.5", "12.50"), ("130.00", "USD", "130", "130.00"), ("1000", "JPY", "1000", "1000")],
)
def test_a_payment_answers_with_minor_units_though_the_table_dropped_them(
    deps: bootstrap.Deps, table: str, sent: str, currency: str, kept: str, answered: str
) -> None:
    created = call(deps, "POST", body={"amount": sent, "currency": currency, "purpose": "fee"})
    payment_id = body_of(created)["id"]

    assert stored_amount(table, payment_id) == kept  # the table normalised it
    assert body_of(created)["amount"] == answered
    assert body_of(call(deps, "GET", f"/api/v1/payments/{payment_id}"))["amount"] == answered
    assert [p["amount"] for p in body_of(call(deps, "GET"))["items"]] == [answered]


def test_the_event_and_its_letter_carry_minor_units(deps: bootstrap.Deps, table: str) -> None:
    call(deps, "POST", body={"amount": "130.00", "purpose": "passport renewal fee"})

    [row] = TableStore(boto3.client("dynamodb"), table).query_page(OUTBOX_PK, sk_prefix="EVENT#", limit=10)[0]
    data = json.loads(str(row["detail"]))["data"]
    letter = payment_captured(PaymentCapturedV1.model_validate(data))

    assert data["amount"] == "130.00"
    assert letter.subject == "Payment received: 130.00 USD"


def test_a_retry_answered_from_the_stored_payment_keeps_minor_units(deps: bootstrap.Deps, table: str) -> None:
    key = {"Idempotency-Key": "pay-normalised"}
    first = call(deps, "POST", body={"amount": "12.50", "purpose": "fee"}, headers=key)
    dynamodb = boto3.client("dynamodb")
    [record] = dynamodb.scan(
        TableName=table,
        FilterExpression="begins_with(pk, :p)",
        ExpressionAttributeValues={":p": {"S": "IDEMPOTENCY#payments#"}},
    )["Items"]
    dynamodb.update_item(  # what a process killed after the commit leaves: the record, no answer
        TableName=table,
        Key={"pk": record["pk"], "sk": record["sk"]},
        UpdateExpression="REMOVE #r",
        ExpressionAttributeNames={"#r": "response"},
    )

    again = call(deps, "POST", body={"amount": "12.50", "purpose": "fee"}, headers=key)

    assert again["statusCode"] == 201
    assert body_of(again) == body_of(first)  # answered from the table's 12.5, written 12.50


# -- the same on ministack, the default local emulator, which normalises numbers itself ---------------


@pytest.fixture(scope="module")
def ministack() -> Any:
    from helpers import free_port

    from hms.local.emulator import EmulatorError, start_ministack

    try:
        emulator = start_ministack(free_port())
    except EmulatorError as exc:
        pytest.skip(f"ministack is not available here: {exc}")
    with emulator:
        yield emulator.endpoint


def test_on_ministack_a_payment_reads_back_with_minor_units(moto_endpoint: str, ministack: str) -> None:
    from hms.local.provision import ensure_table

    client = boto3.client("dynamodb", endpoint_url=ministack)
    table = "money-on-ministack"
    ensure_table(client, table)
    deps = bootstrap.build(
        WindowSettings(window="payments", table_name=table), dynamodb=client, clock=FakeClock()
    )

    created = body_of(call(deps, "POST", body={"amount": "130.00", "purpose": "fee"}))
    raw = client.get_item(
        TableName=table, Key={"pk": {"S": "OWNER#alice"}, "sk": {"S": f"PAYMENT#{created['id']}"}}
    )

    assert raw["Item"]["amount"]["N"] == "130"  # ministack normalises, as DynamoDB does
    assert created["amount"] == "130.00"
    assert body_of(call(deps, "GET", f"/api/v1/payments/{created['id']}"))["amount"] == "130.00"
