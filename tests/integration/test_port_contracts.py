"""Each port's one contract, run against its in-memory fake and its adapter on both emulators
(``side``): what a unit test learns from a fake holds for the table."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from helpers import Side
from support.documents import InMemoryDocumentRepository
from support.kit import FakeClock, InMemoryCounter
from support.payments import InMemoryPaymentRepository

from documents import domain as documents
from hmskit.ids import new_id
from hmskit.outbox import OUTBOX_PK, Outbox
from hmskit.store import TableStore
from payments.domain import InvalidCursorError, Payment

pytestmark = pytest.mark.integration

T0 = 1_800_000_000_000  # ms


class Ported:
    """A port's implementation on one side, and what it recorded in its outbox."""

    def __init__(self, side: Side, impl: Any, outbox: Outbox) -> None:
        self.side = side
        self.impl = impl
        self.outbox = outbox

    def events(self) -> int:
        if self.side.memory:  # passport's fake calls its list what it is, the outbox
            return len(getattr(self.impl, "events", None) or getattr(self.impl, "outbox", []))
        items, _ = TableStore(self.side.dynamodb, self.side.table).query_page(
            OUTBOX_PK, sk_prefix="EVENT#", limit=100
        )
        return len(items)


def ported(
    side: Side, window: str, fake: Callable[[], Any], adapter: Callable[[TableStore, Outbox], Any]
) -> Ported:
    """A repository that records events with its state: ``fake()`` in memory, else ``adapter``
    over the side's table and an outbox on it."""
    clock = FakeClock()
    store = TableStore(side.dynamodb, side.table or "unused")
    outbox = Outbox(store, window=window, new_id=lambda: new_id(int(clock.now() * 1000)), now=clock.now)
    return Ported(side, fake() if side.memory else adapter(store, outbox), outbox)


# -- the rate limiter's counter ---------------------------------------------------------------------


@pytest.fixture
def counter(side: Side) -> Any:
    return InMemoryCounter() if side.memory else TableStore(side.dynamodb, side.table)


def test_a_counter_counts_from_one_per_key(counter: Any) -> None:
    hits = [counter.increment("RATE#alice", "W#0", attr="hits", expires_at=60) for _ in range(3)]

    assert hits == [1, 2, 3]
    assert counter.increment("RATE#alice", "W#60", attr="hits", expires_at=120) == 1
    assert counter.increment("RATE#bob", "W#0", attr="hits", expires_at=60) == 1


# -- payments: PaymentRepository --------------------------------------------------------------------


@pytest.fixture
def payments(side: Side) -> Ported:
    from payments.adapters import DynamoPaymentRepository

    return ported(side, "payments", InMemoryPaymentRepository, DynamoPaymentRepository)


def payment(owner: str, ms: int, amount: str = "12.50") -> Payment:
    return Payment(
        new_id(ms), owner, Decimal(amount), "USD", "fee", "captured", "2027-01-15T08:00:00.000+00:00"
    )


def captured(outbox: Outbox, p: Payment) -> Any:
    from payments.events import PaymentEvents

    [event] = PaymentEvents(outbox).captured(p, email=None, correlation_id=None)
    return event


def test_a_payment_is_read_back_by_its_owner_only(payments: Ported) -> None:
    p = payment("alice", T0, "0.10")

    payments.impl.add(p, [captured(payments.outbox, p)])

    assert payments.impl.get("alice", p.id) == p
    assert payments.impl.get("bob", p.id) is None
    assert payments.events() == 1


@pytest.mark.parametrize("payment_id", ["nope", "", "01ARZ3NDEKTSV4RRFFQ69G5FA"])
def test_a_payment_id_that_is_not_an_id_finds_nothing(payments: Ported, payment_id: str) -> None:
    assert payments.impl.get("alice", payment_id) is None


def test_a_second_payment_with_the_same_id_is_refused_and_records_nothing(payments: Ported) -> None:
    p = payment("alice", T0)
    payments.impl.add(p, [captured(payments.outbox, p)])

    with pytest.raises(RuntimeError, match="collided"):
        payments.impl.add(p, [captured(payments.outbox, p)])
    assert payments.events() == 1


