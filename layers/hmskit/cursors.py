"""Pagination cursors: the id of the last item of a page, checked on the way back in.

A cursor is the id part of a sort key of the window's own kind (``PAYMENT#<id>`` gives ``<id>``),
never the owner: the partition always comes from the verified caller, so a cursor cannot reach
another citizen's items. Being exactly an id (``CURSOR_PATTERN``), every cursor the OpenAPI document
allows is one the window accepts: a well-formed id it never issued just continues after that id.
"""

from __future__ import annotations

from hmskit.ids import ID_PATTERN

CURSOR_PATTERN = r"^(?:[0-9A-HJKMNP-TV-Z]{26})?$"  # an id, or empty: the first page


class Cursors:
    """Encode/decode cursors for sort keys ``<prefix><id>``; anything else raises ``error``."""

    def __init__(self, prefix: str, error: type[Exception] = ValueError) -> None:
        self.prefix = prefix
        self.error = error

    def encode(self, sk: str) -> str:
        return sk.removeprefix(self.prefix)

    def decode(self, cursor: str) -> str:
        if not ID_PATTERN.fullmatch(cursor):
            raise self.error("the cursor is not one this API issued (26 Crockford base32 characters)")
        return self.prefix + cursor
