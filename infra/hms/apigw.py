"""API Gateway HTTP API event payloads (2.0 and 1.0), built the way API Gateway builds them.

One converter for the local gateway and for the tests, so a window never sees a shape in tests
that it would not see in AWS.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

TEXT_TYPES = (
    "text/",
    "application/json",
    "application/xml",
    "application/javascript",
    "application/x-www-form-urlencoded",
    "+json",
    "+xml",
)


def is_text(content_type: str | None) -> bool:
    if not content_type:
        return True
    ctype = content_type.split(";")[0].strip().lower()
    return any(ctype.startswith(t) or ctype.endswith(t) for t in TEXT_TYPES)


def _body(body: bytes, content_type: str | None) -> tuple[str | None, bool]:
    if not body:
        return None, False
    if is_text(content_type):
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode("ascii"), True


def build_v2_event(
    *,
    method: str,
    path: str,
    route_key: str,
    raw_query: str = "",
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    path_parameters: Mapping[str, str] | None = None,
    claims: Mapping[str, Any] | None = None,
    scopes: list[str] | None = None,
    source_ip: str = "127.0.0.1",
    request_id: str | None = None,
    stage: str = "$default",
    domain: str = "localhost",
    api_id: str = "hmslocal",
    now: float | None = None,
) -> dict[str, Any]:
    now = time.time() if now is None else now
    merged: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    query: dict[str, str] = {}
    if raw_query:
        for k, v in parse_qsl(raw_query, keep_blank_values=True):
            query[k] = f"{query[k]},{v}" if k in query else v
    text, b64 = _body(body, merged.get("content-type"))
    request_id = request_id or str(uuid.uuid4())
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": merged,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": api_id,
            "domainName": domain,
            "domainPrefix": domain.split(".")[0],
            "http": {
                "method": method.upper(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": merged.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": stage,
            "time": request_time(now),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": b64,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if text is not None:
        event["body"] = text
    if claims is not None:
        event["requestContext"]["authorizer"] = {
            "jwt": {"claims": {k: _claim(v) for k, v in claims.items()}, "scopes": scopes}
        }
    return event


_last_time: tuple[int, str] = (-1, "")


def request_time(now: float) -> str:
    """``requestContext.time`` ("21/Nov/2026:22:48:43 +0000"); formatted once per second."""
    global _last_time
    second = int(now)
    if _last_time[0] != second:
        _last_time = (second, time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(second)))
    return _last_time[1]


def jwt_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """Claims as the JWT authorizer hands them over: every value a string (arrays as "[a b]").

    ``build_v2_event`` applies this itself; a caller that reuses claims may convert them once.
    """
    return {k: _claim(v) for k, v in claims.items()}


def _claim(value: Any) -> Any:
    # API Gateway hands claims over as strings (arrays flattened to "[a b]")
    if isinstance(value, list):
        return "[" + " ".join(str(v) for v in value) + "]"
    return value if isinstance(value, str) else str(value)


def build_v1_event(v2: Mapping[str, Any], *, resource: str) -> dict[str, Any]:
    """The payload 1.0 form of a v2 event (HTTP API integrations set to 1.0, e.g. Chalice)."""
    ctx = v2["requestContext"]
    headers = dict(v2.get("headers") or {})
    if v2.get("cookies"):
        headers["cookie"] = "; ".join(v2["cookies"])
    query = v2.get("queryStringParameters")
    multi_query = {k: v.split(",") for k, v in query.items()} if query else None
    authorizer = ctx.get("authorizer")
    return {
        "version": "1.0",
        "resource": resource,
        "path": ctx["http"]["path"],
        "httpMethod": ctx["http"]["method"],
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": v2.get("pathParameters"),
        "stageVariables": None,
        "requestContext": {
            "accountId": ctx["accountId"],
            "apiId": ctx["apiId"],
            # payload 1.0 gets the JWT authorizer's result flat, as REST APIs do
            "authorizer": dict(authorizer["jwt"]) if authorizer and authorizer.get("jwt") else None,
            "domainName": ctx["domainName"],
            "httpMethod": ctx["http"]["method"],
            "identity": {"sourceIp": ctx["http"]["sourceIp"], "userAgent": ctx["http"]["userAgent"]},
            "path": ctx["http"]["path"],
            "protocol": ctx["http"]["protocol"],
            "requestId": ctx["requestId"],
            "requestTime": ctx["time"],
            "requestTimeEpoch": ctx["timeEpoch"],
            "resourcePath": resource,
            "stage": ctx["stage"],
        },
        "body": v2.get("body"),
        "isBase64Encoded": v2.get("isBase64Encoded", False),
    }


def parse_response(result: Any, *, payload_version: str = "2.0") -> tuple[int, list[tuple[str, str]], bytes]:
    """A Lambda proxy result -> (status, headers, body bytes), as API Gateway reads it.

    Payload 2.0 lets a function return any JSON value and get a 200 with it as the body.
    """
    if payload_version == "2.0" and (not isinstance(result, dict) or "statusCode" not in result):
        import json

        return 200, [("content-type", "application/json")], json.dumps(result).encode()
    status = int(result.get("statusCode", 200))
    headers: list[tuple[str, str]] = []
    for k, v in (result.get("headers") or {}).items():
        headers.append((k.lower(), str(v)))
    for k, values in (result.get("multiValueHeaders") or {}).items():
        for v in values:
            headers.append((k.lower(), str(v)))
    for cookie in result.get("cookies") or []:
        headers.append(("set-cookie", cookie))
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode("utf-8")
    return status, headers, data


def new_request_id() -> str:
    return str(uuid.uuid4())
