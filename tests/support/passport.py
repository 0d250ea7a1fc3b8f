"""The passport window's fakes."""

from __future__ import annotations

from passport.adapters import _PREFIX, _STEPS, decode_cursor, encode_cursor
from passport.domain import Page, Recorded, Renewal, StaleRenewalError
from support.kit import newest_first


def _is_stale(before: Renewal, current: Renewal) -> bool:
    """What ``DynamoRenewalRepository.advance`` conditions its write on."""
    return current.status != before.status or any(getattr(current, s) != getattr(before, s) for s in _STEPS)


class InMemoryRenewalRepository:
    """``RenewalRepository`` in a dict; ``outbox`` holds every event written together with a state
    change, in order (what the relay would publish)."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Renewal] = {}
        self.outbox: list[Recorded] = []

    def add(self, renewal: Renewal, event: Recorded) -> None:
        key = (renewal.owner, renewal.id)
        if key in self.items:
            raise RuntimeError(f"renewal {renewal.id} collided")
        self.items[key] = renewal
        self.outbox.append(event)

    def get(self, owner: str, renewal_id: str) -> Renewal | None:
        return self.items.get((owner, renewal_id))

    def recorded(self, owner: str) -> Renewal | None:
        return None  # no Idempotency-Key records here: the handler tests fake the idempotency

    def list(self, owner: str, *, limit: int, cursor: str | None) -> Page:
        mine = (r for (o, _), r in self.items.items() if o == owner)
        return Page(
            *newest_first(
                mine, prefix=_PREFIX, limit=limit, cursor=cursor, encode=encode_cursor, decode=decode_cursor
            )
        )

    def advance(self, before: Renewal, after: Renewal, event: Recorded | None) -> None:
        key = (before.owner, before.id)
        current = self.items.get(key)
        if current is None or _is_stale(before, current):
            raise StaleRenewalError(f"renewal {before.id} changed since it was read")
        self.items[key] = after
        if event is not None:
            self.outbox.append(event)
