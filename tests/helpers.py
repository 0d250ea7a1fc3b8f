"""Helpers the tests share: events built by the same converter the local gateway uses."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from hms.apigw import build_v2_event

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_event(
    method: str,
    path: str,
    *,
    route: str | None = None,
    body: bytes | str | dict[str, Any] | None = None,
    sub: str | None = "alice",
    scopes: list[str] | None = None,
    headers: dict[str, str] | None = None,
    query: str = "",
    content_type: str | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API payload 2.0 event, as the JWT authorizer would pass it."""
    hdrs = dict(headers or {})
    if isinstance(body, dict):
        body = json.dumps(body)
        hdrs.setdefault("content-type", "application/json")
    if content_type:
        hdrs["content-type"] = content_type
    raw = body.encode() if isinstance(body, str) else (body or b"")
    claims = {"sub": sub, "scope": " ".join(scopes or [])} if sub else None
    return build_v2_event(
        method=method,
        path=path,
        route_key=f"{method} {route or path}",
        raw_query=query,
        headers=list(hdrs.items()),
        body=raw,
        claims=claims,
        scopes=scopes,
    )


def body_of(result: dict[str, Any]) -> Any:
    return json.loads(result["body"])
