"""The renewal saga: PaymentCaptured and DocumentUploaded(photo) move a renewal to ready_for_review.

SQS batches go through the window's one entry point (``handle``: ``hmskit.entry.dispatch``) into
the real ``EventConsumer`` with an ``InMemoryDeduplicator`` and the in-memory repository, whose
``outbox`` lists every event written with a state change.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from support.kit import FakeClock
from support.passport import InMemoryRenewalRepository

from hmskit.consumer import InMemoryDeduplicator
from hmskit.context import LocalContext
from hmskit.contracts import (
    DocumentUploadedV1,
    Event,
    EventData,
    PaymentCapturedV1,
    RenewalReadyForReviewV1,
    RenewalSubmittedV1,
    build,
)
from hmskit.ids import new_id
from hmskit.outbox import Outbox, RelayResult
from hmskit.settings import WindowSettings
from hmskit.store import TableStore
from passport import domain
from passport.bootstrap import Deps
from passport.domain import Address, Fee, Renewal
from passport.handler import handle

CAPTURED_AT = datetime(2027, 1, 15, 9, 0, tzinfo=UTC)
UPLOADED_AT = datetime(2027, 1, 15, 9, 30, tzinfo=UTC)


@pytest.fixture
def repo() -> InMemoryRenewalRepository:
    return InMemoryRenewalRepository()


@pytest.fixture
def dedupe() -> InMemoryDeduplicator:
    return InMemoryDeduplicator()


@pytest.fixture
def deps(clock: FakeClock, repo: InMemoryRenewalRepository, dedupe: InMemoryDeduplicator) -> Deps:
    outbox = Outbox(
        TableStore(None, "unused"),
        window="passport",
        new_id=lambda: new_id(int(clock.now() * 1000)),
        now=clock.now,
    )
    return Deps(
        settings=WindowSettings(window="passport", table_name="unused"),
        renewals=repo,
        eligibility=None,  # type: ignore[arg-type]  # events never ask eligibility
        events=outbox,
        rate_limiter=None,
        idempotency=None,  # type: ignore[arg-type]
        dedupe_factory=lambda: dedupe,
        clock=clock,
    )


def renewal(
    repo: InMemoryRenewalRepository, owner: str = "alice", email: str | None = "a@example.org"
) -> str:
    renewal_id = new_id(1_799_999_999_000)
    repo.items[(owner, renewal_id)] = Renewal(
        id=renewal_id,
        owner=owner,
        status="submitted",
        full_name="Alice Example",
        date_of_birth=datetime(1990, 4, 1).date(),
        passport_number="AB1234567",
        passport_issued_on=datetime(2017, 3, 1).date(),
        passport_expires_on=datetime(2027, 3, 1).date(),
        mailing_address=Address("1 High Street", "Springfield", "IL", "62701", "US"),
        email=email,
        name_on_passport=None,
        name_change_document_ids=(),
        eligibility_checked_on="2027-01-15",
        submitted_at="2027-01-15T08:00:00.000+00:00",
        updated_at="2027-01-15T08:00:00.000+00:00",
    )
    return renewal_id


def bus_event(data: EventData, source: str, correlation_id: str | None = None) -> Event:
    return build(
        data,
        event_id=new_id(),
        source=source,
        time=datetime(2027, 1, 15, 9, 0, tzinfo=UTC),
        correlation_id=correlation_id,
    )


def payment(
    renewal_id: str | None,
    owner: str = "alice",
    payment_id: str | None = None,
    amount: str = "130.00",  # the default renewal fee
    currency: str = "USD",
    **kw: Any,
) -> Event:
    data = PaymentCapturedV1(
        payment_id=payment_id or new_id(),
        owner=owner,
        amount=amount,
        currency=currency,
        purpose="passport renewal fee",
        renewal_id=renewal_id,
        captured_at=CAPTURED_AT,
    )
    return bus_event(data, "payments", **kw)


def photo(
    renewal_id: str | None,
    owner: str = "alice",
    kind: str | None = "photo",
    document_id: str | None = None,
    **kw: Any,
) -> Event:
    data = DocumentUploadedV1(
        document_id=document_id or new_id(),
        owner=owner,
        content_type="image/jpeg",
        size=1234,
        sha256="0" * 64,
        kind=kind,  # type: ignore[arg-type]
        renewal_id=renewal_id,
        uploaded_at=UPLOADED_AT,
    )
    return bus_event(data, "documents", **kw)


def sqs(*events: Event) -> dict[str, Any]:
    """An SQS batch as the subscription queue delivers it (the EventBridge envelope in the body)."""
    return {
        "Records": [
            {
                "messageId": f"m-{i}",
                "receiptHandle": f"rh-{i}",
                "body": json.dumps(
                    {
                        "version": "0",
                        "id": new_id(),
                        "detail-type": e.type,
                        "source": f"hms.{e.metadata.source}",
                        "account": "000000000000",
                        "time": "2027-01-15T09:00:00Z",
                        "region": "us-east-1",
                        "resources": [],
                        "detail": e.detail(),
                    }
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
    """Deliver one batch; the ids of the messages reported failed (to be retried by SQS)."""
    result = handle(sqs(*events), LocalContext(), deps)
    return [f["itemIdentifier"] for f in result["batchItemFailures"]]


def ready_events(repo: InMemoryRenewalRepository) -> list[Event]:
    return [e for e in repo.outbox if e.type == "RenewalReadyForReview"]


# -- the two orders ---------------------------------------------------------------------------------


def test_payment_then_photo_ends_ready_for_review_with_exactly_one_event(
    deps: Deps, repo: InMemoryRenewalRepository
) -> None:
    rid = renewal(repo)
    paid = payment(rid, correlation_id="req-pay")
    pic = photo(rid, correlation_id="req-photo")

    assert deliver(deps, paid) == []
    after_payment = repo.get("alice", rid)
    assert after_payment is not None
    assert (after_payment.status, after_payment.payment_id) == ("paid", paid.data.payment_id)  # type: ignore[attr-defined]
    assert after_payment.paid_at == "2027-01-15T09:00:00.000+00:00"
    assert ready_events(repo) == []

    assert deliver(deps, pic) == []
    done = repo.get("alice", rid)
    assert done is not None
    assert done.status == "ready_for_review"
    assert done.photo_document_id == pic.data.document_id  # type: ignore[attr-defined]
    assert done.photo_received_at == "2027-01-15T09:30:00.000+00:00"
    assert done.ready_for_review_at == "2027-01-15T08:00:00.000+00:00"  # the (fake) clock's now
    (ready,) = ready_events(repo)
    assert isinstance(ready.data, RenewalReadyForReviewV1)
    assert ready.metadata.source == "passport"
    assert ready.metadata.correlation_id == "req-photo"  # carried from the event that completed it
    assert ready.detail()["data"] == {
        "renewal_id": rid,
        "owner": "alice",
        "payment_id": paid.data.payment_id,  # type: ignore[attr-defined]
        "photo_document_id": pic.data.document_id,  # type: ignore[attr-defined]
        "email": "a@example.org",
        "ready_at": "2027-01-15T08:00:00Z",
    }


def test_photo_then_payment_ends_ready_for_review_with_exactly_one_event(
    deps: Deps, repo: InMemoryRenewalRepository
) -> None:
    rid = renewal(repo)

    assert deliver(deps, photo(rid)) == []
    assert repo.items[("alice", rid)].status == "photo_received"
    assert ready_events(repo) == []

    assert deliver(deps, payment(rid, correlation_id="req-pay")) == []
    assert repo.items[("alice", rid)].status == "ready_for_review"
    (ready,) = ready_events(repo)
    assert ready.metadata.correlation_id == "req-pay"


def test_both_in_one_batch_end_ready_for_review_once(deps: Deps, repo: InMemoryRenewalRepository) -> None:
    rid = renewal(repo)

    assert deliver(deps, photo(rid), payment(rid)) == []

    assert repo.items[("alice", rid)].status == "ready_for_review"
    assert len(ready_events(repo)) == 1


# -- once, and only the owner's ---------------------------------------------------------------------


def test_a_redelivered_event_has_one_effect(
    deps: Deps, repo: InMemoryRenewalRepository, dedupe: InMemoryDeduplicator
) -> None:
    rid = renewal(repo)
    paid, pic = payment(rid), photo(rid)

    for _ in range(3):
        assert deliver(deps, paid, pic, paid) == []

    assert repo.items[("alice", rid)].status == "ready_for_review"
    assert len(ready_events(repo)) == 1
    assert dedupe.seen == {paid.id, pic.id}


def test_the_same_step_republished_under_a_new_event_id_has_no_second_effect(
    deps: Deps, repo: InMemoryRenewalRepository
) -> None:
    rid = renewal(repo)
    payment_id, document_id = new_id(), new_id()
    deliver(deps, payment(rid, payment_id=payment_id), photo(rid, document_id=document_id))
    before = repo.items[("alice", rid)]

    assert deliver(deps, payment(rid, payment_id=payment_id), photo(rid, document_id=document_id)) == []

    assert repo.items[("alice", rid)] == before
    assert len(ready_events(repo)) == 1


def test_a_payment_for_another_citizens_renewal_is_acknowledged_and_ignored(
    deps: Deps, repo: InMemoryRenewalRepository
) -> None:
    rid = renewal(repo, owner="alice")
    untouched = repo.items[("alice", rid)]

    assert deliver(deps, payment(rid, owner="mallory"), photo(rid, owner="mallory")) == []

    assert repo.items[("alice", rid)] == untouched
    assert repo.outbox == []
    assert repo.get("mallory", rid) is None


def test_a_second_different_payment_or_photo_is_ignored(deps: Deps, repo: InMemoryRenewalRepository) -> None:
    rid = renewal(repo)
    first_payment, first_photo = new_id(), new_id()
    deliver(deps, payment(rid, payment_id=first_payment))
    deliver(deps, photo(rid, document_id=first_photo))

    assert deliver(deps, payment(rid), photo(rid)) == []

    done = repo.items[("alice", rid)]
    assert (done.payment_id, done.photo_document_id) == (first_payment, first_photo)
    assert len(ready_events(repo)) == 1


@pytest.mark.parametrize(
    "event",
    [
        lambda rid: payment(None),
        lambda rid: photo(None),
        lambda rid: photo(rid, kind="proof_of_identity"),
        lambda rid: photo(rid, kind="other"),
        lambda rid: photo(rid, kind=None),
    ],
    ids=["payment-without-renewal", "photo-without-renewal", "proof-of-identity", "other", "no-kind"],
)
def test_events_not_for_a_renewal_photo_step_are_acknowledged_and_ignored(
    deps: Deps, repo: InMemoryRenewalRepository, event: Any
) -> None:
    rid = renewal(repo)
    untouched = repo.items[("alice", rid)]

    assert deliver(deps, event(rid)) == []

    assert repo.items[("alice", rid)] == untouched
    assert repo.outbox == []


def test_an_unknown_renewal_is_acknowledged_not_retried(deps: Deps, repo: InMemoryRenewalRepository) -> None:
    assert deliver(deps, payment(new_id()), photo(new_id())) == []
    assert repo.outbox == []


def test_an_event_type_passport_does_not_consume_fails_only_its_message(
    deps: Deps, repo: InMemoryRenewalRepository
) -> None:
    rid = renewal(repo)
    stray = bus_event(
        RenewalSubmittedV1(renewal_id=rid, owner="alice", full_name="A", submitted_at=CAPTURED_AT), "passport"
    )

    assert deliver(deps, stray, payment(rid)) == ["m-0"]
    assert repo.items[("alice", rid)].status == "paid"


# -- only the renewal fee pays a renewal -----------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency"),
    [("0.01", "USD"), ("129.99", "USD"), ("130.01", "USD"), ("260.00", "USD"), ("0", "USD")],
    ids=["a-cent", "a-cent-short", "a-cent-over", "double", "zero"],
)
def test_a_payment_of_another_amount_is_acknowledged_and_does_not_move_the_renewal(
    deps: Deps, repo: InMemoryRenewalRepository, amount: str, currency: str
) -> None:
    rid = renewal(repo)
    untouched = repo.items[("alice", rid)]

    assert deliver(deps, payment(rid, amount=amount, currency=currency)) == []  # acknowledged, not retried

    assert repo.items[("alice", rid)] == untouched
    assert repo.outbox == []


@pytest.mark.parametrize("currency", ["GBP", "EUR", "CAD"])
def test_a_payment_of_the_fees_amount_in_another_currency_does_not_move_the_renewal(
    deps: Deps, repo: InMemoryRenewalRepository, currency: str
) -> None:
    rid = renewal(repo)
    untouched = repo.items[("alice", rid)]

    assert deliver(deps, payment(rid, amount="130.00", currency=currency)) == []

    assert repo.items[("alice", rid)] == untouched


def test_a_wrong_payment_is_logged_with_what_was_paid_and_what_is_due(
    deps: Deps, repo: InMemoryRenewalRepository, caplog: pytest.LogCaptureFixture
) -> None:
    rid = renewal(repo)
    cent = payment(rid, amount="0.01")

    with caplog.at_level("WARNING"):
        assert deliver(deps, cent) == []

    said = "\n".join(r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert cent.data.payment_id in said  # type: ignore[attr-defined]
    assert "0.01 USD" in said and "130.00 USD" in said and rid in said


def test_the_fee_paid_after_a_wrong_payment_moves_the_renewal(
    deps: Deps, repo: InMemoryRenewalRepository
) -> None:
    rid = renewal(repo)
    cent, euros, fee = payment(rid, amount="0.01"), payment(rid, currency="EUR"), payment(rid)

    assert deliver(deps, cent) == []
    assert deliver(deps, euros) == []
    assert repo.items[("alice", rid)].status == "submitted"
    assert deliver(deps, fee) == []

    paid = repo.items[("alice", rid)]
    assert (paid.status, paid.payment_id) == ("paid", fee.data.payment_id)  # type: ignore[attr-defined]


def test_a_wrong_payment_after_the_fee_changes_nothing(deps: Deps, repo: InMemoryRenewalRepository) -> None:
    rid = renewal(repo)
    fee = payment(rid)
    deliver(deps, fee, photo(rid))
    done = repo.items[("alice", rid)]

    assert deliver(deps, payment(rid, amount="0.01")) == []

    assert repo.items[("alice", rid)] == done
    assert done.payment_id == fee.data.payment_id  # type: ignore[attr-defined]
    assert len(ready_events(repo)) == 1


def test_a_wrong_payment_and_a_photo_in_one_batch_leave_the_renewal_waiting_for_the_fee(
    deps: Deps, repo: InMemoryRenewalRepository
) -> None:
    rid = renewal(repo)

    assert deliver(deps, payment(rid, amount="1.00"), photo(rid)) == []

    assert repo.items[("alice", rid)].status == "photo_received"
    assert ready_events(repo) == []
    assert deliver(deps, payment(rid)) == []
    assert repo.items[("alice", rid)].status == "ready_for_review"


@pytest.mark.parametrize("amount", ["130", "130.0", "130.00", "130.000"])
def test_the_fee_is_compared_as_a_decimal_whatever_its_places(
    deps: Deps, repo: InMemoryRenewalRepository, amount: str
) -> None:
    rid = renewal(repo)

    assert deliver(deps, payment(rid, amount=amount)) == []

    assert repo.items[("alice", rid)].status == "paid"


def test_the_configured_fee_is_the_one_that_pays(deps: Deps, repo: InMemoryRenewalRepository) -> None:
    deps.renewal_fee = Fee(Decimal("75.50"), "GBP")
    rid = renewal(repo)

    assert deliver(deps, payment(rid)) == []  # the default fee is not this window's fee
    assert repo.items[("alice", rid)].status == "submitted"
    assert deliver(deps, payment(rid, amount="75.50", currency="USD")) == []
    assert repo.items[("alice", rid)].status == "submitted"
    assert deliver(deps, payment(rid, amount="75.5", currency="GBP")) == []
    assert repo.items[("alice", rid)].status == "paid"


def test_record_payment_refuses_a_float_amount(repo: InMemoryRenewalRepository) -> None:
    rid = renewal(repo)
    outbox = Outbox(TableStore(None, "unused"), window="passport", new_id=new_id, now=FakeClock().now)

    with pytest.raises(TypeError, match="Decimal"):
        domain.record_payment(
            repo,
            outbox,
            owner="alice",
            renewal_id=rid,
            payment_id=new_id(),
            amount=130.0,  # type: ignore[arg-type]
            currency="USD",
            fee=Fee(Decimal("130.00"), "USD"),
            paid_at="2027-01-15T09:00:00.000+00:00",
            correlation_id=None,
            now_iso=lambda: "2027-01-15T09:00:00.000+00:00",
        )
    assert repo.items[("alice", rid)].status == "submitted"


def test_a_fee_is_never_a_float() -> None:
    with pytest.raises(TypeError, match="Decimal"):
        Fee(130.0, "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Decimal"):
        Fee(Decimal("130.00"), "USD").paid_by(130.0, "USD")  # type: ignore[arg-type]


# -- concurrency: a step that read a renewal another step changed before it wrote -------------------


class Interleaving(InMemoryRenewalRepository):
    """Runs ``meanwhile`` once, right after the first read of a step and before its write: the
    other event's whole step lands in between, as when two deliveries run at the same moment."""

    def __init__(self) -> None:
        super().__init__()
        self.meanwhile: Any = None
        self.stale_writes = 0

    def advance(self, before: Renewal, after: Renewal, event: Event | None) -> None:
        if self.meanwhile is not None:
            run, self.meanwhile = self.meanwhile, None
            run()
        try:
            super().advance(before, after, event)
        except domain.StaleRenewalError:
            self.stale_writes += 1
            raise


