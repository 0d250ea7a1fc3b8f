"""The AWS emulator: an embedded moto server (a subprocess) or an external endpoint (LocalStack)."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

DEFAULT_REGION = "us-east-1"


class EmulatorError(Exception):
    """The emulator could not be started or reached."""


def aws_env(endpoint: str) -> dict[str, str]:
    """Environment that points boto3 (any process) at ``endpoint`` with dummy credentials."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": DEFAULT_REGION,
        "AWS_REGION": DEFAULT_REGION,
        "AWS_DISABLE_HOST_PREFIX_INJECTION": "true",
    }


def resolve_endpoint(arg: str | None) -> str | None:
    """The external endpoint the user asked for, or ``None`` for the embedded moto server.

    An explicit URL wins; ``"localstack"`` means localstack-client's endpoint (``AWS_ENDPOINT_URL``
    if set, else ``LOCALSTACK_HOST``, else http://localhost:4566); otherwise ``AWS_ENDPOINT_URL``.
    """
    if arg:
        if arg.lower() == "localstack":
            from localstack_client.config import get_service_endpoint

            url = get_service_endpoint("s3")
            if not url:
                raise EmulatorError("localstack-client gave no endpoint")
            return str(url).rstrip("/")
        if not arg.startswith(("http://", "https://")):
            raise EmulatorError(f"endpoint {arg!r} is neither a URL (http://...) nor 'localstack'")
        return arg.rstrip("/")
    env = os.environ.get("AWS_ENDPOINT_URL")
    return env.rstrip("/") if env else None


def check_port_free(host: str, port: int) -> None:
    """Raise ``EmulatorError`` when ``host:port`` cannot be bound (something already listens)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # as the server will: TIME_WAIT leftovers do not count as taken, a listener does
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise EmulatorError(
                    f"port {port} on {host} is already in use: stop what listens there or pick another port"
                ) from exc
            raise EmulatorError(f"cannot bind {host}:{port}: {exc}") from exc


@dataclass
class EmbeddedEmulator:
    """A moto server subprocess on ``host:port``."""

    host: str
    port: int
    process: subprocess.Popen[bytes] = field(repr=False)

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the server (then kill it if it lingers) and reap it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> EmbeddedEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=0.5) as resp:  # noqa: S310 - loopback URL we built
            return int(resp.status) < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except (OSError, ValueError):
        return False


def start_moto(port: int, host: str = "127.0.0.1", *, startup_timeout: float = 20.0) -> EmbeddedEmulator:
    """Start ``moto.server`` as a subprocess and wait until it answers.

    Raises ``EmulatorError`` at once if the port is taken, and if the server exits or does not answer
    within ``startup_timeout`` seconds (with its stderr tail).
    """
    check_port_free(host, port)
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # Ctrl-C on the terminal reaches the CLI, which stops us in order
    )
    emulator = EmbeddedEmulator(host=host, port=port, process=proc)
    probe = f"{emulator.endpoint}/moto-api/"
    deadline = time.monotonic() + startup_timeout
    delay = 0.02
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace")[-2000:] if proc.stderr else ""
            emulator.stop()
            raise EmulatorError(f"moto server exited with code {proc.returncode} during start-up:\n{err}")
        if _answers(probe):
            # moto writes a request log line to stderr per call: drain it so the pipe never fills
            _drain(proc)
            return emulator
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
    emulator.stop()
    raise EmulatorError(f"moto server did not answer on {probe} within {startup_timeout:.0f}s")


def _drain(proc: subprocess.Popen[bytes]) -> None:
    import threading

    stream = proc.stderr
    if stream is None:
        return

    def run() -> None:
        try:
            while stream.read(65536):
                pass
        except (OSError, ValueError):
            pass
        finally:
            stream.close()

    threading.Thread(target=run, name="moto-stderr", daemon=True).start()
