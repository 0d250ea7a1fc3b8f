"""The HTTP contract of the notifications window (query parameters)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from hmskit.cursors import CURSOR_PATTERN


class ListQuery(BaseModel):
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, pattern=CURSOR_PATTERN)
