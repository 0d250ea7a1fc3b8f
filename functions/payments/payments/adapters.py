"""The only code that knows how a payment is stored in the window's table.

Item: ``pk = OWNER#<sub>``, ``sk = PAYMENT#<id>``, read and listed by its owner (``hmskit.owned``).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from hmskit.cursors import Cursors
from hmskit.idempotency import Idempotency
from hmskit.outbox import Outbox
from hmskit.owned import OwnedItems, owner_pk
from hmskit.store import TableStore
from payments.domain import InvalidCursorError, Page, Payment

_PREFIX = "PAYMENT#"

_CURSORS = Cursors(_PREFIX, InvalidCursorError)
encode_cursor = _CURSORS.encode
decode_cursor = _CURSORS.decode


class DynamoPaymentRepository:
    def __init__(
        self, store: TableStore, outbox: Outbox | None = None, claims: Idempotency | None = None
    ) -> None:
        self._items = OwnedItems(store, _CURSORS, _payment, outbox=outbox, claims=claims)

    def add(self, payment: Payment, events: Sequence[Any] = ()) -> None:
        self._items.create(
            {
                "pk": owner_pk(payment.owner),
                "sk": _PREFIX + payment.id,
                "type": "payment",
                "id": payment.id,
                "owner": payment.owner,
                "amount": payment.amount,
                "currency": payment.currency,
                "purpose": payment.purpose,
                "status": payment.status,
                "renewal_id": payment.renewal_id,
                "created_at": payment.created_at,
            },
            events,
        )

    def recorded(self, owner: str) -> Payment | None:
        return self._items.recorded(owner)

    def get(self, owner: str, payment_id: str) -> Payment | None:
        return self._items.get(owner, payment_id)

    def list(self, owner: str, *, limit: int, cursor: str | None) -> Page:
        return Page(*self._items.page(owner, limit=limit, cursor=cursor))


def _payment(item: dict[str, object]) -> Payment:
    amount = item["amount"]
    assert isinstance(amount, Decimal)
    return Payment(
        id=str(item["id"]),
        owner=str(item["owner"]),
        amount=amount,
        currency=str(item["currency"]),
        purpose=str(item["purpose"]),
        status=str(item["status"]),
        created_at=str(item["created_at"]),
        renewal_id=str(item["renewal_id"]) if item.get("renewal_id") else None,
    )
