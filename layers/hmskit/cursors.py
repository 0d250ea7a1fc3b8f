"""Opaque pagination cursors: the sort key to continue after, checked on the way back in.

A cursor carries only a sort key of the window's own kind (``PAYMENT#<id>``), never the owner: the
partition always comes from the verified caller, so a cursor cannot reach another citizen's items.
"""

from __future__ import annotations

import base64
import binascii
import json

from hmskit.ids import is_id


class Cursors:
    """Encode/decode cursors for sort keys ``<prefix><id>``; anything else raises ``error``."""

    def __init__(self, prefix: str, error: type[Exception]) -> None:
        self.prefix = prefix
        self.error = error

    def encode(self, sk: str) -> str:
        return base64.urlsafe_b64encode(json.dumps({"after": sk}).encode()).decode().rstrip("=")

    def decode(self, cursor: str) -> str:
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            after = json.loads(base64.urlsafe_b64decode(padded.encode()))["after"]
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise self.error("the cursor is not one this API issued") from exc
        if (
            not isinstance(after, str)
            or not after.startswith(self.prefix)
            or not is_id(after[len(self.prefix) :])
        ):
            raise self.error("the cursor is not one this API issued")
        return after