def test_payments_list_newest_first_a_page_at_a_time(payments: Ported) -> None:
    made = [payment("alice", T0 + n) for n in range(5)]
    for p in made:
        payments.impl.add(p)
    payments.impl.add(payment("bob", T0 + 9))

    first = payments.impl.list("alice", limit=2, cursor=None)
    second = payments.impl.list("alice", limit=2, cursor=first.cursor)
    last = payments.impl.list("alice", limit=2, cursor=second.cursor)

    assert [p.id for p in first.items + second.items + last.items] == [p.id for p in reversed(made)]
    assert last.cursor is None


def test_a_foreign_cursor_is_refused(payments: Ported) -> None:
    with pytest.raises(InvalidCursorError):
        payments.impl.list("alice", limit=2, cursor="not-a-cursor")


def test_without_an_idempotency_record_nothing_was_recorded_before(payments: Ported) -> None:
    assert payments.impl.recorded("alice") is None


# -- documents: DocumentRepository ------------------------------------------------------------------


@pytest.fixture
def docs(side: Side) -> Ported:
    from documents.adapters import DynamoDocumentRepository

    return ported(side, "documents", InMemoryDocumentRepository, DynamoDocumentRepository)


def document(owner: str = "alice", status: str = documents.PENDING) -> documents.Document:
    return documents.Document(
        id=new_id(T0),
        owner=owner,
        filename="photo.png",
        size=4,
        content_type=documents.PNG,
        sha256=None,
        kind="photo",
        renewal_id=None,
        status=status,
        created_at="2027-01-15T08:00:00.000+00:00",
    )


def uploaded(outbox: Outbox, doc: documents.Document) -> Any:
    from documents.events import DocumentEvents

    [event] = DocumentEvents(outbox, now_iso=lambda: doc.created_at).uploaded(doc, correlation_id=None)
    return event


def test_a_document_is_read_back_by_its_owner_only(docs: Ported) -> None:
    doc = document()

    docs.impl.add(doc)

    assert docs.impl.get("alice", doc.id) == doc
    assert docs.impl.get("bob", doc.id) is None
    assert docs.impl.get("alice", "not-an-id") is None
    with pytest.raises(RuntimeError, match="collided"):
        docs.impl.add(doc)


def test_a_status_changes_only_from_the_expected_one_with_its_event(docs: Ported) -> None:
    doc = document()
    docs.impl.add(doc)
    done = documents.Document(**{**doc.__dict__, "status": documents.AVAILABLE, "sha256": "ab" * 32})

    docs.impl.set_status(done, expected=documents.PENDING, events=[uploaded(docs.outbox, done)])
    with pytest.raises(documents.StatusChangedError):
        docs.impl.set_status(done, expected=documents.PENDING, events=[uploaded(docs.outbox, done)])

    assert docs.impl.get("alice", doc.id) == done
    assert docs.events() == 1


def test_a_status_change_of_a_document_never_stored_is_refused(docs: Ported) -> None:
    with pytest.raises(documents.StatusChangedError):
        docs.impl.set_status(document(status=documents.REJECTED), expected=documents.PENDING)


# -- documents: ObjectStore ------------------------------------------------------------------------


class Objects:
    """The object store on one side, and a client's POST to its upload form (``stage``)."""

    def __init__(self, side: Side) -> None:
        from support.documents import InMemoryObjectStore

        if side.memory:
            self.impl: Any = InMemoryObjectStore()
            self.stage = self.impl.stage
            return
        import uuid

        from documents.adapters import S3ObjectStore, upload_key
        from documents.bootstrap import s3_client

        client = s3_client()
        bucket = f"docs-{uuid.uuid4().hex[:12]}"
        client.create_bucket(Bucket=bucket)
        self.impl = S3ObjectStore(client, bucket)
        self.stage = lambda doc_id, data: client.put_object(Bucket=bucket, Key=upload_key(doc_id), Body=data)


@pytest.fixture
def objects(side: Side) -> Objects:
    return Objects(side)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_an_object_is_stored_read_and_deleted(objects: Objects) -> None:
    store = objects.impl
    store.put("D1", b"%PDF-1.7 body", content_type=documents.PDF, sha256=sha(b"%PDF-1.7 body"))

    assert store.promoted("D1") and store.staged("D1") is None
    assert store.read_prefix("D1", 5) == b"%PDF-"
    assert store.digest("D1") == (sha(b"%PDF-1.7 body"), 13)
    store.delete("D1")
    assert not store.promoted("D1")


