"""Bus events in, emails out: SQS batches through the window's Lambda handler, with in-memory fakes."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from helpers import ROOT
from support.kit import FakeClock
from support.notifications import InMemoryMailer, InMemoryNotificationRepository

from hms.topology import load_topology
from hmskit.consumer import IdempotentEffects, InMemoryDeduplicator
from hmskit.context import LocalContext
from hmskit.contracts import (
    Event,
    EventData,
    PaymentCapturedV1,
    RenewalReadyForReviewV1,
    RenewalSubmittedV1,
    build,
)
from hmskit.settings import WindowSettings
from hmskit.store import StoreError
from notifications import domain
from notifications.bootstrap import Deps
from notifications.consumers import NOTIFIED_EVENTS
from notifications.domain import Delivery, Notification, OutgoingEmail
from notifications.handler import handle

T0 = datetime(2027, 3, 4, 9, 0, tzinfo=UTC)

# -- SQS batch events, shaped exactly as Lambda's event source mapping delivers them -----------------


def bus_event(data: EventData, *, minutes: int = 0, event_id: str | None = None) -> Event:
    return build(
        data,
        event_id=event_id or uuid.uuid4().hex,
        source={"PaymentCaptured": "payments"}.get(data.TYPE, "passport"),
        time=T0 + timedelta(minutes=minutes),
        correlation_id="req-" + uuid.uuid4().hex[:8],
    )


def sqs_record(event: Event, *, receive_count: int = 1) -> dict[str, Any]:
    """One SQS message whose body is the EventBridge event the subscription's rule delivered."""
    body = json.dumps(
        {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": event.type,
            "source": f"hms.{event.metadata.source}",
            "account": "123456789012",
            "time": event.metadata.time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": "eu-west-2",
            "resources": [],
            "detail": event.detail(),
        }
    )
    return {
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
        "eventSourceARN": f"arn:aws:sqs:eu-west-2:123456789012:hms-notifications-{event.type}",
        "awsRegion": "eu-west-2",
    }


