"""The platform alone reads the SQS envelope: a handler gets the parsed contract and its delivery."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from hmskit.consumer import (
    AlreadyAppliedError,
    Delivery,
    EventConsumer,
    IdempotentEffects,
    InMemoryDeduplicator,
    receive_count_of,
)
from hmskit.contracts import Event, PaymentCapturedV1, build

AT = datetime(2026, 11, 20, tzinfo=UTC)


def captured(n: int) -> Event:
    data = PaymentCapturedV1(
        payment_id=f"P{n}", owner="alice", amount="10.00", currency="USD", purpose="fee", captured_at=AT
    )
    return build(data, event_id=f"E{n:03d}", source="payments", time=AT, correlation_id=None)


def record(event: Event, message_id: str, attributes: Any) -> dict[str, Any]:
    envelope = {"version": "0", "detail-type": event.type, "source": "hms.payments", "detail": event.detail()}
    return {
        "messageId": message_id,
        "receiptHandle": f"rh-{message_id}",
        "body": json.dumps(envelope),
        "attributes": attributes,
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:q",
        "awsRegion": "us-east-1",
    }


def test_each_handler_gets_the_parsed_contract_and_its_own_message_s_delivery() -> None:
    seen: list[tuple[str, str, Delivery]] = []
    consumer = EventConsumer(
        {"PaymentCaptured": lambda e, d: seen.append((e.id, e.data.payment_id, d))},  # type: ignore[attr-defined]
        InMemoryDeduplicator(),
    )

    answer = consumer.handle(
        {
            "Records": [
                record(captured(1), "m1", {"ApproximateReceiveCount": "1"}),
                record(captured(2), "m2", {"ApproximateReceiveCount": "3"}),
            ]
        }
    )

    assert answer == {"batchItemFailures": []}
    assert seen == [
        ("E001", "P1", Delivery(message_id="m1", receive_count=1)),
        ("E002", "P2", Delivery(message_id="m2", receive_count=3)),
    ]


@pytest.mark.parametrize(
    ("attributes", "count"),
    [({"ApproximateReceiveCount": "4"}, 4), ({}, 1), (None, 1), ({"ApproximateReceiveCount": "x"}, 1)],
)
def test_a_receive_count_the_record_does_not_state_is_a_first_receive(attributes: Any, count: int) -> None:
    assert receive_count_of({"attributes": attributes}) == count


def test_a_message_processed_outside_a_batch_is_a_first_delivery() -> None:
    seen: list[Delivery] = []
    consumer = EventConsumer({"PaymentCaptured": lambda e, d: seen.append(d)}, InMemoryDeduplicator())

    assert consumer.process(record(captured(1), "m1", {})["body"]) is True
    assert seen == [Delivery(message_id="", receive_count=1)]


# -- handlers idempotent by construction -------------------------------------------------------------


def test_a_consumer_of_idempotent_handlers_runs_each_delivery_and_acknowledges_a_duplicate() -> None:
    applied: set[str] = set()

    def apply(event: Event, _delivery: Delivery) -> None:
        if event.id in applied:
            raise AlreadyAppliedError(f"{event.id} was applied")  # what the effect's own condition says
        applied.add(event.id)

    consumer = EventConsumer({"PaymentCaptured": apply}, IdempotentEffects())
    body = record(captured(1), "m1", {})["body"]

    assert consumer.process(body, message_id="m1") is True
    assert consumer.process(body, message_id="m2") is False  # the same event in a new message
    assert consumer.handle({"Records": [record(captured(1), "m3", {"ApproximateReceiveCount": "2"})]}) == {
        "batchItemFailures": []
    }


def test_a_handler_that_answers_false_is_a_duplicate() -> None:
    consumer = EventConsumer({"PaymentCaptured": lambda e, d: False}, IdempotentEffects())

    assert consumer.process(record(captured(1), "m1", {})["body"]) is False


def test_a_failing_idempotent_handler_fails_only_its_own_message() -> None:
    def apply(event: Event, _delivery: Delivery) -> None:
        if event.id == "E002":
            raise RuntimeError("the table is unavailable")

    consumer = EventConsumer({"PaymentCaptured": apply}, IdempotentEffects())
    batch = {"Records": [record(captured(n), f"m{n}", {}) for n in (1, 2, 3)]}

    assert consumer.handle(batch) == {"batchItemFailures": [{"itemIdentifier": "m2"}]}
