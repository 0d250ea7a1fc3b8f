"""The platform's event plumbing with fakes: PutEvents partial failures, the relay's bookkeeping, the
consumer's partial batch answers and deduplication, and the one entry point (no sockets)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from hmskit.consumer import Delivery, EventConsumer, InMemoryDeduplicator, UnroutableEventError
from hmskit.contracts import Event, PaymentCapturedV1, RenewalSubmittedV1, build
from hmskit.entry import dispatch, event_kind
from hmskit.outbox import EventPublisher, OutboxRelay, outbox_item

# -- fakes -------------------------------------------------------------------------------------------


class FakeEvents:
    """PutEvents that rejects the entries whose Detail contains a marker, a number of times."""

    def __init__(self, reject: dict[str, int] | None = None, fail_calls: int = 0) -> None:
        self.reject = dict(reject or {})
        self.fail_calls = fail_calls
        self.calls: list[list[dict[str, Any]]] = []
        self.accepted: list[dict[str, Any]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(Entries)
        if self.fail_calls:
            self.fail_calls -= 1
            raise ClientError({"Error": {"Code": "InternalException", "Message": "boom"}}, "PutEvents")
        results = []
        for e in Entries:
            marker = next((m for m in self.reject if m in e["Detail"] and self.reject[m] > 0), None)
            if marker:
                self.reject[marker] -= 1
                results.append({"ErrorCode": "InternalFailure", "ErrorMessage": "try again"})
            else:
                self.accepted.append(e)
                results.append({"EventId": f"eb-{len(self.accepted)}"})
        failed = sum(1 for r in results if "ErrorCode" in r)
        return {"FailedEntryCount": failed, "Entries": results}


class FakeStore:
    """The two TableStore calls the relay makes, over a dict."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = {(i["pk"], i["sk"]): i for i in items}
        self.deleted: list[str] = []
        self.delete_calls = 0

    def query_page(
        self, pk: str, *, sk_prefix: str, limit: int, after_sk: str | None = None, newest_first: bool = True
    ) -> Any:
        rows = sorted(
            (i for (p, s), i in self.items.items() if p == pk and s.startswith(sk_prefix)),
            key=lambda i: i["sk"],
        )
        if after_sk is not None:
            rows = [r for r in rows if r["sk"] > after_sk]
        page = rows[:limit]
        return page, (page[-1]["sk"] if len(rows) > limit else None)

    def delete_many(self, keys: Any) -> list[tuple[str, str]]:
        keys = list(keys)
        self.delete_calls += 1
        for pk, sk in keys:
            self.items.pop((pk, sk), None)
            self.deleted.append(sk)
        return []


def payment_event(n: int, *, renewal: str | None = None) -> Event:
    data = PaymentCapturedV1(
        payment_id=f"P{n}",
        owner="alice",
        amount="10.00",
        currency="USD",
        purpose=f"fee-{n}",
        renewal_id=renewal,
        captured_at=datetime(2026, 11, 20, tzinfo=UTC),
    )
    return build(
        data,
        event_id=f"E{n:03d}",
        source="payments",
        time=datetime(2026, 11, 20, tzinfo=UTC),
        correlation_id=f"r{n}",
    )


def rows(n: int) -> list[dict[str, Any]]:
    return [outbox_item(payment_event(i), source="hms.payments", now="t") for i in range(n)]


def no_sleep(_: float) -> None:
    pass


# -- publishing --------------------------------------------------------------------------------------


def test_put_events_partial_failures_are_retried_until_accepted() -> None:
    events = FakeEvents(reject={"fee-3": 2})
    publisher = EventPublisher(events, "hms", attempts=3, sleep=no_sleep)

    failed = publisher.publish(
        [(str(i), {"Detail": f"fee-{i}", "Source": "s", "DetailType": "t"}) for i in range(5)]
    )

    assert failed == []
    assert [len(c) for c in events.calls] == [5, 1, 1]  # only the rejected entry is sent again
    assert sorted(e["Detail"] for e in events.accepted) == [f"fee-{i}" for i in range(5)]