def test_an_object_whose_checksum_does_not_match_is_refused(objects: Objects, side: Side) -> None:
    if side.name == "moto":
        pytest.skip("moto server does not verify ChecksumSHA256 (S3 and ministack do)")
    with pytest.raises(documents.ObjectStoreError):
        objects.impl.put("D1", b"data", content_type=documents.PNG, sha256=sha(b"other"))


def test_a_staged_upload_is_promoted_only_as_it_was_checked(objects: Objects, side: Side) -> None:
    store = objects.impl
    with pytest.raises(documents.UploadMissingError):
        store.promote("D1", tag="x", content_type=documents.PNG)
    objects.stage("D1", b"\x89PNG....")
    staged = store.staged("D1")
    assert staged is not None and staged.size == 8

    if side.name != "moto":  # moto server ignores CopySourceIfMatch (S3 and ministack honour it)
        with pytest.raises(documents.UploadChangedError):
            store.promote("D1", tag='"not-its-tag"', content_type=documents.PNG)
    store.promote("D1", tag=staged.tag, content_type=documents.PNG)

    assert store.staged("D1") is None and store.promoted("D1")
    assert store.digest("D1") == (sha(b"\x89PNG...."), 8)


# -- passport: RenewalRepository --------------------------------------------------------------------


@pytest.fixture
def renewals(side: Side) -> Ported:
    from support.passport import InMemoryRenewalRepository

    from passport.adapters import DynamoRenewalRepository

    return ported(side, "passport", InMemoryRenewalRepository, DynamoRenewalRepository)


def renewal(owner: str = "alice", ms: int = T0) -> Any:
    from datetime import date

    from passport.domain import Address, Renewal

    return Renewal(
        id=new_id(ms),
        owner=owner,
        status="submitted",
        full_name="Alice Example",
        date_of_birth=date(1990, 4, 1),
        passport_number="AB1234567",
        passport_issued_on=date(2017, 3, 1),
        passport_expires_on=date(2027, 3, 1),
        mailing_address=Address("1 High Street", "Springfield", "IL", "62701", "US"),
        email="a@example.org",
        name_on_passport=None,
        name_change_document_ids=(),
        eligibility_checked_on="2027-01-15",
        submitted_at="2027-01-15T08:00:00.000+00:00",
        updated_at="2027-01-15T08:00:00.000+00:00",
    )


def submitted(outbox: Outbox, r: Any) -> Any:
    from passport.events import RenewalEvents

    return RenewalEvents(outbox).submitted(r, correlation_id=None)


def test_a_renewal_is_stored_with_its_event_and_read_back_by_its_owner_only(renewals: Ported) -> None:
    r = renewal()

    renewals.impl.add(r, submitted(renewals.outbox, r))

    assert renewals.impl.get("alice", r.id) == r
    assert renewals.impl.get("bob", r.id) is None
    assert renewals.impl.get("alice", "not-an-id") is None
    assert renewals.events() == 1
    with pytest.raises(RuntimeError, match="collided"):
        renewals.impl.add(r, submitted(renewals.outbox, r))
    assert renewals.events() == 1


def test_renewals_list_newest_first_a_page_at_a_time(renewals: Ported) -> None:
    made = [renewal(ms=T0 + n) for n in range(3)]
    for r in made:
        renewals.impl.add(r, submitted(renewals.outbox, r))

    first = renewals.impl.list("alice", limit=2, cursor=None)
    rest = renewals.impl.list("alice", limit=2, cursor=first.cursor)

    assert [r.id for r in first.items + rest.items] == [r.id for r in reversed(made)]
    assert rest.cursor is None


def test_a_step_is_written_only_over_the_renewal_as_it_was_read(renewals: Ported) -> None:
    from dataclasses import replace

    from passport.domain import StaleRenewalError

    r = renewal()
    renewals.impl.add(r, submitted(renewals.outbox, r))
    paid = replace(r, payment_id=new_id(T0 + 1), paid_at="2027-01-15T09:00:00.000+00:00")
    other = replace(r, payment_id=new_id(T0 + 2), paid_at="2027-01-15T09:00:01.000+00:00")

    renewals.impl.advance(r, paid, None)
    with pytest.raises(StaleRenewalError):
        renewals.impl.advance(r, other, None)

    stored = renewals.impl.get("alice", r.id)
    assert stored is not None and stored.payment_id == paid.payment_id
    assert renewals.events() == 1


