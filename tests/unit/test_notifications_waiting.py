"""An event with an address looks for notifications waiting for one only when some may wait."""

from __future__ import annotations

from typing import Any

from support.notifications import InMemoryMailer, InMemoryNotificationRepository

from notifications import domain

NOW = 1_800_000_000.0


class CountingRepository(InMemoryNotificationRepository):
    def __init__(self) -> None:
        super().__init__()
        self.queries = 0
        self.reads = 0

    def waiting(self, owner: str, *, since_id: str, limit: int) -> list[domain.Notification]:
        self.queries += 1
        return super().waiting(owner, since_id=since_id, limit=limit)

    def contact(self, owner: str) -> str | None:
        self.reads += 1
        return super().contact(owner)


def cause(event_id: str, email: str | None, occurred_ms: int) -> domain.Cause:
    return domain.Cause(event_id, "PaymentCaptured", "ada", occurred_ms, None, email, None)


LETTER = domain.Letter(subject="Paid", text="paid", html="<p>paid</p>")


def send(repo: Any, contact: domain.Contact) -> list[domain.Notification]:
    return list(
        domain.send_waiting(
            "ada", repo=repo, mailer=InMemoryMailer(), now_iso=lambda: "t", now=lambda: NOW, contact=contact
        )
    )


def test_nothing_waits_so_the_remembered_contact_spares_every_read() -> None:
    repo = CountingRepository()
    contact = repo.remember_contact("ada", "ada@example.org", as_of_ms=int(NOW * 1000), event_id="E1")

    assert contact == domain.Contact("ada@example.org", 0)
    assert send(repo, contact) == []
    assert (repo.queries, repo.reads) == (0, 0)


def test_a_notification_stored_without_an_address_is_sent_once_the_address_arrives() -> None:
    repo, mailer = CountingRepository(), InMemoryMailer()
    old = int(NOW * 1000) - 20 * 60 * 1000  # past the grace period: stored as no_address
    stored = domain.notify(
        cause("E0", None, old), LETTER, repo=repo, mailer=mailer, now_iso=lambda: "t", now=lambda: NOW
    )
    assert stored.delivery == domain.NO_ADDRESS
    repo.queries = repo.reads = 0

    contact = repo.remember_contact("ada", "ada@example.org", as_of_ms=int(NOW * 1000), event_id="E1")
    assert contact.waiting_until_ms == old + domain.WAITING_MAX_AGE_SECONDS * 1000
    (sent,) = send(repo, contact)
    assert sent.delivery == domain.SENT and sent.recipient == "ada@example.org"
    assert (repo.queries, repo.reads) == (1, 0)


def test_a_day_after_the_last_waiting_notification_nothing_is_looked_for() -> None:
    repo = CountingRepository()
    repo.mark_waiting("ada", until_ms=int(NOW * 1000) - 1)
    contact = repo.remember_contact("ada", "ada@example.org", as_of_ms=int(NOW * 1000), event_id="E1")

    assert send(repo, contact) == [] and repo.queries == 0
