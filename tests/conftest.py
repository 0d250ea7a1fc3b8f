"""Shared fixtures. The emulator is moto in server mode on 127.0.0.1, one per test session."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import ROOT, free_port

# Each window's code directory is on sys.path, as /var/task is in Lambda.
for _code_dir in sorted((ROOT / "functions").iterdir()):
    if _code_dir.is_dir() and str(_code_dir) not in sys.path:
        sys.path.insert(0, str(_code_dir))

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_DISABLE_HOST_PREFIX_INJECTION": "true",
}


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server on a free loopback port; AWS_ENDPOINT_URL points boto3 at it."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in [*AWS_ENV, "AWS_ENDPOINT_URL"]}
    os.environ.update(AWS_ENV)
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    try:
        yield endpoint
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def create_table(client: object, name: str) -> None:
    """A window table exactly as ``hms up`` provisions it (pk/sk, on-demand, TTL on expires_at)."""
    from hms.local.provision import ensure_table

    ensure_table(client, name)


@pytest.fixture
def dynamodb(moto_endpoint: str) -> object:
    import boto3

    return boto3.client("dynamodb")


@pytest.fixture
def table(dynamodb: object, request: pytest.FixtureRequest) -> str:
    """A fresh, uniquely named window table for one test."""
    import uuid

    name = f"t-{uuid.uuid4().hex[:12]}"
    create_table(dynamodb, name)
    return name