@pytest.mark.parametrize("first", ["payment", "photo"])
def test_a_step_racing_the_other_step_rereads_and_ends_ready_for_review_once(
    deps: Deps, dedupe: InMemoryDeduplicator, first: str
) -> None:
    repo = Interleaving()
    deps.renewals = repo
    rid = renewal(repo)
    paid, pic = payment(rid), photo(rid)
    racing, other = (paid, pic) if first == "payment" else (pic, paid)
    # the other delivery runs on its own consumer (another Lambda), same table
    other_deps = dataclasses.replace(deps, dedupe_factory=InMemoryDeduplicator)
    repo.meanwhile = lambda: deliver(other_deps, other)

    assert deliver(deps, racing) == []

    assert repo.stale_writes == 1  # the racing step's first write was refused, then redone
    done = repo.items[("alice", rid)]
    assert done.status == "ready_for_review"
    assert (done.payment_id, done.photo_document_id) == (paid.data.payment_id, pic.data.document_id)  # type: ignore[attr-defined]
    assert len(ready_events(repo)) == 1


def test_a_step_that_keeps_losing_the_race_fails_its_message_for_a_later_retry(
    deps: Deps, dedupe: InMemoryDeduplicator
) -> None:
    class AlwaysStale(InMemoryRenewalRepository):
        def advance(self, before: Renewal, after: Renewal, event: Event | None) -> None:
            raise domain.StaleRenewalError("changed")

    repo = AlwaysStale()
    deps.renewals = repo
    rid = renewal(repo)
    paid = payment(rid)

    assert deliver(deps, paid) == ["m-0"]
    assert paid.id not in dedupe.seen  # the retry will run the step again
    assert repo.items[("alice", rid)].status == "submitted"


