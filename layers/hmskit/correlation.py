"""The correlation id: one per HTTP request, carried into every event it causes and onward.

A client may name its own (``X-Correlation-Id``) to find its request again in the logs and traces;
it is taken when it is 1 to 128 characters of ``A-Z a-z 0-9 _ -`` (what fits an event's metadata and
an SES message tag), else the request id is the correlation id. The same rule runs in the window
(``correlation_id_of``, in AWS as locally) and in the local gateway, which records the trace.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

HEADER = "x-correlation-id"
_VALID = re.compile(r"[A-Za-z0-9_-]{1,128}")


def valid(value: str | None) -> bool:
    """Whether a client-sent correlation id is acceptable as it is."""
    return value is not None and _VALID.fullmatch(value) is not None


def choose(client_value: str | None, request_id: str) -> str:
    """The client's correlation id when valid, else the request id."""
    return client_value if client_value is not None and _VALID.fullmatch(client_value) else request_id


def correlation_id_of(event: Mapping[str, Any]) -> str | None:
    """The correlation id of an API Gateway event (payload 2.0 or 1.0); ``None`` for any other event."""
    context = event.get("requestContext")
    if not isinstance(context, Mapping):
        return None
    request_id = context.get("requestId")
    headers = event.get("headers")
    sent: str | None = None
    if isinstance(headers, Mapping):
        sent = headers.get(HEADER)
        if sent is None:  # payload 1.0 keeps the client's spelling of header names
            sent = next((v for k, v in headers.items() if isinstance(k, str) and k.lower() == HEADER), None)
    if isinstance(sent, str) and valid(sent):
        return sent
    return str(request_id) if request_id else None
