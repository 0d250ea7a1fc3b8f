"""Fakes of the platform's own ports: a clock, a rate-limit counter, the idempotency, a verifier."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol


class FakeClock:
    """A clock that only moves when told to (``hmskit.clock.Clock``)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds


class InMemoryCounter:
    """The rate limiter's counter (``hmskit.ratelimit.Counter``) in a dict."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}

    def increment(self, pk: str, sk: str, *, attr: str, expires_at: int) -> int:
        key = (pk, sk)
        self.counts[key] = self.counts.get(key, 0) + 1
        return self.counts[key]


class PassThroughIdempotency:
    """``hmskit.idempotency.Idempotency.run`` that always computes, recording each call."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def run(
        self,
        *,
        key: str | None,
        principal: str,
        route: str,
        body: Any,
        compute: Callable[[], dict[str, Any]],
        context: Any = None,
    ) -> dict[str, Any]:
        self.calls.append({"key": key, "principal": principal, "route": route, "body": body})
        return compute()


class TokenRefusedError(Exception):
    pass


class FakeVerifier:
    """A token verifier whose tokens are the names in ``tokens`` (their claims); anything else is
    refused with ``TokenRefusedError``. ``calls`` counts the verifications."""

    def __init__(self, tokens: Mapping[str, Mapping[str, Any]]) -> None:
        self.tokens = dict(tokens)
        self.calls = 0

    def verify(self, token: str) -> Mapping[str, Any]:
        self.calls += 1
        if token not in self.tokens:
            raise TokenRefusedError("bad signature")
        return self.tokens[token]


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


def newest_first[R: _Identified](
    records: Iterable[R],
    *,
    prefix: str,
    limit: int,
    cursor: str | None,
    encode: Callable[[str], str],
    decode: Callable[[str], str],
) -> tuple[list[R], str | None]:
    """One page of ``records`` as a table's ``query_page`` gives it: newest id first, after the
    sort key a cursor carries (``prefix`` + id), with the next page's cursor."""
    after = decode(cursor) if cursor else None
    mine = sorted(records, key=lambda r: r.id, reverse=True)
    if after is not None:
        mine = [r for r in mine if prefix + r.id < after]
    page = mine[:limit]
    return page, encode(prefix + page[-1].id) if len(mine) > limit else None
