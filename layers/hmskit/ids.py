"""Time-ordered identifiers.

A 48-bit millisecond timestamp followed by 80 random bits, as 26 Crockford base32 characters (the
ULID layout). Lexical order is creation order, so a DynamoDB sort key built from an id lists newest
first with ``ScanIndexForward=False``.
"""

from __future__ import annotations

import os
import re
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ID_PATTERN = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def new_id(now_ms: int | None = None) -> str:
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def is_id(value: str) -> bool:
    return bool(ID_PATTERN.match(value))
