"""The documents window's own setting, ``HMS_MAX_UPLOAD_BYTES``: the largest inline upload, a
positive number of bytes (5 MiB when unset or blank)."""

from __future__ import annotations

from collections.abc import Mapping

from documents.domain import Limits
from hmskit.settings import own_setting

MAX_UPLOAD_VARIABLE = "HMS_MAX_UPLOAD_BYTES"


def parse_limits(text: str) -> Limits:
    raw = text.strip()
    if not raw.isdigit() or int(raw) <= 0:
        raise ValueError(f"must be a positive number of bytes, got {raw!r}")
    return Limits(max_upload_bytes=int(raw))


def limits_from_env(environ: Mapping[str, str]) -> Limits:
    return own_setting(environ, MAX_UPLOAD_VARIABLE, parse_limits, Limits())
