"""docs/openapi.json says exactly what the server accepts: schemathesis against the running stack.

A bounded pass (positive mode, a fixed seed, a few examples per operation, examples + coverage +
fuzzing phases): every request the document allows is accepted (2xx, or a documented 401, 403, 404,
409 or 429) and answered as documented (status, content type, headers, body schema), and nothing is
a 5xx. ``make fuzz`` runs the longer pass (``fuzz.py``: negative data too, every check, stateful).
"""

from __future__ import annotations

import fuzz
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def test_every_request_the_document_allows_is_accepted_and_answered_as_documented(stack) -> None:  # type: ignore[no-untyped-def]
    result = fuzz.run(stack.url, stack.root / ".hms", fuzz.BOUNDED)

    assert result.requests > 0, result.output
    assert result.server_errors == 0, result.summary() + "\n" + result.output
    assert result.returncode == 0 and not result.failures, result.summary() + "\n" + result.output
