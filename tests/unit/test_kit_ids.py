"""Ids are 26-character Crockford base32, ordered by creation time."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from support.kit import FakeClock

from hmskit.clock import SystemClock
from hmskit.context import LocalContext
from hmskit.ids import derived_id, id_floor, is_id, new_id


def test_a_new_id_is_a_valid_id() -> None:
    value = new_id()

    assert len(value) == 26
    assert is_id(value)


def test_ids_are_unique() -> None:
    assert len({new_id(1_800_000_000_000) for _ in range(1000)}) == 1000


@given(st.integers(0, 2**48 - 2), st.integers(1, 10**6))
def test_a_later_id_sorts_after_an_earlier_one(ms: int, gap: int) -> None:
    later = min(ms + gap, 2**48 - 1)

    assert new_id(ms) < new_id(later)


def test_malformed_ids_are_refused() -> None:
    for value in ["", "not-an-id", "0" * 25, "0" * 27, "I" * 26, "o" * 26, "01ARZ3NDEKTSV4RRFFQ69G5FA!"]:
        assert not is_id(value), value


def test_a_fake_clock_moves_only_when_told() -> None:
    clock = FakeClock(100.0)
    assert clock.now() == 100.0

    clock.advance(2.5)

    assert clock.now() == 102.5
    assert SystemClock().now() > 1_600_000_000


def test_a_local_context_counts_down_its_timeout() -> None:
    ctx = LocalContext(function_name="payments", timeout_seconds=3)

    assert 0 < ctx.get_remaining_time_in_millis() <= 3000
    assert ctx.invoked_function_arn.endswith(":function:payments")


@given(st.text(max_size=40), st.integers(0, 2**48 - 2))
def test_a_derived_id_names_the_same_thing_the_same_way_and_sorts_by_time_from_its_floor(
    key: str, ms: int
) -> None:
    value = derived_id(key, ms)

    assert is_id(value) and value == derived_id(key, ms)
    assert id_floor(ms) <= value < id_floor(ms + 1)
