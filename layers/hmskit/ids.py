"""Time-ordered identifiers.

A 48-bit millisecond timestamp followed by 80 random bits, as 26 Crockford base32 characters (the
ULID layout). Lexical order is creation order, so a DynamoDB sort key built from an id lists newest
first with ``ScanIndexForward=False``.

An id that crosses windows (a ``renewal_id`` a payment or a document names) is checked with the same
rule in every window's models: ``RenewalId``, the id the passport window minted.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Callable
from typing import Annotated, Any

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ID_PATTERN = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def _encode(ms: int, tail: int) -> str:
    value = (ms << 80) | tail
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def _clamp(ms: int) -> int:
    return min(max(ms, 0), (1 << 48) - 1)


def new_id(now_ms: int | None = None) -> str:
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    return _encode(ms, int.from_bytes(os.urandom(10), "big"))


def derived_id(key: str, at_ms: int) -> str:
    """The id of ``key`` at ``at_ms``: the same layout as ``new_id``, but its 80 low bits are SHA-256 of
    the key, so every retry or redelivery that names the same thing names the same id."""
    return _encode(_clamp(at_ms), int.from_bytes(hashlib.sha256(key.encode()).digest()[:10], "big"))


def id_floor(at_ms: int) -> str:
    """The smallest id of ``at_ms``: every id made at that millisecond or later sorts after it."""
    return _encode(_clamp(at_ms), 0)


def is_id(value: str) -> bool:
    return bool(ID_PATTERN.match(value))


class _IdString:
    """A pydantic string of ``ID_PATTERN``; pydantic itself is imported only when a model is built."""

    def __get_pydantic_core_schema__(self, source: Any, handler: Callable[[Any], Any]) -> Any:
        from pydantic_core import core_schema

        return core_schema.str_schema(pattern=ID_PATTERN.pattern)


#: A passport renewal's id, wherever a window's model names one.
RenewalId = Annotated[str, _IdString()]