def test_record_payment_gives_up_after_the_bounded_attempts() -> None:
    reads: list[str] = []

    class Counting(InMemoryRenewalRepository):
        def get(self, owner: str, renewal_id: str) -> Renewal | None:
            reads.append(renewal_id)
            return super().get(owner, renewal_id)

        def advance(self, before: Renewal, after: Renewal, event: Event | None) -> None:
            raise domain.StaleRenewalError("changed")

    repo = Counting()
    rid = renewal(repo)
    clock = FakeClock()
    outbox = Outbox(TableStore(None, "unused"), window="passport", new_id=new_id, now=clock.now)

    with pytest.raises(domain.RenewalBusyError, match=rid):
        domain.record_payment(
            repo,
            outbox,
            owner="alice",
            renewal_id=rid,
            payment_id=new_id(),
            amount=Decimal("130.00"),
            currency="USD",
            fee=Fee(Decimal("130.00"), "USD"),
            paid_at="2027-01-15T09:00:00.000+00:00",
            correlation_id=None,
            now_iso=lambda: "2027-01-15T09:00:00.000+00:00",
            attempts=3,
        )
    assert len(reads) == 3


# -- the other invocations of the one entry point ---------------------------------------------------


class FakeRelay:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def relay_stream(self, event: dict[str, Any]) -> dict[str, Any]:
        self.calls.append("stream")
        return {"batchItemFailures": []}

    def relay_pending(self, **_: Any) -> RelayResult:
        self.calls.append("sweep")
        return RelayResult(published=["e1", "e2"])


def test_the_table_stream_and_the_sweep_go_to_the_outbox_relay(deps: Deps) -> None:
    relay = FakeRelay()
    deps.relay_factory = lambda: relay  # type: ignore[assignment]
    stream = {"Records": [{"eventSource": "aws:dynamodb", "eventName": "INSERT", "dynamodb": {}}]}
    sweep = {"source": "aws.scheduler", "detail-type": "Scheduled Event", "detail": {}}

    assert handle(stream, LocalContext(), deps) == {"batchItemFailures": []}
    assert handle(sweep, LocalContext(), deps) == {"published": 2, "failed": 0}
    assert relay.calls == ["stream", "sweep"]


def test_without_a_bus_the_relay_cannot_be_built(deps: Deps) -> None:
    with pytest.raises(RuntimeError, match="HMS_EVENT_BUS"):
        handle({"source": "aws.scheduler", "detail-type": "Scheduled Event"}, LocalContext(), deps)
