"""The only code that knows how a payment is stored in the window's table.

Item: ``pk = OWNER#<sub>``, ``sk = PAYMENT#<id>``. Reads are keyed by the caller's ``sub``, so a
citizen cannot reach another's payment even with its id. Ids are time-ordered, so the partition
lists newest first. Cursors carry only the sort key (never the owner) and are checked on the way in.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from hmskit.cursors import Cursors
from hmskit.idempotency import Idempotency
from hmskit.ids import is_id
from hmskit.outbox import Outbox
from hmskit.store import ConditionFailedError, TableStore, TransactionConflictError
from payments.domain import InvalidCursorError, Page, Payment

_PREFIX = "PAYMENT#"


def _pk(owner: str) -> str:
    return f"OWNER#{owner}"


_CURSORS = Cursors(_PREFIX, InvalidCursorError)
encode_cursor = _CURSORS.encode
decode_cursor = _CURSORS.decode


class DynamoPaymentRepository:
    def __init__(
        self, store: TableStore, outbox: Outbox | None = None, claims: Idempotency | None = None
    ) -> None:
        self._store = store
        self._outbox = outbox
        self._claims = claims

    def add(self, payment: Payment, events: Sequence[Any] = ()) -> None:
        """One transaction: the payment item, an outbox item per event and the request's
        Idempotency-Key record (never one without the others)."""
        if events and self._outbox is None:
            raise RuntimeError("this repository has no outbox to record events in")
        ops = [
            self._store.put_op(
                {
                    "pk": _pk(payment.owner),
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
                }
            )
        ]
        ops.extend(self._outbox.op(e) for e in events if self._outbox is not None)
        try:
            if self._claims is not None:
                self._claims.transact(self._store, ops, resource=payment.id)
            else:
                self._store.transact(ops)
        except TransactionConflictError as exc:  # a 80-bit random collision: refuse, never overwrite
            if exc.condition_failed:
                raise RuntimeError(f"payment id {payment.id} collided") from exc
            raise

    def recorded(self, owner: str) -> Payment | None:
        first = self._claims.recorded() if self._claims is not None else None
        return self.get(owner, first) if first is not None else None

    def get(self, owner: str, payment_id: str) -> Payment | None:
        if not is_id(payment_id):
            return None
        item = self._store.get(_pk(owner), _PREFIX + payment_id)
        return _payment(item) if item else None

    def list(self, owner: str, *, limit: int, cursor: str | None) -> Page:
        after = decode_cursor(cursor) if cursor else None
        try:
            items, last = self._store.query_page(_pk(owner), sk_prefix=_PREFIX, limit=limit, after_sk=after)
        except ConditionFailedError as exc:
            raise InvalidCursorError("the cursor is not one this API issued") from exc
        return Page([_payment(i) for i in items], encode_cursor(last) if last else None)


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