def test_entries_still_rejected_after_the_retries_are_reported_not_raised() -> None:
    events = FakeEvents(reject={"fee-1": 99})
    publisher = EventPublisher(events, "hms", attempts=3, sleep=no_sleep)

    assert publisher.publish([(k, {"Detail": f"fee-{k}"}) for k in ("0", "1", "2")]) == ["1"]


def test_a_failed_call_is_retried_and_batches_respect_the_limit_of_ten() -> None:
    events = FakeEvents(fail_calls=1)
    publisher = EventPublisher(events, "hms", attempts=2, sleep=no_sleep)

    assert publisher.publish([(str(i), {"Detail": f"d{i}"}) for i in range(23)]) == []
    assert [len(c) for c in events.calls] == [10, 10, 10, 3]  # the first call failed and was repeated


def test_the_relay_deletes_only_what_the_bus_accepted() -> None:
    store = FakeStore(rows(4))
    events = FakeEvents(reject={"fee-2": 99})
    relay = OutboxRelay(store, EventPublisher(events, "hms", attempts=2, sleep=no_sleep))  # type: ignore[arg-type]

    result = relay.relay_pending()

    assert result.failed == ["E002"]
    assert sorted(result.published) == ["E000", "E001", "E003"]
    assert [i["event_id"] for i in store.items.values()] == ["E002"]  # kept for the next run
    assert store.delete_calls == 1  # the published rows go in one batch, not a call each
    entry = events.accepted[0]
    assert entry["Source"] == "hms.payments" and entry["DetailType"] == "PaymentCaptured"
    assert entry["EventBusName"] == "hms"
    assert json.loads(entry["Detail"])["metadata"]["event_id"] == "E000"


def test_the_sweep_drains_every_page_and_failing_rows_do_not_block_newer_ones() -> None:
    store = FakeStore(rows(25))
    events = FakeEvents(reject={'"fee-0"': 99, '"fee-1"': 99})  # the two oldest never get through
    relay = OutboxRelay(store, EventPublisher(events, "hms", attempts=1, sleep=no_sleep))  # type: ignore[arg-type]

    result = relay.relay_pending(limit=10)

    assert sorted(result.failed) == ["E000", "E001"]
    assert len(result.published) == 23
    assert sorted(i["event_id"] for i in store.items.values()) == ["E000", "E001"]


def test_the_sweep_stops_when_time_runs_short() -> None:
    store = FakeStore(rows(25))
    relay = OutboxRelay(store, EventPublisher(FakeEvents(), "hms", sleep=no_sleep))  # type: ignore[arg-type]

    result = relay.relay_pending(limit=10, keep_going=lambda: False)

    assert len(result.published) == 10 and len(store.items) == 15


def test_the_stream_relay_answers_failures_by_sequence_number() -> None:
    from hmskit.store import to_dynamo

    items = rows(3)
    records = [
        {
            "eventName": "INSERT",
            "eventSource": "aws:dynamodb",
            "dynamodb": {"NewImage": to_dynamo(i), "SequenceNumber": f"seq-{n}"},
        }
        for n, i in enumerate(items)
    ]
    records.append(
        {"eventName": "REMOVE", "eventSource": "aws:dynamodb", "dynamodb": {"SequenceNumber": "seq-9"}}
    )
    store = FakeStore(items)
    relay = OutboxRelay(
        store, EventPublisher(FakeEvents(reject={"fee-1": 99}), "hms", attempts=1, sleep=no_sleep)
    )  # type: ignore[arg-type]

    assert relay.relay_stream({"Records": records}) == {"batchItemFailures": [{"itemIdentifier": "seq-1"}]}
    assert sorted(store.deleted) == ["EVENT#E000", "EVENT#E002"]


