"""Shared fixtures. The emulators (ministack, the default, and moto server) on 127.0.0.1, one each per
test session, started when a test first asks for one."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import EMULATORS, ROOT, Side, aws_environment, free_port
from support.kit import FakeClock, PassThroughIdempotency

# Each window's code directory is on sys.path, as /var/task is in Lambda.
for _code_dir in sorted((ROOT / "functions").iterdir()):
    if _code_dir.is_dir() and str(_code_dir) not in sys.path:
        sys.path.insert(0, str(_code_dir))


@pytest.fixture
def clock() -> FakeClock:
    """A clock that moves only when a test says so."""
    return FakeClock()


@pytest.fixture
def idem() -> PassThroughIdempotency:
    """An idempotency that always computes and records what it was asked."""
    return PassThroughIdempotency()


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto server on a free loopback port (in this process, on a thread)."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def ministack_server() -> Iterator[str]:
    """ministack, ``hms up``'s default emulator, from its own virtualenv on a free loopback port."""
    from hms.local.emulator import start_ministack

    with start_ministack(free_port()) as emulator:
        yield emulator.endpoint


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("both_emulators") and "aws_endpoint" in metafunc.fixturenames:
        metafunc.parametrize("aws_endpoint", EMULATORS, indirect=True)


@pytest.fixture
def aws_endpoint(request: pytest.FixtureRequest) -> Iterator[str]:
    """The emulator of this test: ministack (the default ``hms up`` runs) unless the test is
    parametrized over ``EMULATORS`` (``@both_emulators``), as the adapter tests are, so that a
    behaviour difference between the two is a failing test. AWS_ENDPOINT_URL points boto3 at it."""
    name = getattr(request, "param", EMULATORS[0])
    endpoint = request.getfixturevalue(f"{name}_server")
    with aws_environment(endpoint):
        yield endpoint


@pytest.fixture
def moto_endpoint(moto_server: str) -> Iterator[str]:
    """moto, for a test about moto itself; AWS_ENDPOINT_URL points boto3 at it."""
    with aws_environment(moto_server):
        yield moto_server


def create_table(client: object, name: str) -> None:
    """A window table exactly as ``hms up`` provisions it (pk/sk, on-demand, TTL on expires_at)."""
    from hms.local.provision import ensure_table

    ensure_table(client, name)


@pytest.fixture
def dynamodb(aws_endpoint: str) -> object:
    import boto3

    return boto3.client("dynamodb")


@pytest.fixture
def table(dynamodb: object, request: pytest.FixtureRequest) -> str:
    """A fresh, uniquely named window table for one test."""
    import uuid

    name = f"t-{uuid.uuid4().hex[:12]}"
    create_table(dynamodb, name)
    return name


@pytest.fixture(params=("memory", *EMULATORS))
def side(request: pytest.FixtureRequest) -> Iterator[Side]:
    """Runs a port's contract suite against its in-memory fake and its adapter on both emulators,
    so that the fake cannot drift from the adapter it stands for."""
    if request.param == "memory":
        yield Side("memory")
        return
    import uuid

    import boto3

    with aws_environment(request.getfixturevalue(f"{request.param}_server")):
        client = boto3.client("dynamodb")
        name = f"t-{uuid.uuid4().hex[:12]}"
        create_table(client, name)
        yield Side(request.param, client, name)
