"""Consumers whose effect carries its own dedupe: one effect per event, and no platform record.

Passport and notifications build their consumers with ``IdempotentEffects``: passport's saga step
puts the event's marker into its own transaction (``EventMarks``), notifications writes each
notification under an id derived from the event. Proven here on the real composition roots and the
emulator: a redelivered event (the same ``event_id`` in a new SQS message) applies once; a process
killed by SIGKILL after the effect committed, before its message was acknowledged, leaves an effect
that the redelivery finds and does not repeat; and the AWS calls of one delivery, counted on the
clients, are the effect's own (the platform's two dedupe writes are gone).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from helpers import ROOT, body_of, both_emulators, example_body, http_event
from support.kit import FakeClock

from hmskit.a2a import A2AResponse
from hmskit.consumer import EVENT_IDEMPOTENCY_TTL_SECONDS, EventConsumer
from hmskit.context import LocalContext
from hmskit.contracts import (
    Event,
    EventData,
    PaymentCapturedV1,
    RenewalSubmittedV1,
    build,
    parse_detail,
)
from hmskit.idempotency import EventMarks
from hmskit.ids import new_id
from hmskit.outbox import OUTBOX_PK
from hmskit.settings import WindowSettings
from hmskit.store import TableStore

pytestmark = pytest.mark.integration

SENDER = "no-reply@hms.example.gov"
AT = datetime(2027, 1, 15, 9, tzinfo=UTC)


def bus_event(data: EventData, source: str) -> Event:
    return build(data, event_id=new_id(), source=source, time=AT, correlation_id="req-1")


def message(event: Event, receive_count: int = 1) -> dict[str, Any]:
    """``event`` in a new SQS message (its own message id), as Lambda's event source hands it over."""
    envelope = {"detail-type": event.type, "source": f"hms.{event.metadata.source}", "detail": event.detail()}
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "rh-" + uuid.uuid4().hex,
                "body": json.dumps(envelope),
                "attributes": {"ApproximateReceiveCount": str(receive_count)},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:q",
                "awsRegion": "us-east-1",
            }
        ]
    }


class Calls:
    """The AWS calls the given boto3 clients make, by operation, while ``counting()`` lasts."""

    def __init__(self, *clients: Any) -> None:
        self.counts: Counter[str] = Counter()
        self._on = False
        for client in clients:
            client.meta.events.register("before-call.*.*", self._seen)

    def _seen(self, model: Any, **_: Any) -> None:
        if self._on:
            self.counts[model.name] += 1

    @contextmanager
    def counting(self) -> Iterator[Counter[str]]:
        self.counts = Counter()
        self._on = True
        try:
            yield self.counts
        finally:
            self._on = False


