"""hmskit.idempotency on the emulator: the key's record rides in the effect's transaction, each record
in a partition of its own, and a race between two attempts with one key ends with one effect."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from helpers import body_of, http_event
from support.kit import FakeClock

from hmskit.context import LocalContext
from hmskit.idempotency import PK_PREFIX, Idempotency
from hmskit.settings import WindowSettings
from payments import bootstrap
from payments.handler import handle

pytestmark = pytest.mark.integration

BASE = "/api/v1/payments"
BODY = {"amount": "30.00", "purpose": "passport"}


@pytest.fixture
def deps(aws_endpoint: str, table: str, clock: FakeClock) -> bootstrap.Deps:
    settings = WindowSettings(window="payments", table_name=table, idempotency_ttl_seconds=3600)
    return bootstrap.build(settings, dynamodb=boto3.client("dynamodb"), clock=clock)


def post(deps: bootstrap.Deps, key: str, body: dict[str, Any] = BODY, sub: str = "alice") -> dict[str, Any]:
    event = http_event("POST", BASE, body=body, headers={"Idempotency-Key": key}, sub=sub)
    return handle(event, LocalContext(), deps)


def scan(table: str, prefix: str) -> list[dict[str, Any]]:
    return list(
        boto3.client("dynamodb").scan(
            TableName=table,
            FilterExpression="begins_with(pk, :p)",
            ExpressionAttributeValues={":p": {"S": prefix}},
        )["Items"]
    )


def test_each_key_has_a_partition_of_its_own(deps: bootstrap.Deps, table: str) -> None:
    post(deps, "k-1")
    post(deps, "k-2")
    post(deps, "k-1", sub="bob")

    pks = [r["pk"]["S"] for r in scan(table, PK_PREFIX)]

    assert len(pks) == len(set(pks)) == 3
    assert all(
        pk.startswith(f"{PK_PREFIX}payments#") and len(pk) > len("IDEMPOTENCY#payments#") for pk in pks
    )
    assert not any("alice" in pk or "k-1" in pk for pk in pks)  # a digest, never the citizen or the key


def test_the_record_is_written_by_the_payments_own_transaction(deps: bootstrap.Deps, table: str) -> None:
    created = body_of(post(deps, "k-tx"))

    [record] = scan(table, PK_PREFIX)

    assert record["resource"]["S"] == created["id"]
    assert "response" in record  # completed once the answer was known


def test_two_attempts_racing_with_one_key_capture_one_payment(deps: bootstrap.Deps, table: str) -> None:
    """Staged at the worst point: the other attempt commits between this one's read of the record
    and its own transaction. This one's transaction is then refused and it answers with the other's."""
    idem: Idempotency = deps.idempotency
    answers: list[dict[str, Any]] = []
    staged: list[bool] = []
    real_transact = idem.transact

    def transact_after_the_other(store: Any, ops: Any, *, resource: str) -> None:
        if not staged:
            staged.append(True)
            answers.append(post(deps, "k-race"))  # the other attempt, complete, with its own claim
        real_transact(store, ops, resource=resource)

    idem.transact = transact_after_the_other  # type: ignore[method-assign]
    mine = post(deps, "k-race")

    assert mine["statusCode"] == answers[0]["statusCode"] == 201
    assert mine["body"] == answers[0]["body"]
    payments = boto3.client("dynamodb").query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "OWNER#alice"}},
    )["Items"]
    assert len(payments) == 1
    assert len(scan(table, "OUTBOX")) == 1


def test_a_key_is_free_again_once_its_record_expired(deps: bootstrap.Deps, clock: FakeClock) -> None:
    first = body_of(post(deps, "k-ttl"))
    clock.advance(3601)  # TTL deletes late (moto never): an expired record counts as none

    again = body_of(post(deps, "k-ttl", body={"amount": "31.00", "purpose": "passport"}))

    assert again["id"] != first["id"] and again["amount"] == "31.00"
