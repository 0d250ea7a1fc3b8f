"""Items a principal owns in the window's table: ``pk = OWNER#<sub>``, ``sk = <prefix><id>``.

Reads are keyed by the caller's ``sub``, so nobody reaches another's item even with its id. Ids are
time-ordered, so a partition lists newest first; cursors carry only the id (``hmskit.cursors``).
The window's adapter alone knows an item's attributes: it hands over whole items to write and a
``parse`` function that reads one back into its domain type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hmskit.cursors import Cursors
from hmskit.ids import is_id
from hmskit.store import ConditionFailedError, Item, TableStore, TransactionConflictError

if TYPE_CHECKING:
    from hmskit.idempotency import Idempotency
    from hmskit.outbox import Outbox


def owner_pk(owner: str) -> str:
    return f"OWNER#{owner}"


@dataclass(frozen=True)
class OwnedItems[T]:
    """One kind of owned item: its ``cursors`` carry its sort-key prefix and its cursor error;
    ``outbox`` records events with a creation, ``claims`` the request's Idempotency-Key."""

    store: TableStore
    cursors: Cursors
    parse: Callable[[Item], T]
    outbox: Outbox | None = None
    claims: Idempotency | None = None

    def event_ops(self, events: Sequence[Any]) -> list[dict[str, Any]]:
        """The outbox item of each event, to write in the state change's own transaction."""
        if events and self.outbox is None:
            raise RuntimeError("this repository has no outbox to record events in")
        return [self.outbox.op(e) for e in events] if self.outbox is not None else []

    def create(self, item: Mapping[str, Any], events: Sequence[Any] = ()) -> None:
        """One transaction: the new item, an outbox item per event and the request's
        Idempotency-Key record naming the item's id (never one without the others)."""
        ops = [self.store.put_op(item, new=True), *self.event_ops(events)]
        try:
            if self.claims is not None:
                self.claims.transact(self.store, ops, resource=str(item["id"]))
            else:
                self.store.transact(ops)
        except TransactionConflictError as exc:  # an 80-bit random collision: refuse, never overwrite
            if exc.condition_failed:
                raise RuntimeError(f"creating {item['sk']} collided with a stored key") from exc
            raise

    def recorded(self, owner: str) -> T | None:
        """The item a first attempt of this request created (its answer was lost), if any."""
        first = self.claims.recorded() if self.claims is not None else None
        return self.get(owner, first) if first is not None else None

    def get(self, owner: str, item_id: str) -> T | None:
        if not is_id(item_id):
            return None
        item = self.store.get(owner_pk(owner), self.cursors.prefix + item_id)
        return self.parse(item) if item else None

    def page(self, owner: str, *, limit: int, cursor: str | None) -> tuple[list[T], str | None]:
        """One page of the owner's items, newest first, and the cursor of the next (``None``: the end)."""
        after = self.cursors.decode(cursor) if cursor else None
        try:
            items, last = self.store.query_page(
                owner_pk(owner), sk_prefix=self.cursors.prefix, limit=limit, after_sk=after
            )
        except ConditionFailedError as exc:
            raise self.cursors.error("the cursor is not one this API issued") from exc
        return [self.parse(i) for i in items], self.cursors.encode(last) if last else None
