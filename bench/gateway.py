"""Gateway throughput and latency under a real load generator (wrk), against raw uvicorn.

Two servers run side by side on free 127.0.0.1 ports, each in its own process tree:

gateway
    ``hms up --no-watch`` (the real CLI: ministack emulator, provisioning, one worker process per window,
    the local gateway) started as a subprocess on a temporary copy of the project's ``routes/``,
    ``functions/`` and ``layers/``, so the working tree's ``.hms`` state is never touched. The token is
    minted with ``DevIssuer`` from that copy's ``.hms`` state and sent as ``Authorization: Bearer``. The
    route is ``GET /api/v1/payments/health``: it needs a token, is not rate limited and does no AWS
    I/O, so the figure is the platform's own cost: uvicorn, the gateway (routing, JWT, event
    building), the pipe to the window's worker, the handler and the way back.

raw uvicorn
    A hello-world ASGI app served by ``hms.local.server.serve`` (the same uvicorn settings as the
    gateway: uvloop + httptools, one worker, no access log) in a ``python -c`` subprocess.

ministack's own API Gateway -> Lambda (peer)
    A Python Lambda hello world behind an HTTP API route, created in the emulator ``hms up`` started
    (``apigatewayv2`` + ``lambda``, reached at ``/_aws/execute-api/{api}/$default/hello``): what a
    developer gets from the emulator alone. Skipped with a note if the emulator cannot run it.

Before anything is measured the gateway route must answer 200 (the bench fails with the body
otherwise). Each case then gets a short wrk warm-up and a timed run with ``--latency`` and a Lua
``done`` hook that prints requests, duration and the p50/p99 in microseconds as one JSON line. Cases:
concurrency 1 (``-t1 -c1``) and 16 (``-t2 -c16``), gateway and raw interleaved. Everything started is
stopped at the end and the ports are checked to be free again.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
TITLE = "gateway vs raw uvicorn under wrk"
ROUTE = "/api/v1/payments/health"
# issue 8's goals, gateway rps / raw uvicorn rps at the same concurrency: >= 0.5 at c=1, >= 0.25 at c=16;
# and the gateway's rps at c=16 at least its rps at c=1 (no fall as concurrency rises)
RATIO_GOALS = {1: 0.5, 16: 0.25}
PEER = "ministack API GW -> Lambda (peer)"
# (label, wrk threads, connections)
CONCURRENCY = ((1, 1), (2, 16))
WRK_MISSING = (
    "bench gateway: wrk (the HTTP load generator) is not installed. Install it with "
    "`apt-get install -y wrk` (Debian/Ubuntu) or `brew install wrk` (macOS); `make bench` tries apt-get itself."
)

# A wrk Lua script whose done() hook prints the figures as one parseable JSON line (latencies in us).
WRK_LUA = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'HMS_WRK {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,'
    .. '"status":%d,"timeout":%d,"p50_us":%.1f,"p90_us":%.1f,"p99_us":%.1f,"mean_us":%.1f,"max_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
"""

# The raw uvicorn baseline: the gateway's own serve() (same uvicorn.Config), a hello-world app.
RAW_SERVER = r"""
import sys
from hms.local.server import serve

BODY = b'{"status":"ok","window":"raw"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


server = serve(app, "127.0.0.1", int(sys.argv[1]))
print(f"HMS_RAW_PORT {server.port}", flush=True)
server.run()
"""


# -- wrk output (tested in tests/unit/test_bench_gateway_smoke.py) ------------------------------------


@dataclass(frozen=True)
class WrkResult:
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int = 0
    socket_errors: int = 0

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_TIME = r"([0-9]+(?:\.[0-9]+)?)(us|ms|s|m|h)"


def to_ms(text: str) -> float:
    """A wrk time (``635.00us``, ``1.23ms``, ``2.00s``, ``1.50m``) in milliseconds."""
    m = re.fullmatch(_TIME, text.strip())
    if m is None:
        raise ValueError(f"not a wrk time: {text!r}")
    return float(m.group(1)) * _UNIT_MS[m.group(2)]


