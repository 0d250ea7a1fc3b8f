"""Serve the local gateway with uvicorn: uvloop + httptools, no access log, loopback only.

``serve`` binds the listening socket itself, before uvicorn starts, so a taken port fails at once with
``PortInUseError`` (uvicorn alone logs the error and calls ``sys.exit``). The socket is handed to
uvicorn, which sets ``TCP_NODELAY`` on every accepted connection (asyncio and uvloop both do), so a
keep-alive client never waits on Nagle's algorithm.
"""

from __future__ import annotations

import errno
import importlib.util
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn

ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]

LOOPBACK = ("127.0.0.1", "::1", "localhost")


class PortInUseError(OSError):
    """The gateway's port is taken by another process."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(
            errno.EADDRINUSE,
            f"{host}:{port} is already in use; stop the other process (`lsof -i :{port}` names it) "
            f"or choose another port",
        )
        self.host = host
        self.port = port


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: a free one), or ``PortInUseError``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only when the socket's
    # proto says TCP; with proto 0 every keep-alive answer written in two parts stalled 44 ms (Nagle
    # plus delayed ACK). TCP_NODELAY on the listener is inherited by accepted sockets on Linux too.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT leftovers only
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(host, port) from exc
        raise
    sock.setblocking(False)
    return sock


def check_port_free(host: str, port: int) -> None:
    """Raise ``PortInUseError`` when ``host:port`` cannot be bound right now."""
    bind(host, port).close()


class GatewayServer(uvicorn.Server):
    """A uvicorn server that serves on a socket bound up front (``port`` is the real one, even for 0)."""

    def __init__(self, config: uvicorn.Config, sock: socket.socket) -> None:
        super().__init__(config)
        self.socket = sock
        self.host: str = sock.getsockname()[0]
        self.port: int = sock.getsockname()[1]

    @property
    def url(self) -> str:
        scheme = "https" if self.config.ssl_certfile else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        await super().serve(sockets=sockets or [self.socket])

    def close(self) -> None:
        """Release the socket of a server that was never run."""
        self.socket.close()


def serve(
    app: ASGIApp,
    host: str = "127.0.0.1",
    port: int = 3000,
    *,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    allow_remote: bool = False,
) -> GatewayServer:
    """A ready-to-run uvicorn server for ``app`` (``await server.serve()`` or ``server.run()``).

    The port is bound here: ``PortInUseError`` is raised now, not when the server starts. Only
    loopback addresses are accepted unless ``allow_remote``.
    """
    if host not in LOOPBACK and not host.startswith("127.") and not allow_remote:
        raise ValueError(f"the local gateway binds loopback addresses only, not {host!r}")
    sock = bind(host, port)
    config = uvicorn.Config(
        app,
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        http="httptools" if importlib.util.find_spec("httptools") else "h11",
        lifespan="off",
        access_log=False,
        log_level="warning",
        proxy_headers=False,  # sourceIp is the peer address, never a client-sent X-Forwarded-For
        server_header=False,
        date_header=True,
        backlog=2048,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=3,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
    )
    return GatewayServer(config, sock)
