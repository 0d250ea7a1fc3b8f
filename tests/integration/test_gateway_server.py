"""The local gateway under real uvicorn on a loopback port, driven over HTTP keep-alive."""

from __future__ import annotations

import ssl
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from hms.local.gateway import Gateway
from hms.local.routing import RouteTable
from hms.local.server import GatewayServer, PortInUseError, serve
from hms.model import Route, Window

pytestmark = pytest.mark.integration

HELLO = Window(
    name="hello",
    manifest_file="routes/hello.yaml",
    uri="/api/v1/hello/**",
    prefix="/api/v1/hello",
    routes=(
        Route("GET", "/api/v1/hello/{name}", (), False, True),
        Route("POST", "/api/v1/hello", (), True, True),
    ),
    proxy=False,
    scopes=(),
    rate_limit=None,
    throttle=None,
    framework="powertools",
    payload_version="2.0",
    timeout=5,
    memory=256,
    bucket=False,
    code_dir="functions/hello",
)


class EchoInvoker:
    async def invoke(self, window_name: str, event: dict[str, Any], *, timeout: float) -> Any:
        name = (event.get("pathParameters") or {}).get("name", "?")
        if name == "nobody":
            return {"statusCode": 204, "body": "dropped"}
        return {"statusCode": 200, "headers": {"content-type": "text/plain"}, "body": f"hello {name}"}


class RefuseAll:
    def verify(self, token: str) -> dict[str, Any]:
        raise ValueError("no tokens here")


@contextmanager
def running(srv: GatewayServer) -> Iterator[GatewayServer]:
    """``srv`` served from a thread until the block ends."""
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not srv.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the gateway did not start"
            time.sleep(0.01)
        yield srv
    finally:
        srv.should_exit = True
        thread.join(10)


def hello_gateway(**kw: Any) -> Gateway:
    routes = RouteTable([(HELLO, r) for r in HELLO.routes])
    return Gateway(lambda: routes, EchoInvoker(), RefuseAll(), log=lambda line: None, **kw)


@pytest.fixture(scope="module")
def server() -> Iterator[GatewayServer]:
    with running(serve(hello_gateway(max_body=1024), "127.0.0.1", 0)) as srv:
        yield srv


def test_keep_alive_requests_answer_without_nagle_stalls(server: GatewayServer) -> None:
    with httpx.Client(base_url=server.url) as client:
        client.get("/api/v1/hello/warm")
        took = []
        for i in range(50):
            t = time.perf_counter()
            r = client.get(f"/api/v1/hello/n{i}")
            took.append(time.perf_counter() - t)
            assert (r.status_code, r.text) == (200, f"hello n{i}")
        # one connection throughout
        assert r.headers["apigw-requestid"] == r.headers["x-request-id"]
    median_ms = statistics.median(took) * 1000
    assert median_ms < 10, f"median {median_ms:.1f} ms: a delayed-ACK/Nagle stall is 40 ms"


def test_post_bodies_and_problems_over_the_wire(server: GatewayServer) -> None:
    with httpx.Client(base_url=server.url) as client:
        r = client.post("/api/v1/hello", content=b"{}", headers={"authorization": "Bearer x"})
        assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
        assert 'error="invalid_token"' in r.headers["www-authenticate"]
        r = client.post("/api/v1/hello", content=b"x" * 5000)
        assert r.status_code == 413
        r = client.get("/_hms/health")
        assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_a_no_content_answer_leaves_the_connection_usable(server: GatewayServer) -> None:
    with httpx.Client(base_url=server.url) as client:
        r = client.get("/api/v1/hello/nobody")
        assert (r.status_code, r.content) == (204, b"")
        assert client.get("/api/v1/hello/again").text == "hello again"


def test_a_taken_port_fails_fast_with_a_clear_error(server: GatewayServer) -> None:
    with pytest.raises(PortInUseError, match=f"127.0.0.1:{server.port} is already in use"):
        serve(lambda scope, receive, send: None, "127.0.0.1", server.port)  # type: ignore[arg-type,return-value]


def test_only_loopback_addresses_are_served() -> None:
    with pytest.raises(ValueError, match="loopback"):
        serve(lambda scope, receive, send: None, "0.0.0.0", 0)  # type: ignore[arg-type,return-value]


def test_https_with_the_local_certificate(tmp_path: Path) -> None:
    from hms.local.tls import ensure_certificates

    ca, cert, key = ensure_certificates(tmp_path)
    srv = serve(hello_gateway(), "127.0.0.1", 0, ssl_certfile=str(cert), ssl_keyfile=str(key))
    assert srv.url.startswith("https://127.0.0.1:")
    with (
        running(srv),
        httpx.Client(base_url=srv.url, verify=ssl.create_default_context(cafile=str(ca))) as client,
    ):
        r = client.get("/api/v1/hello/tls")
        assert (r.status_code, r.text) == (200, "hello tls")
        assert client.get("/api/v1/hello/tls").headers["x-request-id"]


def test_keep_alive_has_no_nagle_stall_on_the_plain_asyncio_loop_either() -> None:
    """asyncio sets TCP_NODELAY only on sockets whose proto is TCP: a socket made with proto 0 stalled
    every keep-alive answer 44 ms under `asyncio.run` (uvloop hid it)."""
    import asyncio

    srv = serve(hello_gateway(), "127.0.0.1", 0)
    thread = threading.Thread(target=lambda: asyncio.run(srv.serve()), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not srv.started:
            assert thread.is_alive() and time.monotonic() < deadline
            time.sleep(0.01)
        with httpx.Client(base_url=srv.url) as client:
            client.get("/api/v1/hello/warm")
            took = []
            for i in range(30):
                t = time.perf_counter()
                assert client.get(f"/api/v1/hello/n{i}").status_code == 200
                took.append(time.perf_counter() - t)
        median_ms = statistics.median(took) * 1000
        assert median_ms < 10, f"median {median_ms:.1f} ms: a delayed-ACK/Nagle stall is 40 ms"
    finally:
        srv.should_exit = True
        thread.join(10)