# -- notifications: NotificationRepository ----------------------------------------------------------


@pytest.fixture
def notifications(side: Side) -> Any:
    from support.notifications import InMemoryNotificationRepository

    from notifications.adapters import DynamoNotificationRepository

    if side.memory:
        return InMemoryNotificationRepository()
    return DynamoNotificationRepository(TableStore(side.dynamodb, side.table))


def notification(delivery: str = "pending", ms: int = T0, recipient: str | None = "a@example.org") -> Any:
    from notifications.domain import Notification

    return Notification(
        id=new_id(ms),
        owner="alice",
        type="RenewalSubmitted",
        event_id=new_id(ms),
        renewal_id=None,
        subject="Your renewal",
        recipient=recipient,
        delivery=delivery,  # type: ignore[arg-type]
        created_at="2027-01-15T08:00:00.000+00:00",
    )


def test_the_newest_contact_wins_whatever_order_events_arrive_in(notifications: Any) -> None:
    assert notifications.contact("alice") is None

    notifications.remember_contact("alice", "new@example.org", as_of_ms=2, event_id="e2")
    older = notifications.remember_contact("alice", "old@example.org", as_of_ms=1, event_id="e1")

    assert older.email == "new@example.org"
    assert notifications.contact("alice") == "new@example.org"


def test_a_notification_is_begun_once_and_finished_once(notifications: Any) -> None:
    from hmskit.store import ConditionFailedError

    n = notification()

    assert notifications.begin(n) == n
    again = notifications.begin(n)  # a redelivery while it is still pending: one more attempt
    assert again.attempts == n.attempts + 1
    sent = notifications.finish(n, delivery="sent", at="2027-01-15T08:00:01.000+00:00", ses_message_id="m-1")
    assert sent.delivery == "sent" and sent.ses_message_id == "m-1"
    assert notifications.begin(n).delivery == "sent"  # final: begun again, it stays as it is
    with pytest.raises(ConditionFailedError):
        notifications.finish(n, delivery="failed", at="2027-01-15T08:00:02.000+00:00", reason="no")
    assert [x.id for x in notifications.list("alice", limit=10, cursor=None).items] == [n.id]


def test_a_waiting_notification_is_claimed_once_and_may_be_released(notifications: Any) -> None:
    from hmskit.store import ConditionFailedError

    n = notification("no_address", recipient=None)
    notifications.begin(n)

    assert [w.id for w in notifications.waiting("alice", since_id=new_id(T0 - 1), limit=5)] == [n.id]
    claimed = notifications.claim(n, recipient="a@example.org", at="2027-01-15T08:00:01.000+00:00")
    assert claimed is not None and claimed.delivery == "pending"
    assert notifications.claim(n, recipient="b@example.org", at="2027-01-15T08:00:02.000+00:00") is None
    notifications.release(claimed, at="2027-01-15T08:00:03.000+00:00")
    with pytest.raises(ConditionFailedError):
        notifications.release(claimed, at="2027-01-15T08:00:04.000+00:00")


# -- the consumer's Deduplicator --------------------------------------------------------------------


@pytest.fixture
def dedupe(side: Side) -> Any:
    from hmskit.consumer import EventDeduplicator, InMemoryDeduplicator

    return InMemoryDeduplicator() if side.memory else EventDeduplicator(side.dynamodb, side.table, window="w")


def test_an_event_s_effect_runs_once_and_a_failed_one_may_run_again(dedupe: Any) -> None:
    from hmskit.context import LocalContext

    effects: list[str] = []
    ctx = LocalContext()

    def fail() -> None:
        raise RuntimeError("effect failed")

    assert dedupe.once("E1", lambda: effects.append("E1"), ctx) is True
    assert dedupe.once("E1", lambda: effects.append("E1 again"), ctx) is False
    with pytest.raises(RuntimeError):
        dedupe.once("E2", fail, ctx)
    assert dedupe.once("E2", lambda: effects.append("E2"), ctx) is True

    assert effects == ["E1", "E2"]