def parse_wrk_text(stdout: str) -> WrkResult:
    """Requests/s, p50 and p99 from wrk's own ``--latency`` report."""
    rps = re.search(r"^Requests/sec:\s+([0-9.]+)", stdout, re.M)
    total = re.search(r"^\s*([0-9]+) requests in ", stdout, re.M)
    p50 = re.search(rf"^\s+50(?:\.0+)?%\s+{_TIME}\s*$", stdout, re.M)
    p99 = re.search(rf"^\s+99(?:\.0+)?%\s+{_TIME}\s*$", stdout, re.M)
    if rps is None or p50 is None or p99 is None:
        raise ValueError("wrk printed no Requests/sec or no latency distribution (was --latency given?)")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+([0-9]+)", stdout)
    sock = re.search(
        r"Socket errors: connect ([0-9]+), read ([0-9]+), write ([0-9]+), timeout ([0-9]+)", stdout
    )
    return WrkResult(
        requests=int(total.group(1)) if total else 0,
        rps=float(rps.group(1)),
        p50_ms=float(p50.group(1)) * _UNIT_MS[p50.group(2)],
        p99_ms=float(p99.group(1)) * _UNIT_MS[p99.group(2)],
        non_2xx=int(non2xx.group(1)) if non2xx else 0,
        socket_errors=sum(int(g) for g in sock.groups()) if sock else 0,
    )


def parse_wrk_lua(stdout: str) -> WrkResult | None:
    """The figures from the ``HMS_WRK {json}`` line of the done() hook, or None without one."""
    for line in reversed(stdout.splitlines()):
        if line.startswith("HMS_WRK "):
            d: dict[str, Any] = json.loads(line[len("HMS_WRK ") :])
            seconds = d["duration_us"] / 1e6
            if seconds <= 0:
                raise ValueError("wrk reported a zero duration")
            return WrkResult(
                requests=int(d["requests"]),
                rps=d["requests"] / seconds,
                p50_ms=d["p50_us"] / 1000.0,
                p99_ms=d["p99_us"] / 1000.0,
                non_2xx=int(d["status"]),
                socket_errors=int(d["connect"] + d["read"] + d["write"] + d["timeout"]),
            )
    return None


def parse_wrk(stdout: str) -> WrkResult:
    """The Lua hook's line when present (microsecond percentiles), else wrk's text report."""
    return parse_wrk_lua(stdout) or parse_wrk_text(stdout)


def rps_ratio(gateway_rps: float, raw_rps: float) -> float:
    if raw_rps <= 0:
        raise ValueError("the raw uvicorn case served no requests")
    return gateway_rps / raw_rps


def wrk_command(
    url: str, threads: int, connections: int, seconds: float, script: Path | None, headers: list[str]
) -> list[str]:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency", "--timeout", "2s"]
    if script is not None:
        cmd += ["-s", str(script)]
    for h in headers:
        cmd += ["-H", h]
    return [*cmd, url]


# -- processes ----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (Linux /proc; elsewhere none), deepest last."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def get(url: str, token: str | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


