"""TableStore against the emulator: plain Python values in and out, AWS errors translated."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from helpers import both_emulators
from support.kit import FakeClock

from hmskit.ratelimit import FixedWindowRateLimiter
from hmskit.settings import RateLimit
from hmskit.store import (
    AlreadyExistsError,
    ConditionFailedError,
    StoreError,
    TableStore,
    TransactionConflictError,
)

pytestmark = [pytest.mark.integration, both_emulators]


@pytest.fixture
def store(dynamodb: Any, table: str) -> TableStore:
    return TableStore(dynamodb, table)


def test_put_new_then_get_round_trips_plain_values(store: TableStore) -> None:
    item = {"pk": "P#1", "sk": "S#1", "amount": Decimal("12.50"), "n": 3, "tags": {"a"}, "gone": None}

    store.put_new(item)

    got = store.get("P#1", "S#1")
    assert got == {"pk": "P#1", "sk": "S#1", "amount": Decimal("12.50"), "n": Decimal(3), "tags": {"a"}}
    assert type(got["amount"]) is Decimal  # type: ignore[index]


def test_get_of_a_missing_item_is_none(store: TableStore) -> None:
    assert store.get("P#none", "S#none") is None


def test_put_new_refuses_a_taken_key(store: TableStore) -> None:
    store.put_new({"pk": "P", "sk": "S", "v": 1})

    with pytest.raises(AlreadyExistsError, match="P/S"):
        store.put_new({"pk": "P", "sk": "S", "v": 2})
    assert store.get("P", "S")["v"] == 1  # type: ignore[index]


def test_a_conditional_put_that_fails_is_condition_failed(store: TableStore) -> None:
    store.put({"pk": "P", "sk": "S", "v": 1})

    with pytest.raises(ConditionFailedError):
        store.put({"pk": "P", "sk": "S", "v": 2}, condition="v = :want", values={":want": 9})
    store.put({"pk": "P", "sk": "S", "v": 2}, condition="v = :want", values={":want": 1})
    assert store.get("P", "S")["v"] == 2  # type: ignore[index]


def test_delete_removes_an_item(store: TableStore) -> None:
    store.put({"pk": "P", "sk": "S"})

    store.delete("P", "S")

    assert store.get("P", "S") is None


def test_delete_many_removes_every_key_in_batches_of_twenty_five(store: TableStore) -> None:
    keys = [("OUTBOX", f"EVENT#{i:03d}") for i in range(30)]
    for pk, sk in keys:
        store.put({"pk": pk, "sk": sk})
    store.put({"pk": "OUTBOX", "sk": "EVENT#keep"})

    left = store.delete_many([*keys, keys[0], ("OUTBOX", "EVENT#never-written")])

    assert left == []  # a repeated key is deleted once; a missing one is no error
    items, _ = store.query_page("OUTBOX", sk_prefix="EVENT#", limit=100)
    assert [i["sk"] for i in items] == ["EVENT#keep"]


def test_delete_many_answers_the_keys_it_could_not_delete(dynamodb: Any) -> None:
    missing = TableStore(dynamodb, "no-such-table")

    waits: list[float] = []

    assert missing.delete_many([("P", "S")], attempts=3, sleep=waits.append) == [("P", "S")]
    assert waits == [0.05, 0.1]  # the rounds after the first back off


def test_query_page_walks_a_partition_newest_first_without_gaps(store: TableStore) -> None:
    for i in range(5):
        store.put_new({"pk": "P", "sk": f"X#{i}"})
    store.put_new({"pk": "P", "sk": "Y#9"})  # another prefix
    store.put_new({"pk": "Q", "sk": "X#7"})  # another partition

    seen: list[str] = []
    after = None
    for _ in range(10):
        items, after = store.query_page("P", sk_prefix="X#", limit=2, after_sk=after)
        seen += [i["sk"] for i in items]
        if after is None:
            break

    assert seen == ["X#4", "X#3", "X#2", "X#1", "X#0"]


def test_a_page_that_ends_at_the_last_item_has_no_continuation(store: TableStore) -> None:
    # DynamoDB (and ministack) report a last key whenever a query stops at its Limit; moto does not
    for i in range(4):
        store.put_new({"pk": "P", "sk": f"X#{i}"})

    first, after = store.query_page("P", sk_prefix="X#", limit=2)
    second, end = store.query_page("P", sk_prefix="X#", limit=2, after_sk=after)

    assert [i["sk"] for i in first + second] == ["X#3", "X#2", "X#1", "X#0"]
    assert after == "X#2" and end is None


def test_query_page_oldest_first(store: TableStore) -> None:
    for i in range(3):
        store.put_new({"pk": "P", "sk": f"X#{i}"})

    items, _ = store.query_page("P", sk_prefix="X#", limit=10, newest_first=False)

    assert [i["sk"] for i in items] == ["X#0", "X#1", "X#2"]


def test_increment_counts_atomically_from_one(store: TableStore) -> None:
    values = [store.increment("C", "W#0", attr="hits", expires_at=1234) for _ in range(3)]

    assert values == [1, 2, 3]
    item = store.get("C", "W#0")
    assert item is not None and item["expires_at"] == 1234


def test_transact_put_writes_all_items(store: TableStore) -> None:
    store.transact_put([{"pk": "P", "sk": "A"}, {"pk": "P", "sk": "B"}])

    assert store.get("P", "A") is not None and store.get("P", "B") is not None


def test_transact_put_writes_nothing_when_one_key_is_taken(store: TableStore) -> None:
    store.put_new({"pk": "P", "sk": "B", "v": "old"})

    with pytest.raises(TransactionConflictError):
        store.transact_put([{"pk": "P", "sk": "A"}, {"pk": "P", "sk": "B", "v": "new"}])

    assert store.get("P", "A") is None
    assert store.get("P", "B")["v"] == "old"  # type: ignore[index]


def test_transact_put_may_overwrite_when_keys_need_not_be_new(store: TableStore) -> None:
    store.put_new({"pk": "P", "sk": "B", "v": "old"})

    store.transact_put([{"pk": "P", "sk": "B", "v": "new"}], new_keys=False)

    assert store.get("P", "B")["v"] == "new"  # type: ignore[index]


def test_a_missing_table_is_a_store_error(dynamodb: Any) -> None:
    store = TableStore(dynamodb, "no-such-table")

    for call in (
        lambda: store.get("P", "S"),
        lambda: store.put_new({"pk": "P", "sk": "S"}),
        lambda: store.put({"pk": "P", "sk": "S"}),
        lambda: store.delete("P", "S"),
        lambda: store.query_page("P", sk_prefix="", limit=1),
        lambda: store.increment("P", "S", attr="n", expires_at=1),
        lambda: store.transact_put([{"pk": "P", "sk": "S"}]),
    ):
        with pytest.raises(StoreError):
            call()


def test_the_rate_limiter_counts_on_a_real_table(store: TableStore) -> None:
    clock = FakeClock(1_800_000_000.0)
    limiter = FixedWindowRateLimiter(store, RateLimit(limit=2, window=60), clock)

    decisions = [limiter.hit("sub:alice") for _ in range(3)]

    assert [d.allowed for d in decisions] == [True, True, False]
    assert limiter.hit("sub:bob").allowed


def test_an_old_windows_counter_is_never_read_again_so_ttl_deletion_is_not_needed(store: TableStore) -> None:
    clock = FakeClock(1_800_000_000.0)
    limiter = FixedWindowRateLimiter(store, RateLimit(limit=1, window=60), clock)
    limiter.hit("sub:alice")
    assert not limiter.hit("sub:alice").allowed

    clock.advance(60)

    assert limiter.hit("sub:alice").allowed
    old = store.get("RATE#sub:alice", "W#1800000000")
    new = store.get("RATE#sub:alice", "W#1800000060")
    assert old is not None and old["hits"] == 2  # still there: moto never expires items
    assert new is not None and new["hits"] == 1
    assert old["expires_at"] == 1_800_000_000 + 120  # TTL only tidies, one window after the end


def test_a_limiter_in_a_second_process_shares_the_count(dynamodb: Any, table: str) -> None:
    clock = FakeClock(1_800_000_000.0)
    rule = RateLimit(limit=2, window=60)
    first = FixedWindowRateLimiter(TableStore(dynamodb, table), rule, clock)
    second = FixedWindowRateLimiter(TableStore(dynamodb, table), rule, clock)  # a warm start elsewhere

    first.hit("sub:alice")
    first.hit("sub:alice")

    assert not second.hit("sub:alice").allowed


def test_set_if_writes_when_the_condition_holds_and_answers_the_stored_item_when_not(
    store: TableStore,
) -> None:
    written, item = store.set_if(
        "P",
        "C",
        {"email": "new@x", "as_of": 5},
        condition="attribute_not_exists(as_of) OR as_of <= :t",
        values={":t": 5},
    )
    assert written and item["email"] == "new@x"

    refused, stored = store.set_if(
        "P",
        "C",
        {"email": "old@x", "as_of": 3},
        condition="attribute_not_exists(as_of) OR as_of <= :t",
        values={":t": 3},
    )
    assert not refused and stored["email"] == "new@x" and stored["as_of"] == 5  # in the same round trip
    assert store.get("P", "C")["email"] == "new@x"  # type: ignore[index]