# -- consuming ---------------------------------------------------------------------------------------


def sqs_batch(*bodies: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m{i}",
                "receiptHandle": f"rh{i}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:q",
                "awsRegion": "us-east-1",
            }
            for i, body in enumerate(bodies)
        ]
    }


def on_bus(event: Event) -> str:
    """The SQS body EventBridge delivers for an event."""
    return json.dumps(
        {
            "version": "0",
            "id": "eb-id",
            "detail-type": event.type,
            "source": f"hms.{event.metadata.source}",
            "account": "000000000000",
            "time": "2026-11-20T00:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": event.detail(),
        }
    )


def test_a_batch_reports_only_the_failed_messages() -> None:
    handled: list[str] = []

    def handle(event: Event, delivery: Delivery) -> None:
        if event.data.purpose == "fee-1":  # type: ignore[attr-defined]
            raise RuntimeError("downstream refused")
        handled.append(event.id)

    consumer = EventConsumer({"PaymentCaptured": handle}, InMemoryDeduplicator())

    answer = consumer.handle(
        sqs_batch(on_bus(payment_event(0)), on_bus(payment_event(1)), "not json", on_bus(payment_event(2)))
    )

    assert answer == {"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}]}
    assert handled == ["E000", "E002"]


def test_a_redelivered_event_has_no_second_effect() -> None:
    effects: list[str] = []
    consumer = EventConsumer({"PaymentCaptured": lambda e, d: effects.append(e.id)}, InMemoryDeduplicator())
    body = on_bus(payment_event(7))

    consumer.handle(sqs_batch(body))
    consumer.handle(sqs_batch(body, body))

    assert effects == ["E007"]


def test_a_failed_effect_is_not_remembered_so_the_retry_runs_it() -> None:
    attempts: list[str] = []

    def flaky(event: Event, delivery: Delivery) -> None:
        attempts.append(event.id)
        if len(attempts) == 1:
            raise RuntimeError("first try fails")

    consumer = EventConsumer({"PaymentCaptured": flaky}, InMemoryDeduplicator())
    body = on_bus(payment_event(1))

    assert consumer.handle(sqs_batch(body))["batchItemFailures"] == [{"itemIdentifier": "m0"}]
    assert consumer.handle(sqs_batch(body))["batchItemFailures"] == []
    assert attempts == ["E001", "E001"]


def test_an_event_type_the_window_does_not_handle_is_poison() -> None:
    consumer = EventConsumer({"PaymentCaptured": lambda e, d: None}, InMemoryDeduplicator())
    submitted = build(
        RenewalSubmittedV1(
            renewal_id="R1", owner="a", full_name="A", submitted_at=datetime(2026, 1, 1, tzinfo=UTC)
        ),
        event_id="E1",
        source="passport",
        time=datetime(2026, 1, 1, tzinfo=UTC),
        correlation_id=None,
    )

    with pytest.raises(UnroutableEventError, match="no handler for 'RenewalSubmitted'"):
        consumer.process(on_bus(submitted))


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        ({"requestContext": {"http": {}}, "version": "2.0"}, "http"),
        ({"Records": [{"eventSource": "aws:sqs"}]}, "sqs"),
        ({"Records": [{"eventSource": "aws:dynamodb"}]}, "stream"),
        ({"source": "aws.events", "detail-type": "Scheduled Event"}, "schedule"),
        ({"hello": "world"}, "unknown"),
    ],
)
def test_event_kind(event: dict[str, Any], kind: str) -> None:
    assert event_kind(event) == kind


def test_dispatch_refuses_an_invocation_the_window_cannot_handle() -> None:
    with pytest.raises(UnroutableEventError, match="'sqs'"):
        dispatch({"Records": [{"eventSource": "aws:sqs"}]}, None, http=lambda e, c: {})
    assert dispatch({"requestContext": {}}, None, http=lambda e, c: {"statusCode": 204}) == {
        "statusCode": 204
    }
