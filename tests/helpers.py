"""Helpers the tests share: events built by the same converter the local gateway uses."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hms.apigw import build_v2_event

ROOT = Path(__file__).resolve().parents[1]

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_DISABLE_HOST_PREFIX_INJECTION": "true",
}


@contextmanager
def aws_environment(endpoint: str) -> Iterator[str]:
    """boto3 (any client built inside) pointed at ``endpoint`` with dummy credentials."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in AWS_ENV.items():
            mp.setenv(key, value)
        mp.setenv("AWS_ENDPOINT_URL", endpoint)
        yield endpoint


EMULATORS = ("ministack", "moto")  # the first is the default: the one `hms up` runs
# the adapter tests (tables, queues, buckets, Cloud Map, SES) run against both emulators, so that a
# behaviour difference between them is a failing test (conftest parametrizes ``aws_endpoint``)
both_emulators = pytest.mark.both_emulators


@dataclass(frozen=True)
class Side:
    """One side of a port contract suite: ``memory`` (the fake) or an emulator's fresh table."""

    name: str
    dynamodb: Any = None
    table: str = ""

    @property
    def memory(self) -> bool:
        return self.name == "memory"


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


def assert_problem(result: dict[str, Any], status: int) -> dict[str, Any]:
    """A window's answer is an RFC 9457 problem with ``status``; its body."""
    assert result["statusCode"] == status, result["body"]
    assert result["headers"]["Content-Type"] == "application/problem+json"
    problem: dict[str, Any] = body_of(result)
    assert problem["status"] == status
    assert problem["detail"]
    assert problem["type"].startswith("https://")
    assert problem["title"]
    return problem


def example_body(window: str, method: str, path: str, name: str | None = None) -> Any:
    """A request body the window's ``api_contract`` publishes for ``method path`` (its first, or
    the one called ``name``): the tests send what the documentation shows."""
    import importlib

    operation = importlib.import_module(f"{window}.api_contract").OPERATIONS[(method, path)]
    examples = operation.examples
    return examples[name] if name is not None else next(iter(examples.values()))
