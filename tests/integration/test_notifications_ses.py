"""The notifications window on the emulator: real SES sends, the real table, the real consumer.

Sent emails are read back from moto's model API (``/moto-api/data.json``, ``ses.Message``: id, source,
subject, body, destinations); SES itself has no API to read a sent message.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from helpers import body_of, both_emulators, http_event
from support.kit import FakeClock

from hmskit.context import LocalContext
from hmskit.contracts import Event, EventData, PaymentCapturedV1, RenewalSubmittedV1, build
from hmskit.ids import id_floor as notification_id_floor
from hmskit.settings import WindowSettings
from hmskit.store import ConditionFailedError, StoreError, TableStore
from notifications import bootstrap
from notifications.adapters import DynamoNotificationRepository
from notifications.bootstrap import Deps
from notifications.domain import ADDRESS_GRACE_SECONDS, Notification, notification_id
from notifications.handler import handle

pytestmark = [pytest.mark.integration, both_emulators]

SENDER = "no-reply@hms.example.gov"
T0 = datetime(2027, 3, 4, 9, 0, tzinfo=UTC)


# -- SQS batch events, shaped exactly as Lambda's event source mapping delivers them -----------------


def bus_event(data: EventData, *, minutes: int = 0) -> Event:
    return build(
        data,
        event_id=uuid.uuid4().hex,
        source={"PaymentCaptured": "payments"}.get(data.TYPE, "passport"),
        time=T0 + timedelta(minutes=minutes),
        correlation_id="req-" + uuid.uuid4().hex[:8],
    )


def sqs_batch(*events: Event, receive_count: int = 1) -> dict[str, Any]:
    records = []
    for event in events:
        body = json.dumps(
            {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": event.type,
                "source": f"hms.{event.metadata.source}",
                "account": "123456789012",
                "time": event.metadata.time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "region": "us-east-1",
                "resources": [],
                "detail": event.detail(),
            }
        )
        records.append(
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "AQEB" + uuid.uuid4().hex,
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": str(receive_count),
                    "SentTimestamp": "1804150800000",
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": "1804150800001",
                },
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:hms-notifications-{event.type}",
                "awsRegion": "us-east-1",
            }
        )
    return {"Records": records}


# -- the window on the emulator -----------------------------------------------------------------------


@pytest.fixture
def address() -> str:
    """A recipient no other test uses (the emulator's sent messages are shared by the session)."""
    return f"citizen-{uuid.uuid4().hex[:10]}@example.org"


@pytest.fixture
def ses(aws_endpoint: str) -> Any:
    client = boto3.client("ses")
    client.verify_email_identity(EmailAddress=SENDER)
    return client


def window(table: str, *, sender: str = SENDER, clock: FakeClock | None = None) -> Deps:
    settings = WindowSettings(
        window="notifications", table_name=table, rate_limit="60/60", email_sender=sender
    )
    deps = bootstrap.build(
        settings, dynamodb=boto3.client("dynamodb"), clock=clock or FakeClock(T0.timestamp())
    )
    deps.sleep = lambda _seconds: None
    return deps


def deliver(deps: Deps, *events: Event, receive_count: int = 1) -> list[str]:
    result = handle(sqs_batch(*events, receive_count=receive_count), LocalContext(), deps)
    return [f["itemIdentifier"] for f in result["batchItemFailures"]]


def sent_to(endpoint: str, address: str) -> list[dict[str, Any]]:
    """Every email the emulator's SES accepted for ``address`` (id, source, subject, body), oldest first."""
    try:  # ministack
        with urllib.request.urlopen(f"{endpoint}/_ministack/ses/messages", timeout=10) as resp:
            accounts = json.load(resp).get("messages", {})
        return [
            {
                "id": m["MessageId"],
                "source": m["Source"],
                "subject": m["Subject"],
                "body": m.get("BodyHtml") or m.get("BodyText") or "",
            }
            for msgs in accounts.values()
            for m in msgs
            if address in (m.get("To") or [])
        ]
    except urllib.error.HTTPError:  # moto
        with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=10) as resp:
            messages = json.load(resp).get("ses", {}).get("Message", [])
        return [m for m in messages if address in m["destinations"].get("ToAddresses", [])]


def rows(dynamodb: Any, table: str, owner: str) -> list[dict[str, Any]]:
    """The items of a partition: ``OWNER#<owner>``, or the given pk when it names another."""
    pk = owner if "#" in owner else f"OWNER#{owner}"
    items = dynamodb.query(
        TableName=table, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": pk}}
    )["Items"]
    return [{k: next(iter(v.values())) for k, v in item.items()} for item in items]


