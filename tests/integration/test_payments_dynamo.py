"""The payments window on the emulator: the real composition root, the real table."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import boto3
import pytest
from helpers import body_of, http_event
from support.kit import FakeClock

from hmskit.context import LocalContext
from hmskit.ids import new_id
from hmskit.settings import RateLimit, WindowSettings
from hmskit.store import TableStore
from payments import bootstrap
from payments.adapters import DynamoPaymentRepository
from payments.bootstrap import Deps
from payments.domain import InvalidCursorError, Payment
from payments.handler import handle

pytestmark = pytest.mark.integration

BASE = "/api/v1/payments"


@pytest.fixture
def deps(aws_endpoint: str, table: str, clock: FakeClock) -> Deps:
    settings = WindowSettings(window="payments", table_name=table, rate_limit=RateLimit(limit=100, window=60))
    return bootstrap.build(settings, dynamodb=boto3.client("dynamodb"), clock=clock)


def call(deps: Deps, method: str, path: str = BASE, **kw: Any) -> dict[str, Any]:
    return handle(http_event(method, path, **kw), LocalContext(), deps)


def payment(owner: str, ms: int, amount: str = "12.50") -> Payment:
    return Payment(
        new_id(ms), owner, Decimal(amount), "USD", "fee", "captured", "2027-01-15T08:00:00.000+00:00"
    )


# -- repository -------------------------------------------------------------------------------------


def test_a_payment_round_trips_with_a_decimal_amount(dynamodb: Any, table: str) -> None:
    repo = DynamoPaymentRepository(TableStore(dynamodb, table))
    p = payment("alice", 1_800_000_000_000, "0.10")

    repo.add(p)

    assert repo.get("alice", p.id) == p
    stored = dynamodb.get_item(
        TableName=table, Key={"pk": {"S": "OWNER#alice"}, "sk": {"S": f"PAYMENT#{p.id}"}}
    )
    # a DynamoDB number (never a string); DynamoDB and ministack drop the trailing zero, moto keeps it
    assert Decimal(stored["Item"]["amount"]["N"]) == Decimal("0.10")


def test_the_repository_never_answers_for_another_owner_or_a_malformed_id(dynamodb: Any, table: str) -> None:
    repo = DynamoPaymentRepository(TableStore(dynamodb, table))
    p = payment("alice", 1_800_000_000_000)
    repo.add(p)

    assert repo.get("bob", p.id) is None
    assert repo.get("alice", "not-an-id") is None


def test_an_id_collision_never_overwrites(dynamodb: Any, table: str) -> None:
    repo = DynamoPaymentRepository(TableStore(dynamodb, table))
    p = payment("alice", 1_800_000_000_000)
    repo.add(p)

    with pytest.raises(RuntimeError, match="collided"):
        repo.add(Payment(p.id, "alice", Decimal("99"), "USD", "x", "captured", p.created_at))
    assert repo.get("alice", p.id) == p


def test_the_repository_pages_newest_first_without_gaps(dynamodb: Any, table: str) -> None:
    repo = DynamoPaymentRepository(TableStore(dynamodb, table))
    created = [payment("alice", 1_800_000_000_000 + i) for i in range(5)]
    for p in created:
        repo.add(p)
    repo.add(payment("bob", 1_800_000_000_010))

    seen: list[Payment] = []
    cursor = None
    for _ in range(10):
        page = repo.list("alice", limit=2, cursor=cursor)
        seen += page.items
        cursor = page.cursor
        if cursor is None:
            break

    assert seen == list(reversed(created))


def test_a_forged_cursor_is_invalid(dynamodb: Any, table: str) -> None:
    repo = DynamoPaymentRepository(TableStore(dynamodb, table))

    with pytest.raises(InvalidCursorError):
        repo.list("alice", limit=2, cursor="eyJhZnRlciI6Ik9XTkVSI2JvYiJ9")  # {"after":"OWNER#bob"}


# -- the window over the real table -----------------------------------------------------------------


def test_a_created_payment_is_stored_with_a_decimal_amount(deps: Deps, dynamodb: Any, table: str) -> None:
    result = call(deps, "POST", body={"amount": 12.5, "currency": "eur", "purpose": "passport"}, sub="alice")

    assert result["statusCode"] == 201
    pid = body_of(result)["id"]
    item = TableStore(dynamodb, table).get("OWNER#alice", f"PAYMENT#{pid}")
    assert item is not None
    assert type(item["amount"]) is Decimal and item["amount"] == Decimal("12.50")
    assert item["currency"] == "EUR" and item["owner"] == "alice"
    assert body_of(call(deps, "GET", f"{BASE}/{pid}", sub="alice"))["amount"] == "12.50"
    assert call(deps, "GET", f"{BASE}/{pid}", sub="bob")["statusCode"] == 404


def test_the_list_pages_over_the_real_table(deps: Deps, clock: FakeClock) -> None:
    created = []
    for _ in range(5):
        clock.advance(0.002)
        created.append(body_of(call(deps, "POST", body={"amount": "1", "purpose": "x"}, sub="alice"))["id"])

    ids: list[str] = []
    cursor = None
    for _ in range(10):
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = body_of(call(deps, "GET", query=query, sub="alice"))
        ids += [i["id"] for i in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert ids == list(reversed(created))
    assert call(deps, "GET", query="cursor=bm9wZQ", sub="alice")["statusCode"] == 400


def test_the_rate_limit_is_enforced_on_the_real_table(aws_endpoint: str, table: str) -> None:
    settings = WindowSettings(window="payments", table_name=table, rate_limit=RateLimit(limit=2, window=60))
    clock = FakeClock(1_800_000_000.0)
    deps = bootstrap.build(settings, dynamodb=boto3.client("dynamodb"), clock=clock)

    statuses = [call(deps, "GET")["statusCode"] for _ in range(3)]
    clock.advance(60)

    assert statuses == [200, 200, 429]
    assert call(deps, "GET")["statusCode"] == 200


# -- Idempotency-Key ---------------------------------------------------------------------------------


def count_payments(dynamodb: Any, table: str, owner: str) -> int:
    resp = dynamodb.query(
        TableName=table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
        ExpressionAttributeValues={":pk": {"S": f"OWNER#{owner}"}, ":p": {"S": "PAYMENT#"}},
    )
    return int(resp["Count"])


def test_a_retry_with_the_same_key_replays_the_first_201(deps: Deps, dynamodb: Any, table: str) -> None:
    body = {"amount": "30.00", "purpose": "passport"}
    key = {"Idempotency-Key": "pay-7f3a"}

    first = call(deps, "POST", body=body, headers=key, sub="alice")
    again = call(deps, "POST", body=body, headers=key, sub="alice")

    assert first["statusCode"] == again["statusCode"] == 201
    assert body_of(again) == body_of(first)
    assert again["headers"]["Location"] == first["headers"]["Location"]
    assert count_payments(dynamodb, table, "alice") == 1


def test_an_equivalent_body_counts_as_the_same_request(deps: Deps, dynamodb: Any, table: str) -> None:
    key = {"Idempotency-Key": "pay-eq"}

    first = call(deps, "POST", body={"amount": "30", "purpose": "passport"}, headers=key, sub="alice")
    again = call(
        deps,
        "POST",
        body={"amount": 30.00, "currency": "usd", "purpose": "passport"},
        headers=key,
        sub="alice",
    )

    assert body_of(again)["id"] == body_of(first)["id"]
    assert count_payments(dynamodb, table, "alice") == 1


def test_the_same_key_with_a_different_body_is_422(deps: Deps, dynamodb: Any, table: str) -> None:
    key = {"Idempotency-Key": "pay-1"}
    call(deps, "POST", body={"amount": "30.00", "purpose": "passport"}, headers=key, sub="alice")

    result = call(deps, "POST", body={"amount": "31.00", "purpose": "passport"}, headers=key, sub="alice")

    assert result["statusCode"] == 422
    assert result["headers"]["Content-Type"] == "application/problem+json"
    assert body_of(result)["type"].endswith("idempotency-key-reused")
    assert count_payments(dynamodb, table, "alice") == 1


def test_different_principals_with_the_same_key_do_not_collide(deps: Deps, dynamodb: Any, table: str) -> None:
    key = {"Idempotency-Key": "shared-key"}
    body = {"amount": "30.00", "purpose": "passport"}

    alice = call(deps, "POST", body=body, headers=key, sub="alice")
    bob = call(deps, "POST", body=body, headers=key, sub="bob")

    assert alice["statusCode"] == bob["statusCode"] == 201
    assert body_of(alice)["id"] != body_of(bob)["id"]
    assert count_payments(dynamodb, table, "alice") == count_payments(dynamodb, table, "bob") == 1
    assert call(deps, "GET", f"{BASE}/{body_of(bob)['id']}", sub="bob")["statusCode"] == 200


def test_posts_without_a_key_are_not_deduplicated(deps: Deps, dynamodb: Any, table: str) -> None:
    body = {"amount": "30.00", "purpose": "passport"}

    first = call(deps, "POST", body=body, sub="alice")
    second = call(deps, "POST", body=body, sub="alice")

    assert body_of(first)["id"] != body_of(second)["id"]
    assert count_payments(dynamodb, table, "alice") == 2


def test_an_invalid_body_is_refused_before_the_key_is_used(deps: Deps, dynamodb: Any, table: str) -> None:
    key = {"Idempotency-Key": "pay-2"}

    assert (
        call(deps, "POST", body={"amount": "-1", "purpose": "x"}, headers=key, sub="alice")["statusCode"]
        == 422
    )
    assert (
        call(deps, "POST", body={"amount": "1", "purpose": "x"}, headers=key, sub="alice")["statusCode"]
        == 201
    )