@dataclass
class Started:
    """A process this bench started, the pids under it (recorded while it ran) and its log file."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    tree: tuple[int, ...] = ()

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self, grace: float = 10.0) -> list[int]:
        """SIGTERM (an orderly shutdown for `hms up` and uvicorn), then SIGKILL by pid for anything left.

        SIGTERM rather than SIGINT: a shell running ``make bench`` in the background starts its children
        with SIGINT ignored.

        Returns the pids that had to be killed."""
        self.tree = tuple(sorted(set(self.tree) | set(descendants(self.proc.pid))))
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        killed = []
        deadline = time.monotonic() + 3.0
        for pid in self.tree:
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
        return killed


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "HMS_", "POWERTOOLS_"))}
    env.pop("PYTHONPATH", None)
    return env


def copy_project(dest: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".mypy_cache")
    for part in ("routes", "functions", "layers"):
        shutil.copytree(ROOT / part, dest / part, ignore=ignore)
    return dest


def start_hms_up(
    root: Path,
    port: int,
    aws_port: int,
    *,
    workers: int = 1,
    env: Mapping[str, str] | None = None,
    ready: Callable[[dict[str, Any]], bool] = lambda health: True,
    timeout: float = 60.0,
) -> Started:
    """``hms up --no-watch`` on ``root``, once every window is ready and ``ready(health)`` holds."""
    log = root / "hms-up.log"
    cmd = [
        sys.executable, "-m", "hms.cli", "--root", str(root), "up",
        "--port", str(port), "--aws-port", str(aws_port), "--no-watch", "--workers", str(workers),
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=root,
            env={**child_env(), **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
    started = Started("hms up", proc, log)
    url = f"http://127.0.0.1:{port}/_hms/health"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"`hms up` exited with code {proc.returncode} during start-up:\n{started.log_tail()}"
            )
        with contextlib.suppress(OSError, ValueError):
            status, body = get(url, timeout=1.0)
            if status == 200:
                health = json.loads(body)
                windows = health.get("windows", [])
                if windows and all(w["state"] in ("ready", "busy") for w in windows) and ready(health):
                    started.tree = tuple(descendants(proc.pid))
                    return started
        time.sleep(0.1)
    started.stop()
    raise RuntimeError(f"`hms up` was not ready within {timeout:.0f}s:\n{started.log_tail()}")


def clean_up(started: Sequence[Started], ports: Mapping[str, int]) -> list[str]:
    """Stop what was started, last first; what went wrong (pids that had to be killed, ports still
    listening), for the bench to print."""
    problems = []
    for s in reversed(started):
        killed = s.stop()
        if killed:
            problems.append(f"{s.name}: had to SIGKILL pids {killed}")
    taken = [f"{name} {port}" for name, port in ports.items() if not port_is_free(port)]
    if taken:
        problems.append(f"still listening on 127.0.0.1: {', '.join(taken)}")
    return problems


def start_raw(workdir: Path, port: int, timeout: float = 20.0) -> Started:
    log = workdir / "raw-uvicorn.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", RAW_SERVER, str(port)],
            env=child_env(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
    started = Started("raw uvicorn", proc, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"raw uvicorn exited with code {proc.returncode}:\n{started.log_tail()}")
        with contextlib.suppress(OSError):
            if get(f"http://127.0.0.1:{port}/", timeout=1.0)[0] == 200:
                return started
        time.sleep(0.05)
    started.stop()
    raise RuntimeError(f"raw uvicorn did not answer within {timeout:.0f}s:\n{started.log_tail()}")


PEER_HANDLER = (
    "def handler(event, context):\n"
    "    return {'statusCode': 200, 'headers': {'content-type': 'text/plain'}, 'body': 'hello'}\n"
)


def start_peer(endpoint: str, timeout: float = 30.0) -> str:
    """A Python hello-world Lambda behind an HTTP API route in the emulator at ``endpoint``; its URL."""
    import io
    import zipfile

    import boto3

    kw = {"endpoint_url": endpoint, "region_name": "us-east-1"}
    kw |= {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("app.py", PEER_HANDLER)
    lam, api_gw = boto3.client("lambda", **kw), boto3.client("apigatewayv2", **kw)
    fn = lam.create_function(
        FunctionName="bench-peer-hello",
        Runtime="python3.12",
        Role="arn:aws:iam::000000000000:role/bench-peer",
        Handler="app.handler",
        Code={"ZipFile": code.getvalue()},
    )
    api = api_gw.create_api(Name="bench-peer", ProtocolType="HTTP")
    integration = api_gw.create_integration(
        ApiId=api["ApiId"],
        IntegrationType="AWS_PROXY",
        IntegrationUri=fn["FunctionArn"],
        PayloadFormatVersion="2.0",
    )
    api_gw.create_route(
        ApiId=api["ApiId"], RouteKey="GET /hello", Target=f"integrations/{integration['IntegrationId']}"
    )
    api_gw.create_stage(ApiId=api["ApiId"], StageName="$default", AutoDeploy=True)
    url = f"{endpoint}/_aws/execute-api/{api['ApiId']}/$default/hello"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if get(url, timeout=10.0)[0] == 200:
                return url
        time.sleep(0.2)
    raise RuntimeError(f"the peer Lambda at {url} did not answer 200 within {timeout:.0f}s")


@contextlib.contextmanager
def servers(workers: int, console: Console) -> Iterator[tuple[str, str, str, str | None]]:
    """(gateway URL, token, raw uvicorn URL, peer URL or None) while they run; afterwards nothing is
    left listening."""
    ports = {"gateway": free_port(), "emulator": free_port(), "raw uvicorn": free_port()}
    started: list[Started] = []
    with tempfile.TemporaryDirectory(prefix="hms-bench-gw-") as tmp:
        root = copy_project(Path(tmp))
        try:
            with console.status("gateway bench: starting `hms up` and raw uvicorn"):
                started.append(start_hms_up(root, ports["gateway"], ports["emulator"], workers=workers))
                started.append(start_raw(root, ports["raw uvicorn"]))
            from hms.local.devauth import DevIssuer

            token = DevIssuer(root / ".hms").mint("bench-citizen", ["payments.read"], ttl=600)
            peer: str | None = None
            try:
                with console.status("gateway bench: the peer Lambda in the emulator"):
                    peer = start_peer(f"http://127.0.0.1:{ports['emulator']}")
            except Exception as exc:  # the peer row is optional: say why it is missing
                console.print(f"[yellow]gateway bench: no peer row ({type(exc).__name__}: {exc})[/]")
            yield (
                f"http://127.0.0.1:{ports['gateway']}{ROUTE}",
                token,
                f"http://127.0.0.1:{ports['raw uvicorn']}/",
                peer,
            )
        finally:
            problems = clean_up(started, ports)
            if problems:
                console.print(f"[red]gateway bench clean-up: {'; '.join(problems)}[/]")


# -- measuring -------------------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    threads: int
    connections: int
    result: WrkResult | None = None


def run_wrk(
    url: str, threads: int, connections: int, seconds: float, script: Path, headers: list[str]
) -> WrkResult:
    cmd = wrk_command(url, threads, connections, seconds, script, headers)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 20)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk exited with {proc.returncode}: {proc.stderr.strip() or proc.stdout.strip()}")
    return parse_wrk(proc.stdout)


def preflight(url: str, token: str) -> None:
    """The gateway route must answer 200 with the token (and 401 without) before anything is timed."""
    status, body = get(url, token)
    if status != 200:
        raise RuntimeError(
            f"gateway preflight: GET {url} answered {status}, not 200; body:\n{body.decode(errors='replace')}"
        )
    status, body = get(url)
    if status != 401:
        raise RuntimeError(f"gateway preflight: GET {url} without a token answered {status}, not 401")


def measure(args: argparse.Namespace, console: Console) -> list[Case]:
    if shutil.which("wrk") is None:
        raise SystemExit(WRK_MISSING)
    cases: list[Case] = []
    with (
        servers(args.gateway_workers, console) as (gw_url, token, raw_url, peer_url),
        tempfile.TemporaryDirectory() as tmp,
    ):
        script = Path(tmp, "done.lua")
        script.write_text(WRK_LUA)
        preflight(gw_url, token)
        auth = [f"Authorization: Bearer {token}"]
        plan = []
        for threads, conns in CONCURRENCY:
            plan.append((Case("gateway (hms up)", threads, conns), gw_url, auth))
            plan.append((Case("raw uvicorn", threads, conns), raw_url, []))
            if peer_url is not None:
                plan.append((Case(PEER, threads, conns), peer_url, []))
        for i, (case, url, headers) in enumerate(plan, 1):
            label = f"{case.name}, -t{case.threads} -c{case.connections}"
            with console.status(f"gateway bench {i}/{len(plan)}: {label}"):
                if args.gateway_warmup > 0:
                    run_wrk(url, case.threads, case.connections, args.gateway_warmup, script, headers)
                case.result = run_wrk(
                    url, case.threads, case.connections, args.gateway_seconds, script, headers
                )
            if case.result.errors:
                console.print(
                    f"[red]{label}: {case.result.non_2xx} non-2xx, {case.result.socket_errors} socket errors[/]"
                )
            cases.append(case)
    return cases


def table(cases: list[Case], args: argparse.Namespace) -> Table:
    goals = ", ".join(f"c={c}: >= {g:g}x" for c, g in RATIO_GOALS.items())
    t = Table(
        title=f"GET {ROUTE} through `hms up` vs raw uvicorn hello-world, wrk {args.gateway_seconds:g}s per case "
        f"(goals, gateway/raw rps: {goals}; gateway rps at c=16 >= at c=1)",
        caption=f"wrk --latency, {args.gateway_warmup:g}s warm-up per case; p50/p99 from wrk's done() hook; "
        f"{os.cpu_count()} CPUs shared by wrk and the servers; hms up --workers {args.gateway_workers}",
    )
    for col in (
        "case",
        "concurrency",
        "requests",
        "rps",
        "p50 ms",
        "p99 ms",
        "errors",
        "/raw rps",
        "gateway/peer",
        "",
    ):
        t.add_column(col, justify="left" if col in ("case", "concurrency") else "right")
    raw = {c.connections: c.result for c in cases if c.name == "raw uvicorn"}
    gateway = {c.connections: c.result for c in cases if c.name == "gateway (hms up)"}
    peer = {c.connections: c.result for c in cases if c.name == PEER}
    rising = len(gateway) < 2 or gateway[max(gateway)].rps >= gateway[min(gateway)].rps  # type: ignore[union-attr]
    for c in cases:
        r = c.result
        assert r is not None
        ratio_cell = peer_cell = verdict_cell = ""
        base = raw.get(c.connections)
        if c.name != "raw uvicorn" and base is not None:
            rr = rps_ratio(r.rps, base.rps)
            ratio_cell = f"{rr:.2f}x" if rr >= 0.1 else f"{rr:.3f}x"
            if c.name == "gateway (hms up)":
                ok = rr >= RATIO_GOALS.get(c.connections, 0.0) and (c.connections == min(gateway) or rising)
                verdict_cell = "[green]ok[/]" if ok else "[red]under goal[/]"
        other = peer.get(c.connections)
        if c.name == "gateway (hms up)" and other is not None and other.rps > 0:
            peer_cell = f"{r.rps / other.rps:,.0f}x"
        t.add_row(
            c.name,
            f"{c.connections} (-t{c.threads} -c{c.connections})",
            f"{r.requests}",
            f"{r.rps:,.0f}",
            f"{r.p50_ms:.3f}",
            f"{r.p99_ms:.3f}",
            f"[red]{r.errors}[/]" if r.errors else "0",
            ratio_cell,
            peer_cell,
            verdict_cell,
        )
    return t


# -- entry -----------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--gateway-seconds", type=float, default=5.0, help="wrk duration per case (default 5)"
    )
    parser.add_argument(
        "--gateway-warmup",
        type=float,
        default=3.0,
        help="wrk warm-up per case (default 3: long enough for the window to scale out to its environments)",
    )
    parser.add_argument(
        "--gateway-workers", type=int, default=1, help="hms up --workers for the gateway bench (default 1)"
    )


def run(args: argparse.Namespace, console: Console) -> list[Table]:
    if args.gateway_seconds <= 0:
        raise SystemExit("--gateway-seconds must be positive")
    return [table(measure(args, console), args)]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    console = Console()
    for t in run(parser.parse_args(), console):
        console.print(t)