def event_records(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    """The event deduplicator's records: each in a partition of its own (``IDEMPOTENCY#<window>#events#<digest>``)."""
    items = dynamodb.scan(
        TableName=table,
        FilterExpression="begins_with(pk, :p)",
        ExpressionAttributeValues={":p": {"S": "IDEMPOTENCY#notifications#events#"}},
    )["Items"]
    return [{k: next(iter(v.values())) for k, v in item.items()} for item in items]


def submitted(owner: str, email: str | None) -> RenewalSubmittedV1:
    return RenewalSubmittedV1(
        renewal_id="R-77", owner=owner, full_name="A Citizen", email=email, submitted_at=T0
    )


def captured(owner: str, email: str | None = None) -> PaymentCapturedV1:
    return PaymentCapturedV1(
        payment_id="P-5",
        owner=owner,
        amount="82.50",
        currency="GBP",
        purpose="passport renewal fee",
        renewal_id="R-77",
        email=email,
        captured_at=T0,
    )


# -- tests ----------------------------------------------------------------------------------------------


def test_an_event_is_emailed_through_ses_and_recorded_in_the_table(
    aws_endpoint: str, ses: Any, dynamodb: Any, table: str, address: str
) -> None:
    event = bus_event(submitted("alice", address))

    assert deliver(window(table), event) == []

    (email,) = sent_to(aws_endpoint, address)
    assert email["source"] == SENDER
    assert email["subject"] == "We have received your passport renewal application (reference R-77)"
    assert "R-77" in email["body"] and "Upload a recent passport photo" in email["body"]  # the HTML part
    by_sk = {r["sk"]: r for r in rows(dynamodb, table, "alice")}
    assert by_sk["CONTACT#EMAIL"]["email"] == address
    (row,) = [r for sk, r in by_sk.items() if sk.startswith("NOTIFICATION#")]
    assert row["delivery"] == "sent" and row["ses_message_id"] == email["id"]
    assert (row["type"], row["event_id"], row["renewal_id"]) == ("RenewalSubmitted", event.id, "R-77")
    assert (row["recipient"], row["channel"], row["attempts"]) == (address, "email", "1")
    assert row["correlation_id"] == event.metadata.correlation_id and row["subject"] == email["subject"]


def test_the_same_event_delivered_twice_sends_one_email(
    aws_endpoint: str, ses: Any, dynamodb: Any, table: str, address: str
) -> None:
    event = bus_event(captured("bob", address))
    deps = window(table)

    assert deliver(deps, event) == []
    assert deliver(window(table), event) == []  # a second delivery, another warm container

    assert len(sent_to(aws_endpoint, address)) == 1
    assert event_records(dynamodb, table) == []  # the notification record is the dedupe: no other
    assert len([r for r in rows(dynamodb, table, "bob") if r["sk"].startswith("NOTIFICATION#")]) == 1


def test_a_redelivery_after_the_idempotency_record_is_gone_still_sends_nothing(
    aws_endpoint: str, ses: Any, dynamodb: Any, table: str, address: str
) -> None:
    event = bus_event(captured("bob", address))
    deliver(window(table), event)
    for record in event_records(dynamodb, table):  # expired, or never completed
        dynamodb.delete_item(TableName=table, Key={"pk": {"S": record["pk"]}, "sk": {"S": record["sk"]}})

    assert deliver(window(table), event) == []

    assert len(sent_to(aws_endpoint, address)) == 1


def test_a_later_event_without_an_address_uses_the_remembered_one(
    aws_endpoint: str, ses: Any, table: str, address: str
) -> None:
    deps = window(table)
    deliver(deps, bus_event(submitted("carol", address)))

    assert deliver(deps, bus_event(captured("carol"), minutes=3)) == []

    assert [m["subject"] for m in sent_to(aws_endpoint, address)][-1] == "Payment received: 82.50 GBP"


def test_no_known_address_is_recorded_and_nothing_is_sent(ses: Any, dynamodb: Any, table: str) -> None:
    late = FakeClock(T0.timestamp() + ADDRESS_GRACE_SECONDS)  # past the grace period

    assert deliver(window(table, clock=late), bus_event(captured("dave"))) == []

    contact, row = sorted(rows(dynamodb, table, "dave"), key=lambda r: r["sk"])
    assert row["delivery"] == "no_address" and "recipient" not in row and "ses_message_id" not in row
    # the owner's contact says a notification waits (for a day), so an address will look for it
    assert contact["sk"] == "CONTACT#EMAIL" and "email" not in contact
    assert int(contact["waiting_until_ms"]) == int(T0.timestamp() * 1000) + 24 * 3600 * 1000
    assert "82.50 GBP" in row["text"] and "82.50 GBP" in row["html"]  # kept until an address is known


def test_an_event_before_the_address_is_retried_then_emailed(
    aws_endpoint: str, ses: Any, dynamodb: Any, table: str, address: str
) -> None:
    deps = window(table)
    payment = bus_event(captured("jan"))

    assert len(deliver(deps, payment)) == 1  # young, no address yet: SQS redelivers it
    assert rows(dynamodb, table, "jan") == []
    assert deliver(deps, bus_event(submitted("jan", address))) == []
    assert deliver(deps, payment, receive_count=2) == []

    subjects = [m["subject"] for m in sent_to(aws_endpoint, address)]
    assert subjects[-1] == "Payment received: 82.50 GBP" and len(subjects) == 2


def test_a_notification_that_had_no_address_is_emailed_when_one_arrives(
    aws_endpoint: str, ses: Any, dynamodb: Any, table: str, address: str
) -> None:
    clock = FakeClock(T0.timestamp() + ADDRESS_GRACE_SECONDS)
    deps = window(table, clock=clock)
    payment = bus_event(captured("kim"))
    assert deliver(deps, payment) == []
    clock.advance(3 * 3600)

    assert deliver(deps, bus_event(submitted("kim", address), minutes=1)) == []

    subjects = sorted(m["subject"] for m in sent_to(aws_endpoint, address))
    assert subjects == [
        "Payment received: 82.50 GBP",
        "We have received your passport renewal application (reference R-77)",
    ]
    paid = next(r for r in rows(dynamodb, table, "kim") if r.get("event_id") == payment.id)
    assert (paid["delivery"], paid["recipient"], paid["attempts"]) == ("sent", address, "1")
    assert deliver(window(table, clock=clock), bus_event(submitted("kim", address), minutes=2)) == []
    assert len(sent_to(aws_endpoint, address)) == 3  # the new event's own: nothing left waiting


class ThrottledSentUpdates(TableStore):
    """The real table, except that every update to ``sent`` is throttled."""

    def update(self, pk: str, sk: str, changes: Any, *, expect: Any = None) -> dict[str, Any]:
        if changes.get("delivery") == "sent":
            raise StoreError("update_item failed: ProvisionedThroughputExceededException")
        return super().update(pk, sk, changes, expect=expect)


def test_a_table_failing_after_ses_took_the_email_sends_it_once(
    aws_endpoint: str, ses: Any, dynamodb: Any, table: str, address: str
) -> None:
    deps = window(table)
    deps.notifications = DynamoNotificationRepository(ThrottledSentUpdates(dynamodb, table))
    event = bus_event(submitted("lou", address))

    assert deliver(deps, event) == []  # acknowledged: the email went, and its message is not retried

    (email,) = sent_to(aws_endpoint, address)
    (row,) = [r for r in rows(dynamodb, table, "lou") if r["sk"].startswith("NOTIFICATION#")]
    assert (row["delivery"], row["attempts"]) == ("pending", "1")
    assert email["subject"].startswith("We have received your passport renewal application")
    # A second copy of the event would find the record pending, exactly as after a crash between
    # the send and the mark, and resume it (send again): the one window ``domain.notify`` documents.
    assert deliver(deps, event, receive_count=2) == []
    assert len(sent_to(aws_endpoint, address)) == 2


def test_a_message_ses_rejects_is_recorded_as_failed_with_the_reason(
    aws_endpoint: str, ses: Any, dynamodb: Any, table: str, address: str
) -> None:
    deps = window(table, sender="nobody@unverified.example.net")  # SES: MessageRejected

    assert deliver(deps, bus_event(submitted("erin", address))) == []  # acknowledged: never retried

    assert sent_to(aws_endpoint, address) == []
    (row,) = [r for r in rows(dynamodb, table, "erin") if r["sk"].startswith("NOTIFICATION#")]
    assert row["delivery"] == "failed"
    assert row["reason"].startswith("MessageRejected: Email address") and "not verified" in row["reason"]


def test_the_citizen_lists_their_notifications_newest_first_from_the_table(
    ses: Any, table: str, address: str
) -> None:
    deps = window(table)
    events = [bus_event(submitted("fay", address), minutes=0)] + [
        bus_event(captured("fay"), minutes=m) for m in (1, 2, 3, 4)
    ]
    assert deliver(deps, *events) == []
    deliver(deps, bus_event(captured("gus", address)))

    ids: list[str] = []
    cursor = None
    while True:
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = body_of(
            handle(http_event("GET", "/api/v1/notifications", sub="fay", query=query), LocalContext(), deps)
        )
        ids += [i["event_id"] for i in body["items"]]
        assert all(i["recipient"] == "c***@example.org" for i in body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert ids == [e.id for e in reversed(events)]


# -- the repository's conditional writes on the real table ------------------------------------------------


def pending(owner: str = "hal") -> Notification:
    return Notification(
        id=notification_id("E-1", 1_804_150_800_000),
        owner=owner,
        type="PaymentCaptured",
        event_id="E-1",
        renewal_id=None,
        subject="Payment received: 1.00 GBP",
        recipient="hal@example.org",
        delivery="pending",
        created_at="2027-03-04T09:00:00.000+00:00",
        attempts=1,
    )


def test_a_pending_notification_found_again_counts_another_attempt_until_it_is_final(
    dynamodb: Any, table: str
) -> None:
    repo = DynamoNotificationRepository(TableStore(dynamodb, table))
    first = repo.begin(pending())

    again = repo.begin(pending())
    done = repo.finish(again, delivery="sent", at="2027-03-04T09:00:01.000+00:00", ses_message_id="m-1")

    assert (first.attempts, again.attempts) == (1, 2)
    assert (done.delivery, done.ses_message_id, done.attempts) == ("sent", "m-1", 2)
    assert repo.begin(pending()) == done  # final: answered as stored, no new attempt
    with pytest.raises(ConditionFailedError):
        repo.finish(done, delivery="failed", at="2027-03-04T09:00:02.000+00:00", reason="late")
    # the same outcome again (a retry whose first answer was lost) is answered as stored
    assert (
        repo.finish(again, delivery="sent", at="2027-03-04T09:00:03.000+00:00", ses_message_id="m-1") == done
    )


def test_waiting_notifications_are_claimed_once_and_can_be_put_back(dynamodb: Any, table: str) -> None:
    repo = DynamoNotificationRepository(TableStore(dynamodb, table))
    old, new = (
        replace(
            pending("max"),
            id=notification_id(f"E-{ms}", ms),
            event_id=f"E-{ms}",
            recipient=None,
            delivery="no_address",
            attempts=0,
            text="t",
            html="<p>h</p>",
        )
        for ms in (1_000_000, 2_000_000)
    )
    for n in (old, new):
        repo.begin(n)
    repo.begin(replace(pending("max"), id=notification_id("E-sent", 3_000_000)))  # not waiting

    assert [n.id for n in repo.waiting("max", since_id=notification_id_floor(0), limit=10)] == [
        new.id,
        old.id,
    ]
    assert [n.id for n in repo.waiting("max", since_id=notification_id_floor(1_500_000), limit=10)] == [
        new.id
    ]
    assert repo.waiting("max", since_id=notification_id_floor(0), limit=1) == [new]
    claimed = repo.claim(new, recipient="max@example.org", at="2027-03-04T09:00:00.000+00:00")
    assert claimed is not None
    assert (claimed.delivery, claimed.recipient, claimed.attempts, claimed.text) == (
        "pending",
        "max@example.org",
        1,
        "t",
    )
    assert repo.claim(new, recipient="max@example.org", at="2027-03-04T09:00:00.000+00:00") is None
    repo.release(claimed, at="2027-03-04T09:00:01.000+00:00")
    (back, _) = repo.waiting("max", since_id=notification_id_floor(0), limit=10)
    assert (back.id, back.delivery, back.recipient) == (new.id, "no_address", None)


def test_the_remembered_address_is_the_newest_events(dynamodb: Any, table: str) -> None:
    repo = DynamoNotificationRepository(TableStore(dynamodb, table))

    repo.remember_contact("ivy", "new@example.org", as_of_ms=2_000, event_id="E-2")
    repo.remember_contact("ivy", "old@example.org", as_of_ms=1_000, event_id="E-1")  # arrives late

    assert repo.contact("ivy") == "new@example.org"
    repo.remember_contact("ivy", "newer@example.org", as_of_ms=3_000, event_id="E-3")
    assert repo.contact("ivy") == "newer@example.org"
    assert repo.contact("nobody") is None
