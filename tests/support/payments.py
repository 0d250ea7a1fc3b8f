"""The payments window's fakes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from payments.adapters import _PREFIX, decode_cursor, encode_cursor
from payments.domain import Page, Payment
from support.kit import newest_first


class InMemoryPaymentRepository:
    """``PaymentRepository`` in a dict, recording its events (the outbox) in ``events``."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Payment] = {}
        self.events: list[Any] = []  # the outbox

    def add(self, payment: Payment, events: Sequence[Any] = ()) -> None:
        key = (payment.owner, payment.id)
        if key in self.items:
            raise RuntimeError(f"payment id {payment.id} collided")
        self.items[key] = payment
        self.events.extend(events)

    def get(self, owner: str, payment_id: str) -> Payment | None:
        return self.items.get((owner, payment_id))

    def recorded(self, owner: str) -> Payment | None:
        return None  # no Idempotency-Key records here: the handler tests fake the idempotency

    def list(self, owner: str, *, limit: int, cursor: str | None) -> Page:
        mine = (p for (o, _), p in self.items.items() if o == owner)
        return Page(
            *newest_first(
                mine, prefix=_PREFIX, limit=limit, cursor=cursor, encode=encode_cursor, decode=decode_cursor
            )
        )
