"""Crash injection: a state change and its event cannot be separated, and a re-published event has
one effect.

Each crash is a real process dying by SIGKILL (no cleanup, no ``finally``), at the two points that
matter:

1. the payments window dies right after answering a POST (its transaction committed; nothing else
   ran). The outbox row is there, so the relay still publishes the event;
2. the relay dies after ``PutEvents`` succeeded but before it deleted the outbox row. The next relay
   publishes the same event again (same ``event_id``) and the consumer's idempotency keeps the effect
   to one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from typing import Any

import boto3
import pytest
from helpers import ROOT, http_event

from hmskit.consumer import EventConsumer, EventDeduplicator
from hmskit.context import LocalContext
from hmskit.outbox import OUTBOX_PK, EventPublisher, OutboxRelay
from hmskit.store import TableStore

pytestmark = pytest.mark.integration


def _run(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    paths = [str(ROOT / "layers"), str(ROOT / "infra"), str(ROOT / "functions" / "payments")]
    full_env = {**os.environ, **env, "PYTHONPATH": os.pathsep.join(paths)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def bus_to_queue(aws_endpoint: str) -> tuple[str, str]:
    """A bus whose PaymentCaptured events land in a fresh queue (as a subscription does)."""
    events, sqs = boto3.client("events"), boto3.client("sqs")
    bus = f"bus-{uuid.uuid4().hex[:8]}"
    events.create_event_bus(Name=bus)
    url = sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": ["hms.payments"], "detail-type": ["PaymentCaptured"]}
    events.put_rule(Name="sub", EventBusName=bus, EventPattern=json.dumps(pattern))
    events.put_targets(Rule="sub", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    return bus, url


def _outbox(table: str) -> list[dict[str, Any]]:
    items, _ = TableStore(boto3.client("dynamodb"), table).query_page(
        OUTBOX_PK, sk_prefix="EVENT#", limit=100
    )
    return items


def _drain(url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    out: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not got:
            return out
        out.extend(got)


def _sqs_batch(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


def test_a_window_killed_after_its_write_still_gets_its_event_delivered_exactly_once(
    aws_endpoint: str, table: str, bus_to_queue: tuple[str, str], dynamodb: Any
) -> None:
    bus, url = bus_to_queue
    event = http_event("POST", "/api/v1/payments", body={"amount": "130.00", "purpose": "passport fee"})
    crashed = _run(
        f"""
        import json, os, signal
        from hmskit.context import LocalContext
        from payments.handler import lambda_handler
        result = lambda_handler(json.loads({json.dumps(json.dumps(event))}), LocalContext())
        print(json.dumps(result), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # the function dies before anything relays its event
        """,
        {"HMS_WINDOW": "payments", "HMS_TABLE_NAME": table, "HMS_EVENT_BUS": bus},
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    answered = json.loads(crashed.stdout.strip().splitlines()[-1])
    assert answered["statusCode"] == 201
    payment_id = json.loads(answered["body"])["id"]

    [row] = _outbox(table)  # committed together with the payment
    assert json.loads(row["detail"])["data"]["payment_id"] == payment_id
    assert _drain(url) == []  # nothing published yet

    # -- the relay publishes, then dies before deleting the outbox row -------------------------------
    relay_crash = _run(
        """
        import os, signal, boto3
        from hmskit.outbox import EventPublisher, OutboxRelay
        from hmskit.store import TableStore

        class DiesBeforeDelete(TableStore):
            def delete_many(self, keys, **kwargs):
                os.kill(os.getpid(), signal.SIGKILL)

        store = DiesBeforeDelete(boto3.client("dynamodb"), os.environ["HMS_TABLE_NAME"])
        OutboxRelay(store, EventPublisher(boto3.client("events"), os.environ["HMS_EVENT_BUS"])).relay_pending()
        """,
        {"HMS_TABLE_NAME": table, "HMS_EVENT_BUS": bus},
    )
    assert relay_crash.returncode == -signal.SIGKILL, relay_crash.stderr
    assert len(_outbox(table)) == 1  # still there: the relay never confirmed

    # -- the next relay run publishes it again and clears the outbox --------------------------------
    result = OutboxRelay(
        TableStore(dynamodb, table), EventPublisher(boto3.client("events"), bus)
    ).relay_pending()
    assert result.failed == [] and len(result.published) == 1
    assert _outbox(table) == []

    messages = _drain(url)
    assert len(messages) == 2  # at-least-once: the bus carried it twice
    ids = {json.loads(m["Body"])["detail"]["metadata"]["event_id"] for m in messages}
    assert len(ids) == 1  # ... as the same event

    # -- the consumer's effect happens once ----------------------------------------------------------
    consumer_table = f"c-{uuid.uuid4().hex[:10]}"
    from hms.local.provision import ensure_table

    ensure_table(dynamodb, consumer_table)
    effects: list[str] = []
    consumer = EventConsumer(
        {"PaymentCaptured": lambda e, d: effects.append(e.data.payment_id)},  # type: ignore[attr-defined]
        EventDeduplicator(dynamodb, consumer_table, window="passport"),
    )
    answer = consumer.handle(_sqs_batch(messages[:1]), LocalContext())
    again = consumer.handle(_sqs_batch(messages[1:]), LocalContext())

    assert answer == {"batchItemFailures": []} and again == {"batchItemFailures": []}
    assert effects == [payment_id]


def test_a_payment_whose_transaction_fails_leaves_neither_payment_nor_event(
    aws_endpoint: str, table: str, dynamodb: Any
) -> None:
    from support.kit import FakeClock

    from hmskit.settings import WindowSettings
    from payments import bootstrap
    from payments.domain import Payment

    deps = bootstrap.build(
        WindowSettings(window="payments", table_name=table), dynamodb=dynamodb, clock=FakeClock()
    )
    assert deps.outbox is not None
    from decimal import Decimal

    from hmskit.contracts import PaymentCapturedV1

    payment = Payment(
        "01ARZ3NDEKTSV4RRFFQ69G5FAV", "alice", Decimal("1.00"), "USD", "x", "captured", "2027-01-01"
    )
    event = deps.outbox.event(
        PaymentCapturedV1(
            payment_id=payment.id,
            owner="alice",
            amount="1.00",
            currency="USD",
            purpose="x",
            captured_at="2027-01-01T00:00:00Z",  # type: ignore[arg-type]
        ),
        correlation_id="req-1",
    )
    deps.payments.add(payment, [event])
    with pytest.raises(RuntimeError, match="collided"):  # the same id again: the transaction is cancelled
        deps.payments.add(payment, [deps.outbox.event(event.data, correlation_id="req-2")])

    assert len(_outbox(table)) == 1  # only the first event; the cancelled one wrote nothing