def platform_records(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    """The platform deduplicator's records (``IDEMPOTENCY#<window>#events#<digest>``): none here."""
    pages = dynamodb.get_paginator("scan").paginate(TableName=table)
    return [item for page in pages for item in page["Items"] if "#events#" in item["pk"]["S"]]


# -- the kit: a marker in the effect's transaction ------------------------------------------------


@both_emulators
def test_an_event_whose_marker_is_there_is_acknowledged_as_a_duplicate_and_writes_nothing(
    dynamodb: Any, table: str
) -> None:
    store = TableStore(dynamodb, table)
    clock = FakeClock(AT.timestamp())
    marks = EventMarks(store, scope="kit", clock=clock)
    writes: list[str] = []

    def apply(event: Event, _delivery: Any) -> None:  # an effect that is not idempotent by itself
        effect_id = new_id()
        writes.append(effect_id)
        marks.transact(store, [store.put_op({"pk": "EFFECT", "sk": "E#" + effect_id, "event_id": event.id})])

    consumer = EventConsumer({"PaymentCaptured": apply}, marks)
    event = bus_event(
        PaymentCapturedV1(
            payment_id="P1", owner="o", amount="1.00", currency="USD", purpose="x", captured_at=AT
        ),
        "payments",
    )

    assert consumer.handle(message(event), LocalContext()) == {"batchItemFailures": []}
    assert consumer.handle(message(event, receive_count=2), LocalContext()) == {"batchItemFailures": []}

    effects, _ = store.query_page("EFFECT", sk_prefix="E#", limit=10)
    assert [e["sk"] for e in effects] == ["E#" + writes[0]] and len(writes) == 2  # tried twice, stored once
    marker = store.get(*marks.key(event.id))
    assert marker is not None
    assert int(marker["expires_at"]) == int(clock.now()) + EVENT_IDEMPOTENCY_TTL_SECONDS


# -- passport ---------------------------------------------------------------------------------------


class Allowing:
    def call(self, window: str, method: str, path: str, **kw: Any) -> A2AResponse:
        return A2AResponse(200, {}, {"allowed": True, "reasons": [], "checked_on": "2027-01-15"})


def renewal_body() -> Any:
    return example_body("passport", "POST", "/api/v1/renewals")


def passport(table: str, dynamodb: Any) -> Any:
    from passport import bootstrap

    settings = WindowSettings(window="passport", table_name=table)
    return bootstrap.build(settings, dynamodb=dynamodb, clock=FakeClock(AT.timestamp()), a2a=Allowing())


def submitted_renewal(table: str) -> str:
    from passport.handler import handle

    result = handle(
        http_event("POST", "/api/v1/renewals", body=renewal_body()),
        LocalContext(),
        passport(table, boto3.client("dynamodb")),
    )
    assert result["statusCode"] == 202, result["body"]
    return str(body_of(result)["id"])


def fee_payment(renewal_id: str) -> Event:
    data = PaymentCapturedV1(
        payment_id=new_id(),
        owner="alice",
        amount="130.00",
        currency="USD",
        purpose="passport renewal fee",
        renewal_id=renewal_id,
        captured_at=AT,
    )
    return bus_event(data, "payments")


def passport_events(table: str, type_: str) -> list[Event]:
    items, _ = TableStore(boto3.client("dynamodb"), table).query_page(
        OUTBOX_PK, sk_prefix="EVENT#", limit=100
    )
    return [e for e in (parse_detail(str(i["detail"])) for i in items) if e.type == type_]


def test_a_redelivered_payment_is_recorded_once_with_one_read_and_one_transaction(
    aws_endpoint: str, table: str
) -> None:
    from passport.handler import handle

    renewal_id = submitted_renewal(table)
    dynamodb = boto3.client("dynamodb")
    calls = Calls(dynamodb)
    deps = passport(table, dynamodb)
    paid = fee_payment(renewal_id)

    with calls.counting() as first:
        assert handle(message(paid), LocalContext(), deps)["batchItemFailures"] == []
    with calls.counting() as again:  # the same event in a new message
        assert handle(message(paid, 2), LocalContext(), deps)["batchItemFailures"] == []

    assert first == {"GetItem": 1, "TransactWriteItems": 1}  # the step, its outbox row and marker
    assert again == {"GetItem": 1}  # the step is recorded: nothing to write
    renewal = deps.renewals.get("alice", renewal_id)
    assert renewal is not None and renewal.payment_id == paid.data.payment_id  # type: ignore[attr-defined]
    assert TableStore(dynamodb, table).get(
        *EventMarks(TableStore(dynamodb, table), scope="passport").key(paid.id)
    )
    assert platform_records(dynamodb, table) == []


# -- notifications ----------------------------------------------------------------------------------


def notifications(table: str, dynamodb: Any, ses: Any) -> Any:
    from notifications import bootstrap

    settings = WindowSettings(window="notifications", table_name=table, email_sender=SENDER)
    deps = bootstrap.build(settings, dynamodb=dynamodb, ses=lambda: ses, clock=FakeClock(AT.timestamp()))
    deps.sleep = lambda _seconds: None
    return deps


def submitted(address: str) -> Event:
    data = RenewalSubmittedV1(
        renewal_id="R-1", owner="bea", full_name="Bea Citizen", email=address, submitted_at=AT
    )
    return bus_event(data, "passport")


def notification_rows(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    items, _ = TableStore(dynamodb, table).query_page("OWNER#bea", sk_prefix="NOTIFICATION#", limit=10)
    return items


def test_a_redelivered_notification_event_sends_one_email_with_four_calls_then_none(
    aws_endpoint: str, table: str
) -> None:
    from notifications.handler import handle

    dynamodb, ses = boto3.client("dynamodb"), boto3.client("ses")
    ses.verify_email_identity(EmailAddress=SENDER)
    calls = Calls(dynamodb, ses)
    deps = notifications(table, dynamodb, ses)
    event = submitted(f"bea-{uuid.uuid4().hex[:8]}@example.org")

    with calls.counting() as first:
        assert handle(message(event), LocalContext(), deps)["batchItemFailures"] == []
    with calls.counting() as again:  # the same event in a new message, another container
        assert (
            handle(message(event, 2), LocalContext(), notifications(table, dynamodb, ses))[
                "batchItemFailures"
            ]
            == []
        )

    # remember the address, record pending, send, mark sent
    assert first == {"UpdateItem": 2, "PutItem": 1, "SendEmail": 1}
    assert again["SendEmail"] == 0 and again == {"UpdateItem": 1, "PutItem": 1, "GetItem": 1}
    (row,) = notification_rows(dynamodb, table)
    assert (row["delivery"], row["attempts"]) == ("sent", 1)
    assert platform_records(dynamodb, table) == []


# -- SIGKILL after the effect committed, before the message was acknowledged ------------------------

WORKER = r"""
import json, os, signal, sys

import boto3

from hmskit.context import LocalContext
from hmskit.settings import WindowSettings

window, batch = sys.argv[1], json.loads(sys.argv[2])
settings = WindowSettings.from_env(os.environ)
dynamodb = boto3.client("dynamodb")
sent = open(os.environ["SENT_LOG"], "a")


def die_after(cls, name):  # the crash: right after the effect's last write returned
    original = getattr(cls, name)

    def dying(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(cls, name, dying)


if window == "passport":
    from hmskit.a2a import A2AResponse
    from hmskit.store import TableStore
    from passport import bootstrap, handler

    class Allowing:
        def call(self, window, method, path, **kw):
            return A2AResponse(200, {}, {"allowed": True, "reasons": [], "checked_on": "2027-01-15"})

    deps = bootstrap.build(settings, dynamodb=dynamodb, a2a=Allowing())
    die_after(TableStore, "transact")
else:
    from notifications import bootstrap, handler
    from notifications.adapters import DynamoNotificationRepository, SesMailer

    original_send = SesMailer.send

    def send(self, email):
        message_id = original_send(self, email)
        sent.write(email.to + "\n")
        sent.flush()
        return message_id

    SesMailer.send = send
    deps = bootstrap.build(settings, dynamodb=dynamodb)
    die_after(DynamoNotificationRepository, "finish")

print(json.dumps(handler.handle(batch, LocalContext(), deps)), flush=True)
"""


def killed_after_commit(window: str, batch: dict[str, Any], env: dict[str, str]) -> None:
    """Run ``batch`` in a process of its own that dies by SIGKILL once the effect committed."""
    code_dirs = [ROOT / "layers", ROOT / "infra", ROOT / "functions" / window]
    full_env = {**os.environ, **env, "HMS_WINDOW": window, "PYTHONPATH": os.pathsep.join(map(str, code_dirs))}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(WORKER), window, json.dumps(batch)],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert done.stdout == ""  # no answer: the message was never acknowledged


def test_a_payment_step_killed_after_its_commit_is_not_applied_again_on_redelivery(
    aws_endpoint: str, table: str, tmp_path: Any
) -> None:
    from passport.handler import handle

    renewal_id = submitted_renewal(table)
    paid = fee_payment(renewal_id)
    killed_after_commit(
        "passport", message(paid), {"HMS_TABLE_NAME": table, "SENT_LOG": str(tmp_path / "sent")}
    )
    dynamodb = boto3.client("dynamodb")
    deps = passport(table, dynamodb)
    renewal = deps.renewals.get("alice", renewal_id)
    assert renewal is not None and renewal.payment_id == paid.data.payment_id  # type: ignore[attr-defined]
    updated_at = renewal.updated_at

    assert handle(message(paid, 2), LocalContext(), deps)["batchItemFailures"] == []  # redelivered

    after = deps.renewals.get("alice", renewal_id)
    assert after is not None and after.updated_at == updated_at  # not applied again
    assert passport_events(table, "RenewalReadyForReview") == []
    assert platform_records(dynamodb, table) == []


def test_a_notification_killed_after_it_was_marked_sent_is_not_sent_again_on_redelivery(
    aws_endpoint: str, table: str, tmp_path: Any
) -> None:
    from notifications.handler import handle

    dynamodb, ses = boto3.client("dynamodb"), boto3.client("ses")
    ses.verify_email_identity(EmailAddress=SENDER)
    address = f"bea-{uuid.uuid4().hex[:8]}@example.org"
    event = submitted(address)
    sent_log = tmp_path / "sent"
    env = {"HMS_TABLE_NAME": table, "HMS_EMAIL_SENDER": SENDER, "SENT_LOG": str(sent_log)}
    killed_after_commit("notifications", message(event), env)
    assert sent_log.read_text().split() == [address]
    calls = Calls(ses)

    with calls.counting() as redelivery:
        result = handle(message(event, 2), LocalContext(), notifications(table, dynamodb, ses))

    assert result["batchItemFailures"] == []
    assert redelivery["SendEmail"] == 0  # the citizen got one email
    (row,) = notification_rows(dynamodb, table)
    assert (row["delivery"], row["attempts"]) == ("sent", 1)
