"""The passport window on the emulator: the real composition root, the real table, real transactions.

Eligibility is the only fake (an object standing in for the A2A client). Proven here: a renewal and
its RenewalSubmitted are written together, a refused condition writes neither the state change nor
its event, the payment/photo race ends ready_for_review with one RenewalReadyForReview, a redelivered
event has one effect (the real deduplicator on the window's table), and the relay publishes the
outbox to the bus.

About the race: moto applies a transaction without isolation from concurrent requests, so two
threads racing on it prove nothing about DynamoDB. The race is instead staged deterministically at
its worst point: the other step commits between a step's read and its conditional write.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from helpers import body_of, example_body, http_event
from support.kit import FakeClock

from hmskit.a2a import A2AResponse
from hmskit.context import LocalContext
from hmskit.contracts import (
    DocumentUploadedV1,
    Event,
    EventData,
    PaymentCapturedV1,
    RenewalReadyForReviewV1,
    RenewalSubmittedV1,
    build,
    parse_detail,
)
from hmskit.ids import new_id
from hmskit.outbox import OUTBOX_PK
from hmskit.settings import RateLimit, WindowSettings
from hmskit.store import TableStore
from passport import bootstrap, domain
from passport.adapters import DynamoRenewalRepository
from passport.bootstrap import Deps
from passport.domain import Renewal
from passport.handler import handle

pytestmark = pytest.mark.integration

BASE = "/api/v1/renewals"
BODY: dict[str, Any] = example_body("passport", "POST", "/api/v1/renewals")


class AllowingEligibility:
    def __init__(self) -> None:
        self.calls = 0

    def call(self, window: str, method: str, path: str, **kw: Any) -> A2AResponse:
        self.calls += 1
        return A2AResponse(200, {}, {"allowed": True, "reasons": [], "checked_on": "2027-01-15"})


@pytest.fixture
def eligibility() -> AllowingEligibility:
    return AllowingEligibility()


def make_deps(table: str, clock: FakeClock, eligibility: AllowingEligibility, bus: str | None = None) -> Deps:
    settings = WindowSettings(
        window="passport", table_name=table, rate_limit=RateLimit(limit=100, window=60), event_bus=bus
    )
    return bootstrap.build(settings, dynamodb=boto3.client("dynamodb"), clock=clock, a2a=eligibility)


@pytest.fixture
def deps(aws_endpoint: str, table: str, clock: FakeClock, eligibility: AllowingEligibility) -> Deps:
    return make_deps(table, clock, eligibility)


def outbox_rows(table: str) -> list[dict[str, Any]]:
    items, _ = TableStore(boto3.client("dynamodb"), table).query_page(
        OUTBOX_PK, sk_prefix="EVENT#", limit=100, newest_first=False
    )
    return items


def outbox_events(table: str) -> list[Event]:
    return [parse_detail(str(row["detail"])) for row in outbox_rows(table)]


def submit(deps: Deps, clock: FakeClock, sub: str = "alice", **kw: Any) -> dict[str, Any]:
    clock.advance(0.005)
    return handle(http_event("POST", BASE, body=BODY, sub=sub, **kw), LocalContext(), deps)


def submitted_id(deps: Deps, clock: FakeClock, sub: str = "alice") -> str:
    result = submit(deps, clock, sub)
    assert result["statusCode"] == 202, result["body"]
    return str(body_of(result)["id"])


def bus_event(data: EventData, source: str, correlation_id: str | None = None) -> Event:
    return build(
        data,
        event_id=new_id(),
        source=source,
        time=datetime(2027, 1, 15, 9, tzinfo=UTC),
        correlation_id=correlation_id,
    )


def payment(renewal_id: str, owner: str = "alice", amount: str = "130.00", currency: str = "USD") -> Event:
    data = PaymentCapturedV1(
        payment_id=new_id(),
        owner=owner,
        amount=amount,  # the default renewal fee unless told
        currency=currency,
        purpose="passport renewal fee",
        renewal_id=renewal_id,
        captured_at=datetime(2027, 1, 15, 9, tzinfo=UTC),
    )
    return bus_event(data, "payments", "req-pay")


def photo(renewal_id: str, owner: str = "alice") -> Event:
    data = DocumentUploadedV1(
        document_id=new_id(),
        owner=owner,
        content_type="image/jpeg",
        size=1234,
        sha256="0" * 64,
        kind="photo",
        renewal_id=renewal_id,
        uploaded_at=datetime(2027, 1, 15, 9, 30, tzinfo=UTC),
    )
    return bus_event(data, "documents", "req-photo")


def sqs(*events: Event) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m-{i}",
                "receiptHandle": f"rh-{i}",
                "body": json.dumps(
                    {"detail-type": e.type, "source": f"hms.{e.metadata.source}", "detail": e.detail()}
                ),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:hms-passport",
                "awsRegion": "us-east-1",
            }
            for i, e in enumerate(events)
        ]
    }


def deliver(deps: Deps, *events: Event) -> list[str]:
    result = handle(sqs(*events), LocalContext(), deps)
    return [f["itemIdentifier"] for f in result["batchItemFailures"]]


# -- submit: the state and its event, together ------------------------------------------------------


def test_a_submitted_renewal_and_its_event_are_written_together(
    deps: Deps, clock: FakeClock, table: str
) -> None:
    result = submit(deps, clock)
    assert result["statusCode"] == 202, result["body"]
    renewal_id = body_of(result)["id"]

    item = TableStore(boto3.client("dynamodb"), table).get("OWNER#alice", f"RENEWAL#{renewal_id}")
    assert item is not None
    assert (item["status"], item["passport_number"], item["mailing_address"]["country"]) == (
        "submitted",
        "AB1234567",
        "US",
    )
    (event,) = outbox_events(table)
    assert event.type == "RenewalSubmitted"
    assert event.metadata.source == "passport"
    assert event.data.renewal_id == renewal_id  # type: ignore[attr-defined]
    assert event.data.email == "alice@example.org"  # type: ignore[attr-defined]
    assert event.metadata.correlation_id  # the request id of the POST
    assert outbox_rows(table)[0]["source"] == "hms.passport"


def test_the_renewal_reads_back_through_get_and_list(deps: Deps, clock: FakeClock) -> None:
    first = submitted_id(deps, clock)
    second = submitted_id(deps, clock)
    submitted_id(deps, clock, sub="bob")

    got = handle(http_event("GET", f"{BASE}/{first}"), LocalContext(), deps)
    listed = body_of(handle(http_event("GET", BASE, query="limit=1"), LocalContext(), deps))
    rest = body_of(
        handle(http_event("GET", BASE, query=f"limit=1&cursor={listed['next_cursor']}"), LocalContext(), deps)
    )

    assert got["statusCode"] == 200
    assert body_of(got)["passport_number"] == "*****4567"
    assert body_of(got)["fee"] == {"amount": "130.00", "currency": "USD"}
    assert [i["id"] for i in listed["items"] + rest["items"]] == [second, first]
    assert rest["next_cursor"] is None
    assert handle(http_event("GET", f"{BASE}/{first}", sub="bob"), LocalContext(), deps)["statusCode"] == 404


def test_a_retried_post_with_the_same_idempotency_key_creates_one_renewal(
    deps: Deps, clock: FakeClock, table: str, eligibility: AllowingEligibility
) -> None:
    first = submit(deps, clock, headers={"Idempotency-Key": "renew-1"})
    again = submit(deps, clock, headers={"Idempotency-Key": "renew-1"})

    assert first["statusCode"] == again["statusCode"] == 202
    assert body_of(again)["id"] == body_of(first)["id"]
    assert again["headers"]["Location"] == first["headers"]["Location"]
    assert len(outbox_rows(table)) == 1
    assert eligibility.calls == 1
    assert len(body_of(handle(http_event("GET", BASE), LocalContext(), deps))["items"]) == 1


def test_a_refused_add_writes_neither_the_renewal_nor_its_event(
    deps: Deps, clock: FakeClock, table: str
) -> None:
    renewal_id = submitted_id(deps, clock)
    existing = deps.renewals.get("alice", renewal_id)
    assert existing is not None
    changed = replace(existing, full_name="Someone Else")
    event = deps.events.event(
        RenewalSubmittedV1(
            renewal_id=renewal_id, owner="alice", full_name="Someone Else", submitted_at=datetime.now(UTC)
        ),
        correlation_id=None,
    )

    with pytest.raises(RuntimeError, match="collided"):
        deps.renewals.add(changed, event)  # the same key again: the Put's condition fails

    assert deps.renewals.get("alice", renewal_id) == existing
    assert event.id not in [e.id for e in outbox_events(table)]
    assert len(outbox_rows(table)) == 1


def test_a_stale_step_writes_neither_the_change_nor_its_event(
    deps: Deps, clock: FakeClock, table: str
) -> None:
    renewal_id = submitted_id(deps, clock)
    before = deps.renewals.get("alice", renewal_id)
    assert before is not None
    photo_first = replace(
        before, status="photo_received", photo_document_id=new_id(), photo_received_at=deps.now_iso()
    )
    deps.renewals.advance(before, photo_first, None)  # another step lands first
    ready = replace(
        before,
        status="ready_for_review",
        payment_id=new_id(),
        photo_document_id=new_id(),
        ready_for_review_at=deps.now_iso(),
    )
    event = deps.events.event(
        RenewalReadyForReviewV1(
            renewal_id=renewal_id,
            owner="alice",
            payment_id=str(ready.payment_id),
            photo_document_id=str(ready.photo_document_id),
            ready_at=datetime(2027, 1, 15, 9, tzinfo=UTC),
        ),
        correlation_id=None,
    )

    with pytest.raises(domain.StaleRenewalError):
        deps.renewals.advance(before, ready, event)  # decided on what it read: submitted, no photo

    assert deps.renewals.get("alice", renewal_id) == photo_first
    assert [e.type for e in outbox_events(table)] == ["RenewalSubmitted"]


# -- the saga on the real table ---------------------------------------------------------------------


def test_payment_then_photo_ends_ready_for_review_with_one_event(
    deps: Deps, clock: FakeClock, table: str
) -> None:
    renewal_id = submitted_id(deps, clock)
    paid, pic = payment(renewal_id), photo(renewal_id)

    assert deliver(deps, paid) == []
    assert deliver(deps, pic) == []

    done = deps.renewals.get("alice", renewal_id)
    assert done is not None
    assert done.status == "ready_for_review"
    assert (done.payment_id, done.photo_document_id) == (paid.data.payment_id, pic.data.document_id)  # type: ignore[attr-defined]
    ready = [e for e in outbox_events(table) if e.type == "RenewalReadyForReview"]
    assert len(ready) == 1
    assert ready[0].metadata.correlation_id == "req-photo"
    assert ready[0].data.email == "alice@example.org"  # type: ignore[attr-defined]


def test_a_redelivered_event_has_one_effect_through_the_real_deduplicator(
    deps: Deps, clock: FakeClock, table: str
) -> None:
    renewal_id = submitted_id(deps, clock)
    paid, pic = payment(renewal_id), photo(renewal_id)

    assert deliver(deps, paid, pic) == []
    assert deliver(deps, pic, paid) == []
    assert deliver(make_deps(table, clock, AllowingEligibility()), paid, pic) == []  # another container

    assert len([e for e in outbox_events(table) if e.type == "RenewalReadyForReview"]) == 1


def test_a_payment_for_another_citizens_renewal_changes_nothing(
    deps: Deps, clock: FakeClock, table: str
) -> None:
    renewal_id = submitted_id(deps, clock, sub="alice")
    before = deps.renewals.get("alice", renewal_id)

    assert deliver(deps, payment(renewal_id, owner="mallory"), photo(renewal_id, owner="mallory")) == []

    assert deps.renewals.get("alice", renewal_id) == before
    assert [e.type for e in outbox_events(table)] == ["RenewalSubmitted"]


def test_only_a_payment_of_the_fee_moves_the_renewal_on_the_real_table(
    deps: Deps, clock: FakeClock, table: str
) -> None:
    renewal_id = submitted_id(deps, clock)
    before = deps.renewals.get("alice", renewal_id)
    fee = payment(renewal_id)

    assert deliver(deps, payment(renewal_id, amount="0.01"), payment(renewal_id, currency="GBP")) == []
    assert deps.renewals.get("alice", renewal_id) == before
    assert deliver(deps, fee, photo(renewal_id)) == []

    done = deps.renewals.get("alice", renewal_id)
    assert done is not None
    assert (done.status, done.payment_id) == ("ready_for_review", fee.data.payment_id)  # type: ignore[attr-defined]
    assert len([e for e in outbox_events(table) if e.type == "RenewalReadyForReview"]) == 1


class Interleaving(DynamoRenewalRepository):
    """Runs ``meanwhile`` once between a step's read and its conditional write."""

    meanwhile: Any = None
    stale = 0

    def advance(self, before: Renewal, after: Renewal, event: Event | None) -> None:
        if self.meanwhile is not None:
            run, self.meanwhile = self.meanwhile, None
            run()
        try:
            super().advance(before, after, event)
        except domain.StaleRenewalError:
            self.stale += 1
            raise