def sqs_batch(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


def submitted(owner: str = "alice", email: str | None = "alice@example.org", **kw: Any) -> RenewalSubmittedV1:
    return RenewalSubmittedV1(
        renewal_id=kw.pop("renewal_id", "R-1"),
        owner=owner,
        full_name="A Citizen",
        email=email,
        submitted_at=T0,
    )


def captured(owner: str = "alice", email: str | None = None, **kw: Any) -> PaymentCapturedV1:
    return PaymentCapturedV1(
        payment_id=kw.pop("payment_id", "P-1"),
        owner=owner,
        amount=kw.pop("amount", "25.00"),
        currency="GBP",
        purpose="passport renewal fee",
        renewal_id=kw.pop("renewal_id", "R-1"),
        email=email,
        captured_at=T0,
    )


def ready(owner: str = "alice", email: str | None = None) -> RenewalReadyForReviewV1:
    return RenewalReadyForReviewV1(
        renewal_id="R-1", owner=owner, payment_id="P-1", photo_document_id="D-1", email=email, ready_at=T0
    )


# -- the window, wired with fakes -------------------------------------------------------------------


@dataclass
class World:
    repo: InMemoryNotificationRepository = field(default_factory=InMemoryNotificationRepository)
    mailer: InMemoryMailer = field(default_factory=InMemoryMailer)
    clock: FakeClock = field(default_factory=lambda: FakeClock(T0.timestamp()))  # events happen "now"
    slept: list[float] = field(default_factory=list)
    deps: Deps = field(init=False)

    def __post_init__(self) -> None:
        self.restart()

    def restart(self) -> None:
        """A fresh process whose deduplicator forgot everything (an expired in-progress record)."""
        self.deps = Deps(
            settings=WindowSettings(
                window="notifications", table_name="unused", email_sender="no-reply@hms.example.gov"
            ),
            notifications=self.repo,
            mailer=self.mailer,
            dedupe=InMemoryDeduplicator(),
            clock=self.clock,
            sleep=self.slept.append,
        )

    def deliver(self, *records: dict[str, Any]) -> list[str]:
        """Invoke the handler with one SQS batch; the message ids it reports as failed."""
        result = handle(sqs_batch(*records), LocalContext(), self.deps)
        return [f["itemIdentifier"] for f in result["batchItemFailures"]]

    def notifications(self, owner: str = "alice") -> list[Notification]:
        return sorted((n for (o, _), n in self.repo.items.items() if o == owner), key=lambda n: n.id)

    def only(self, owner: str = "alice") -> Notification:
        (notification,) = self.notifications(owner)
        return notification


@pytest.fixture
def world() -> World:
    return World()


# -- one email per event -----------------------------------------------------------------------------


def test_a_submitted_renewal_emails_the_address_it_carries(world: World) -> None:
    event = bus_event(submitted(email="alice@example.org"))

    assert world.deliver(sqs_record(event)) == []

    (email,) = world.mailer.sent
    assert email.to == "alice@example.org"
    assert "R-1" in email.subject and "Pay the passport renewal fee" in email.text
    stored = world.only()
    assert (stored.type, stored.event_id, stored.renewal_id) == ("RenewalSubmitted", event.id, "R-1")
    assert (stored.delivery, stored.ses_message_id, stored.channel) == ("sent", "fake-0001", "email")
    assert stored.recipient == "alice@example.org" and stored.subject == email.subject
    assert stored.correlation_id == event.metadata.correlation_id
    assert stored.created_at == "2027-03-04T09:00:00.000+00:00"  # the window's clock (FakeClock)


def test_a_captured_payment_emails_the_amount_as_a_decimal_string(world: World) -> None:
    world.deliver(sqs_record(bus_event(captured(email="alice@example.org", amount="1200.50"))))

    (email,) = world.mailer.sent
    assert email.subject == "Payment received: 1200.50 GBP"
    assert "passport renewal R-1" in email.text
    assert world.only().type == "PaymentCaptured"


def test_a_renewal_ready_for_review_emails_the_citizen(world: World) -> None:
    world.deliver(sqs_record(bus_event(ready(email="alice@example.org"))))

    (email,) = world.mailer.sent
    assert email.subject == "Your passport renewal R-1 is ready for review"
    assert world.only().type == "RenewalReadyForReview"


def test_the_window_s_own_consumer_sends_one_email_for_an_event_delivered_twice(world: World) -> None:
    """Built as ``bootstrap.build`` builds it: no platform dedupe, the record keyed on the event is it."""
    world.deps.dedupe = IdempotentEffects()
    event = bus_event(submitted(email="alice@example.org"))

    assert world.deliver(sqs_record(event)) == []
    assert world.deps.consumer().process(sqs_record(event, receive_count=2)["body"]) is False

    assert len(world.mailer.sent) == 1
    assert (world.only().delivery, world.only().attempts) == ("sent", 1)


# -- recipients --------------------------------------------------------------------------------------


def test_an_event_without_an_address_goes_to_the_one_an_earlier_event_gave(world: World) -> None:
    world.deliver(sqs_record(bus_event(submitted(email="alice@example.org"))))

    world.deliver(sqs_record(bus_event(captured(email=None), minutes=5)))
    world.deliver(sqs_record(bus_event(ready(email=None), minutes=9)))

    assert [e.to for e in world.mailer.sent] == ["alice@example.org"] * 3
    assert [n.delivery for n in world.notifications()] == ["sent"] * 3


def test_the_newest_address_wins_even_when_events_arrive_out_of_order(world: World) -> None:
    world.deliver(sqs_record(bus_event(captured(email="new@example.org"), minutes=10)))
    world.deliver(sqs_record(bus_event(submitted(email="old@example.org"), minutes=1)))  # late

    world.deliver(sqs_record(bus_event(ready(email=None), minutes=20)))

    assert world.mailer.sent[-1].to == "new@example.org"


def test_without_any_known_address_the_notification_is_kept_and_nothing_is_sent(world: World) -> None:
    world.clock.advance(domain.ADDRESS_GRACE_SECONDS)  # past the grace period: no more waiting

    failures = world.deliver(sqs_record(bus_event(captured(owner="bob", email=None))))

    assert failures == []  # not an error: the message is done
    assert world.mailer.sent == []
    stored = world.only("bob")
    assert (stored.delivery, stored.recipient, stored.ses_message_id) == ("no_address", None, None)


def test_one_citizens_address_is_never_used_for_another(world: World) -> None:
    world.deliver(sqs_record(bus_event(submitted(owner="alice", email="alice@example.org"))))

    world.deliver(sqs_record(bus_event(captured(owner="bob", email=None)), receive_count=3))

    assert world.mailer.to("alice@example.org") and len(world.mailer.sent) == 1
    assert world.only("bob").delivery == "no_address"


# -- exactly one email per event ---------------------------------------------------------------------


def test_a_redelivered_event_sends_no_second_email(world: World) -> None:
    event = bus_event(submitted())

    assert world.deliver(sqs_record(event)) == []
    assert world.deliver(sqs_record(event, receive_count=2)) == []

    assert len(world.mailer.sent) == 1
    assert len(world.notifications()) == 1


def test_the_same_event_twice_in_one_batch_sends_one_email(world: World) -> None:
    event = bus_event(captured(email="alice@example.org"))

    assert world.deliver(sqs_record(event), sqs_record(event)) == []

    assert len(world.mailer.sent) == 1


def test_a_redelivery_after_the_deduplicator_forgot_still_sends_nothing(world: World) -> None:
    """The deduplicator's record may be lost (a crash before it was marked complete, then expiry):
    the notification stored under the event-derived id still says the email went."""
    event = bus_event(submitted())
    world.deliver(sqs_record(event))

    world.restart()
    assert world.deliver(sqs_record(event, receive_count=2)) == []

    assert len(world.mailer.sent) == 1
    assert world.only().attempts == 1


# -- failures -----------------------------------------------------------------------------------------


def test_a_throttled_send_fails_only_its_own_message_and_the_retry_sends_it_once(world: World) -> None:
    events = [bus_event(captured(owner=o, email=f"{o}@example.org")) for o in ("ann", "ben", "cat")]
    records = [sqs_record(e) for e in events]
    world.mailer.throttle("ben@example.org")

    failures = world.deliver(*records)

    assert failures == [records[1]["messageId"]]
    assert [e.to for e in world.mailer.sent] == ["ann@example.org", "cat@example.org"]
    assert world.only("ben").delivery == "pending"

    assert world.deliver(sqs_record(events[1], receive_count=2)) == []  # the queue redelivers it

    assert len(world.mailer.to("ben@example.org")) == 1
    assert (world.only("ben").delivery, world.only("ben").attempts) == ("sent", 2)


def test_a_permanent_rejection_is_stored_as_failed_and_not_retried(world: World) -> None:
    world.mailer.reject("typo@example.org", "MessageRejected: Address blacklisted.")
    event = bus_event(submitted(email="typo@example.org"))

    assert world.deliver(sqs_record(event)) == []

    stored = world.only()
    assert (stored.delivery, stored.reason) == ("failed", "MessageRejected: Address blacklisted.")
    assert stored.ses_message_id is None
    assert world.deliver(sqs_record(event, receive_count=2)) == []
    assert world.mailer.sent == []


def test_a_crash_between_send_and_record_sends_again_and_counts_the_attempt(world: World) -> None:
    """SES has no idempotency token: a process that dies after SES took the email but before the
    record said so cannot know. The retry sends again (never lost; a rare duplicate, counted)."""
    crashing = CrashOnFinish()
    world.repo = crashing
    world.restart()
    event = bus_event(submitted())

    with pytest.raises(ProcessKilled):  # nothing of the invocation survives, not even its answer
        world.deliver(sqs_record(event))

    assert world.only().delivery == "pending"
    world.restart()
    assert world.deliver(sqs_record(event, receive_count=2)) == []
    assert len(world.mailer.sent) == 2
    assert (world.only().delivery, world.only().attempts) == ("sent", 2)


class ProcessKilled(BaseException):
    """The Lambda runtime killed the process (a timeout, out of memory): no handler catches it."""


class CrashOnFinish(InMemoryNotificationRepository):
    """The store of a process that dies right after SES accepted the first email."""

    def __init__(self) -> None:
        super().__init__()
        self.crashed = False

    def finish(self, notification: Notification, *, delivery: Delivery, at: str, **kw: Any) -> Notification:
        if not self.crashed:
            self.crashed = True
            raise ProcessKilled("the process died here")
        return super().finish(notification, delivery=delivery, at=at, **kw)


class FailingFinish(InMemoryNotificationRepository):
    """A table that refuses the first ``failures`` updates to ``sent`` (throttled, 5xx)."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.tries = 0

    def finish(self, notification: Notification, *, delivery: Delivery, at: str, **kw: Any) -> Notification:
        self.tries += 1
        if self.failures > 0:
            self.failures -= 1
            raise StoreError("update_item failed: ProvisionedThroughputExceededException")
        return super().finish(notification, delivery=delivery, at=at, **kw)


class Log:
    """Stands in for the window's logger: what it was told, by level."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, Any]]] = []

    def info(self, msg: str, *args: Any, extra: dict[str, Any] | None = None) -> None:
        self.lines.append(("info", msg % args, extra or {}))

    def error(self, msg: str, *args: Any, extra: dict[str, Any] | None = None) -> None:
        self.lines.append(("error", msg % args, extra or {}))

    def errors(self) -> list[dict[str, Any]]:
        return [extra for level, _, extra in self.lines if level == "error"]


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> Log:
    from notifications import consumers

    fake = Log()
    monkeypatch.setattr(consumers, "logger", lambda: fake)
    return fake


def test_when_the_table_keeps_failing_after_ses_took_the_email_it_is_sent_once_and_acknowledged(
    world: World, log: Log
) -> None:
    """Marking the record ``sent`` failed (throttled, 5xx): the message must not fail, or its retry
    would find the record ``pending`` and email the citizen a second time."""
    world.repo = failing = FailingFinish(failures=1_000)
    world.restart()
    event = bus_event(submitted())

    assert world.deliver(sqs_record(event)) == []  # acknowledged: the email went

    (email,) = world.mailer.sent
    assert failing.tries == domain.RECORD_ATTEMPTS  # bounded retries ...
    assert len(world.slept) == domain.RECORD_ATTEMPTS - 1 and sum(world.slept) < 1  # ... short waits
    stored = world.only()
    assert (stored.delivery, stored.attempts) == ("pending", 1)  # the record stays as it was
    (error,) = log.errors()
    assert (error["event_id"], error["ses_message_id"]) == (event.id, "fake-0001")
    assert error["notification_id"] == stored.id and "ProvisionedThroughput" in error["reason"]
    assert world.deliver(sqs_record(event, receive_count=2)) == []  # a redelivery: no second email
    assert world.mailer.sent == [email]


def test_a_failed_update_after_the_send_is_retried_and_records_sent(world: World, log: Log) -> None:
    world.repo = FailingFinish(failures=domain.RECORD_ATTEMPTS - 1)
    world.restart()

    assert world.deliver(sqs_record(bus_event(submitted()))) == []

    assert len(world.mailer.sent) == 1
    assert (world.only().delivery, world.only().ses_message_id) == ("sent", "fake-0001")
    assert world.slept == [domain.RECORD_BACKOFF_SECONDS, 2 * domain.RECORD_BACKOFF_SECONDS]
    assert log.errors() == []


# -- an event that arrives before the one with the address -----------------------------------------


def test_an_event_before_the_address_is_retried_and_then_sent_to_it(world: World) -> None:
    """Each event type has its own queue: a payment's event may be processed before the renewal's
    event that carries the address. It fails (SQS redelivers it) instead of giving up."""
    payment = bus_event(captured(email=None))
    renewal = bus_event(submitted(email="alice@example.org"))

    (failed,) = world.deliver(first := sqs_record(payment))
    assert failed == first["messageId"]
    assert world.mailer.sent == [] and world.notifications() == []  # nothing stored while it waits

    world.clock.advance(5)
    assert world.deliver(sqs_record(renewal)) == []
    world.clock.advance(61)  # the queue's visibility timeout
    assert world.deliver(sqs_record(payment, receive_count=2)) == []

    assert [e.subject for e in world.mailer.to("alice@example.org")] == [
        "We have received your passport renewal application (reference R-1)",
        "Payment received: 25.00 GBP",
    ]
    assert {n.type: n.delivery for n in world.notifications()} == {
        "RenewalSubmitted": "sent",
        "PaymentCaptured": "sent",
    }


def test_after_the_grace_period_no_address_is_final(world: World) -> None:
    payment = bus_event(captured(owner="bob", email=None))
    world.clock.advance(domain.ADDRESS_GRACE_SECONDS - 1)
    assert len(world.deliver(sqs_record(payment))) == 1  # still young: retried

    world.clock.advance(1)
    assert world.deliver(sqs_record(payment, receive_count=2)) == []

    assert world.only("bob").delivery == "no_address" and world.mailer.sent == []


def test_waiting_for_an_address_never_sends_a_message_to_the_dlq(world: World) -> None:
    """However young the event, its last deferred receive stores ``no_address`` and succeeds."""
    payment = bus_event(captured(owner="bob", email=None))

    for receive in range(1, domain.DEFERRED_RECEIVES + 1):
        assert len(world.deliver(sqs_record(payment, receive_count=receive))) == 1
    assert world.deliver(sqs_record(payment, receive_count=domain.DEFERRED_RECEIVES + 1)) == []

    assert world.only("bob").delivery == "no_address"


def test_deferred_receives_stay_below_the_queues_max_receive_count() -> None:
    windows = {p.name for p in (ROOT / "functions").iterdir() if (p / p.name).is_dir()}

    assert domain.DEFERRED_RECEIVES < load_topology(ROOT, windows).max_receive_count


def test_an_old_event_without_an_address_is_not_retried(world: World) -> None:
    """E.g. redriven from a DLQ or published late: waiting would not bring the address."""
    world.clock.advance(3600)

    assert world.deliver(sqs_record(bus_event(captured(owner="bob", email=None)))) == []

    assert world.only("bob").delivery == "no_address"


def test_a_notification_without_an_address_is_sent_when_one_arrives_within_a_day(world: World) -> None:
    payment = bus_event(captured(email=None, amount="82.50"))
    ready_ = bus_event(ready(email=None), minutes=1)
    world.clock.advance(domain.ADDRESS_GRACE_SECONDS + 60)
    world.deliver(sqs_record(payment), sqs_record(ready_))
    assert [n.delivery for n in world.notifications()] == ["no_address", "no_address"]

    world.clock.advance(6 * 3600)  # the renewal's event, with the address, comes hours late
    renewal = bus_event(submitted(email="alice@example.org"))
    assert world.deliver(sqs_record(renewal)) == []

    subjects = [e.subject for e in world.mailer.to("alice@example.org")]
    assert subjects[0] == "We have received your passport renewal application (reference R-1)"
    assert sorted(subjects[1:]) == [
        "Payment received: 82.50 GBP",
        "Your passport renewal R-1 is ready for review",
    ]
    paid = next(e for e in world.mailer.sent if e.subject.startswith("Payment"))
    assert "We have received your payment of 82.50 GBP" in paid.text and "<p>" in paid.html
    assert all(n.delivery == "sent" for n in world.notifications())
    assert {n.recipient for n in world.notifications()} == {"alice@example.org"}
    assert [n.attempts for n in world.notifications()] == [1, 1, 1]

    world.restart()  # the address event again, the deduplicator having forgotten it: nothing more
    assert world.deliver(sqs_record(renewal, receive_count=2)) == []
    assert len(world.mailer.sent) == 3
    world.deliver(sqs_record(bus_event(ready(email="alice@example.org"), minutes=9)))  # another event
    assert len(world.mailer.sent) == 4  # only its own email: nothing is left waiting


def test_a_notification_older_than_a_day_is_not_sent_when_an_address_arrives(world: World) -> None:
    world.clock.advance(domain.ADDRESS_GRACE_SECONDS)
    world.deliver(sqs_record(bus_event(captured(email=None))))
    world.clock.advance(domain.WAITING_MAX_AGE_SECONDS)

    world.deliver(sqs_record(bus_event(submitted(email="alice@example.org"), minutes=24 * 60 + 11)))

    assert [e.subject for e in world.mailer.sent] == [
        "We have received your passport renewal application (reference R-1)"
    ]
    assert {n.type: n.delivery for n in world.notifications()}["PaymentCaptured"] == "no_address"


def test_an_address_never_sends_another_citizens_waiting_notification(world: World) -> None:
    world.clock.advance(domain.ADDRESS_GRACE_SECONDS)
    world.deliver(sqs_record(bus_event(captured(owner="bob", email=None))))

    world.deliver(sqs_record(bus_event(submitted(owner="alice", email="alice@example.org"))))

    assert [e.to for e in world.mailer.sent] == ["alice@example.org"]
    assert world.only("bob").delivery == "no_address"


def test_a_throttled_catch_up_puts_it_back_and_the_retry_sends_it_once(world: World) -> None:
    world.clock.advance(domain.ADDRESS_GRACE_SECONDS)
    world.deliver(sqs_record(bus_event(captured(email=None))))
    world.mailer = mailer = ThrottledOnce(subject_prefix="Payment received")
    world.restart()
    renewal = bus_event(submitted(email="alice@example.org"))

    (failed,) = world.deliver(record := sqs_record(renewal))  # its own email went; the catch-up did not

    assert failed == record["messageId"]
    assert [e.subject[:7] for e in mailer.sent] == ["We have"]
    assert {n.type: n.delivery for n in world.notifications()} == {
        "RenewalSubmitted": "sent",
        "PaymentCaptured": "no_address",  # put back, for the retry
    }
    assert world.deliver(sqs_record(renewal, receive_count=2)) == []

    assert [e.subject[:7] for e in mailer.sent] == ["We have", "Payment"]
    assert {n.type: (n.delivery, n.attempts) for n in world.notifications()} == {
        "RenewalSubmitted": ("sent", 1),
        "PaymentCaptured": ("sent", 2),
    }


class ThrottledOnce(InMemoryMailer):
    """SES throttles the first email whose subject starts with ``subject_prefix``."""

    def __init__(self, subject_prefix: str) -> None:
        super().__init__()
        self.prefix: str | None = subject_prefix

    def send(self, email: OutgoingEmail) -> str:
        if self.prefix and email.subject.startswith(self.prefix):
            self.prefix = None
            raise domain.MailerUnavailableError("SES did not take the message: Throttling")
        return super().send(email)


def test_a_message_that_matches_no_contract_fails_alone(world: World) -> None:
    good = sqs_record(bus_event(submitted()))
    bad = sqs_record(bus_event(submitted(owner="bob")))
    envelope = json.loads(bad["body"])
    envelope["detail"]["data"].pop("owner")
    bad["body"] = json.dumps(envelope)

    assert world.deliver(good, bad) == [bad["messageId"]]
    assert len(world.mailer.sent) == 1


# -- wiring ---------------------------------------------------------------------------------------------


def test_the_window_consumes_exactly_its_topology_subscriptions() -> None:
    windows = {p.name for p in (ROOT / "functions").iterdir() if (p / p.name).is_dir()}
    topology = load_topology(ROOT, windows)

    assert {s.event_type for s in topology.consumes("notifications")} == set(NOTIFIED_EVENTS)
    assert topology.publishes("notifications") == ()


def test_the_consumer_handles_each_notified_event_type(world: World) -> None:
    assert world.deps.consumer().event_types == tuple(sorted(NOTIFIED_EVENTS))
