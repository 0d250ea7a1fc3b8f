"""The AWS emulator: an embedded server (a subprocess) or an external endpoint (LocalStack).

Two embedded emulators:

* ``ministack`` (the default): constant cost per call whatever the data size, bounded memory, and
  numbers normalised as DynamoDB does (``12.50`` reads back ``12.5``). It pins its own botocore, so
  it runs from its own virtualenv (``.venv-ministack``, made by ``make venv`` from
  ``requirements-ministack.lock``) or the interpreter ``HMS_MINISTACK_PYTHON`` names.
* ``moto``: moto server from ``.venv`` (its TransactWriteItems cost grows with the items stored).
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_REGION = "us-east-1"
EMULATORS = ("ministack", "moto")
DEFAULT_EMULATOR = "ministack"
MINISTACK_VENV = ".venv-ministack"


LONG_POLL_TICK = 0.02  # seconds between ministack's looks at an empty queue during a long poll

# ministack's own entry point serves its ASGI app with hypercorn and h11 (pure Python); uvicorn with
# httptools and uvloop (in requirements-ministack.txt) serves the same app for about half the CPU per
# call (bench/emulator.py). An interpreter without them (HMS_MINISTACK_PYTHON) gets ministack's own.
#
# ministack's SQS long poll looks at the queue every 100 ms, so a message waits 50 ms (p50) before a
# long-polling consumer sees it, where SQS answers a long poll as soon as a message arrives: the
# launcher makes that tick 20 ms (``LONG_POLL_TICK``), for a few hundred cheap wake-ups a second.
MINISTACK_LAUNCHER = """
import asyncio, resource, sys, types
host, port, tick = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
try:  # as ministack's own entry point: connection bursts must not hit a soft limit of 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
except (ValueError, OSError):  # an unlimited hard limit (macOS) cannot be the soft one
    pass
try:
    from ministack.services import sqs
except ImportError:
    sys.stderr.write("hms: ministack.services.sqs not found; its long poll keeps its own tick\\n")
else:
    class _Asyncio(types.ModuleType):
        def __getattr__(self, name):
            return getattr(asyncio, name)

    async def _sleep(delay, result=None):
        return await asyncio.sleep(min(delay, tick), result)

    sqs.asyncio = _Asyncio("asyncio")
    sqs.asyncio.sleep = _sleep
try:
    import httptools, uvicorn
except ImportError:
    from ministack.app import main
    sys.argv = ["ministack"]
    main()
else:
    try:
        import uvloop
        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    uvicorn.run(
        "ministack.app:app", host=host, port=port, http="httptools", loop=loop, lifespan="on",
        log_level="warning", access_log=False, timeout_keep_alive=75,
    )
"""


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
    """An emulator subprocess (``kind``: ministack or moto) on ``host:port``."""

    host: str
    port: int
    process: subprocess.Popen[bytes] = field(repr=False)
    kind: str = "moto"
    probe_path: str = "/"

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Wait until the emulator answers; ``EmulatorError`` (and the process stopped) if it exits
        first, with its stderr tail, or does not answer within ``timeout`` seconds."""
        proc = self.process
        probe = f"{self.endpoint}{self.probe_path}"
        deadline = time.monotonic() + timeout
        delay = 0.02
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace")[-2000:] if proc.stderr else ""
                self.stop()
                raise EmulatorError(f"{self.kind} exited with code {proc.returncode} during start-up:\n{err}")
            if _answers(probe):
                # the emulator may log to stderr: drain it so the pipe never fills
                _drain(proc)
                return
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
        self.stop()
        raise EmulatorError(f"{self.kind} did not answer on {probe} within {timeout:.0f}s")

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


def ministack_python(env: Mapping[str, str] | None = None) -> str:
    """The interpreter of ministack's own virtualenv: ``HMS_MINISTACK_PYTHON``, else the project's
    ``.venv-ministack`` (next to ``infra/``). Raises ``EmulatorError`` naming the fix when missing."""
    named = (os.environ if env is None else env).get("HMS_MINISTACK_PYTHON")
    if named:
        if not Path(named).is_file():
            raise EmulatorError(f"HMS_MINISTACK_PYTHON={named} is not a file")
        return named
    candidate = Path(__file__).resolve().parents[3] / MINISTACK_VENV / "bin" / "python"
    if candidate.is_file():
        return str(candidate)
    raise EmulatorError(
        f"ministack is not installed ({candidate} is missing): run `make venv`, which creates "
        f"{MINISTACK_VENV} from requirements-ministack.lock, or pass --emulator moto"
    )


def _command(kind: str, host: str, port: int) -> tuple[list[str], dict[str, str], str]:
    """The command line, environment and readiness probe URL of an embedded emulator."""
    if kind == "moto":
        return (
            [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)],
            dict(os.environ),
            "/moto-api/",
        )
    if kind == "ministack":
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON"))}
        env.update(
            {
                "GATEWAY_PORT": str(port),
                "BIND_HOST": host,
                "MINISTACK_HOST": host,
                "MINISTACK_REGION": DEFAULT_REGION,
                "LOG_LEVEL": "WARNING",  # no access log line per call
                "S3_PERSIST": "0",
            }
        )
        launch = [ministack_python(), "-c", MINISTACK_LAUNCHER, host, str(port), str(LONG_POLL_TICK)]
        return launch, env, "/_ministack/health"
    raise EmulatorError(f"unknown emulator {kind!r}: choose one of {', '.join(EMULATORS)}")


def spawn_emulator(kind: str, port: int, host: str = "127.0.0.1") -> EmbeddedEmulator:
    """Start the embedded emulator ``kind`` as a subprocess without waiting for it to answer
    (``EmbeddedEmulator.wait_ready``): ``hms up`` cold-starts the windows meanwhile.

    Raises ``EmulatorError`` at once if the port is taken or the emulator is not installed.
    """
    check_port_free(host, port)
    args, env, probe_path = _command(kind, host, port)
    proc = subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,  # Ctrl-C on the terminal reaches the CLI, which stops us in order
    )
    return EmbeddedEmulator(host=host, port=port, process=proc, kind=kind, probe_path=probe_path)


def start_emulator(
    kind: str, port: int, host: str = "127.0.0.1", *, startup_timeout: float = 20.0
) -> EmbeddedEmulator:
    """Start the embedded emulator ``kind`` as a subprocess and wait until it answers.

    Raises ``EmulatorError`` at once if the port is taken or the emulator is not installed, and if
    the server exits or does not answer within ``startup_timeout`` seconds (with its stderr tail).
    """
    emulator = spawn_emulator(kind, port, host)
    emulator.wait_ready(startup_timeout)
    return emulator


def start_moto(port: int, host: str = "127.0.0.1", *, startup_timeout: float = 20.0) -> EmbeddedEmulator:
    """Start ``moto.server`` as a subprocess (see ``start_emulator``)."""
    return start_emulator("moto", port, host, startup_timeout=startup_timeout)


def start_ministack(port: int, host: str = "127.0.0.1", *, startup_timeout: float = 20.0) -> EmbeddedEmulator:
    """Start ministack from its own virtualenv as a subprocess (see ``start_emulator``)."""
    return start_emulator("ministack", port, host, startup_timeout=startup_timeout)


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

    threading.Thread(target=run, name="emulator-stderr", daemon=True).start()