@pytest.mark.parametrize("first", ["payment", "photo"])
def test_the_payment_photo_race_ends_ready_for_review_once(
    aws_endpoint: str, table: str, clock: FakeClock, first: str
) -> None:
    racing_deps = make_deps(table, clock, AllowingEligibility())
    other_deps = make_deps(table, clock, AllowingEligibility())  # another Lambda container
    renewal_id = submitted_id(racing_deps, clock)
    repo = Interleaving(TableStore(boto3.client("dynamodb"), table), racing_deps.events)  # type: ignore[arg-type]
    racing_deps.renewals = repo
    paid, pic = payment(renewal_id), photo(renewal_id)
    racing, other = (paid, pic) if first == "payment" else (pic, paid)
    repo.meanwhile = lambda: deliver(other_deps, other)

    assert deliver(racing_deps, racing) == []

    assert repo.stale == 1  # the racing step's first write was refused by its condition, then redone
    done = racing_deps.renewals.get("alice", renewal_id)
    assert done is not None
    assert done.status == "ready_for_review"
    assert (done.payment_id, done.photo_document_id) == (paid.data.payment_id, pic.data.document_id)  # type: ignore[attr-defined]
    ready = [e for e in outbox_events(table) if e.type == "RenewalReadyForReview"]
    assert len(ready) == 1
    assert ready[0].metadata.correlation_id == racing.metadata.correlation_id


# -- the relay: the outbox reaches the bus ----------------------------------------------------------


def test_the_sweep_publishes_the_outbox_to_the_bus_and_empties_it(
    aws_endpoint: str, table: str, clock: FakeClock
) -> None:
    events, sqs_client = boto3.client("events"), boto3.client("sqs")
    bus = f"bus-{uuid.uuid4().hex[:8]}"
    events.create_event_bus(Name=bus)
    url = sqs_client.create_queue(QueueName=f"q-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs_client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": ["hms.passport"]}
    events.put_rule(Name="passport-events", EventBusName=bus, EventPattern=json.dumps(pattern))
    events.put_targets(Rule="passport-events", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    deps = make_deps(table, clock, AllowingEligibility(), bus=bus)
    renewal_id = submitted_id(deps, clock)
    assert deliver(deps, payment(renewal_id), photo(renewal_id)) == []

    swept = handle({"source": "aws.scheduler", "detail-type": "Scheduled Event"}, LocalContext(), deps)

    assert swept == {"published": 2, "failed": 0}
    assert outbox_rows(table) == []
    got = sqs_client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    types = sorted(json.loads(m["Body"])["detail-type"] for m in got)
    assert types == ["RenewalReadyForReview", "RenewalSubmitted"]
