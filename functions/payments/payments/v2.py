"""Payments, HTTP contract v2 (``/api/v2/payments``): an amount is a money object.

    {"amount": {"value": "12.50", "currency": "USD"}, "purpose": "passport renewal fee"}

The same window, the same domain and table as v1: only the shape at the edge differs (the request
body is ``payments.models_v2``; pydantic is imported by the routes that parse a body only). v1
(``/api/v1/payments``, ``amount`` and ``currency`` side by side) keeps working unchanged and answers
with ``Deprecation``, ``Sunset`` and a ``Link`` to its successor (``V1_DEPRECATION``).
"""

from __future__ import annotations

from typing import Any

from payments.domain import Payment

BASE = "/api/v2/payments"
V1_BASE = "/api/v1/payments"

# RFC 9745 (Deprecation: an @-date, here 2026-12-01T00:00:00Z), RFC 8594 (Sunset: an HTTP-date) and
# the successor (RFC 8288 Link, rel="successor-version")
V1_DEPRECATION = {
    "Deprecation": "@1796083200",
    "Sunset": "Wed, 30 Jun 2027 23:59:59 GMT",
    "Link": f'<{BASE}>; rel="successor-version"',
}


def public(payment: Payment) -> dict[str, Any]:
    """A payment as v2 answers it: v1's fields, with ``amount`` a money object and no ``currency``."""
    body = payment.public()
    body["amount"] = {"value": body["amount"], "currency": body.pop("currency")}
    return body


def is_v1(event: dict[str, Any]) -> bool:
    path = str(event.get("rawPath") or event.get("path") or "")
    return path == V1_BASE or path.startswith(V1_BASE + "/")
