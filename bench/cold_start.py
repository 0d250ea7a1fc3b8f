"""Cold start per window against the same-run floor, and the warm per-request platform tax.

Cold start
    For every window of the platform whose framework is Powertools and whose handler module exists,
    N fresh ``python -c`` processes each import the handler module, build deps through the window's
    real ``bootstrap.deps()`` (real boto3 clients) and handle one request: a POST create for
    payments; for documents a GET of an unknown document id (a 404 after the rate-limit UpdateItem
    and a GetItem: a realistic first request, where health would touch neither table nor bucket);
    a GET of the health route for any other window. The emulator is a moto server this
    bench starts on a free 127.0.0.1 port (``AWS_ENDPOINT_URL``); the window tables exist first.

    The headline figure is the WALL TIME OF THE WHOLE CHILD PROCESS, measured in the parent from
    just before spawn to exit: interpreter start-up, imports, deps, the request and teardown. The
    child also reports the time from a ``time.perf_counter()`` taken at the very top of its code to
    the answer ("in-process"), i.e. without interpreter start-up and teardown.

    The FLOOR in the same run is a bare handler module plus ``boto3.client("dynamodb")`` and one
    GetItem to the same moto server. Ratio = window median / floor median (goal <= 1.3).

    Runs are interleaved (floor, window A, window B, floor, ...) after one discarded warm-up each,
    so drift on the machine hits every variant alike and bytecode compilation is not measured.

Warm tax
    In this process: the median time of ``payments.handler.handle(event, ctx, deps)`` for a GET of
    a payment with in-memory fakes (repository, counter, idempotency) minus the median of calling a
    bare function that returns the same dict: routing, auth context, rate-limit logic and
    serialisation, no AWS I/O (goal <= 100 us). A second line does the same through the
    Logger/Metrics ``entrypoint`` wrapper that ``lambda_handler`` uses.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
TITLE = "cold start and warm platform tax"
COLD_GOAL = 1.3
WARM_GOAL_US = 100.0

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_DISABLE_HOST_PREFIX_INJECTION": "true",
}


# -- pure helpers (tested in tests/unit/test_bench_smoke.py) ----------------------------------------


def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("median of no values")
    return float(statistics.median(values))


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0..100), linear interpolation between closest ranks."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile {p} is outside 0..100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    lo, hi = math.floor(rank), math.ceil(rank)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (rank - lo)


def ratio(value: float, baseline: float) -> float:
    if baseline <= 0:
        raise ValueError("baseline must be positive")
    return value / baseline


def verdict(value: float, goal: float) -> str:
    return "[green]ok[/]" if value <= goal else "[red]over[/]"


def child_code(module: str | None, entry: str = "handler") -> str:
    """The ``python -c`` program of one cold-start child.

    ``module`` is a window package (``payments``): import its handler, ``bootstrap.deps()``, handle
    the event from ``HMS_BENCH_EVENT``. ``None`` is the floor: import the bare handler module in
    ``HMS_BENCH_FLOOR_DIR`` and call it (one boto3 client, one GetItem). The child prints one JSON
    line: the answer's status and the in-process milliseconds.
    """
    head = "import time\n_t0 = time.perf_counter()\nimport json, os\n"
    tail = (
        "_ms = (time.perf_counter() - _t0) * 1000\n"
        "print('HMS_BENCH ' + json.dumps({'status': _r['statusCode'], 'ms': _ms}), flush=True)\n"
    )
    if module is None:
        body = (
            "import sys\nsys.path.insert(0, os.environ['HMS_BENCH_FLOOR_DIR'])\n"
            "import bench_floor_handler\n"
            "_r = bench_floor_handler.handler(json.loads(os.environ['HMS_BENCH_EVENT']), None)\n"
        )
    else:
        body = (
            f"from {module} import {entry} as _entry, bootstrap\n"
            "from hmskit.context import LocalContext\n"
            "_r = _entry.handle(json.loads(os.environ['HMS_BENCH_EVENT']), LocalContext(), bootstrap.deps())\n"
        )
    return head + body + tail


FLOOR_MODULE = '''"""The floor: a bare handler with one DynamoDB client and one GetItem."""
import json
import os

import boto3

_client = boto3.client("dynamodb")


def handler(event, context):
    _client.get_item(
        TableName=os.environ["HMS_TABLE_NAME"], Key={"pk": {"S": "bench"}, "sk": {"S": "floor"}}
    )
    return {"statusCode": 200, "body": json.dumps({"ok": True})}
'''


def parse_child_output(stdout: str) -> dict[str, Any]:
    for line in reversed(stdout.splitlines()):
        if line.startswith("HMS_BENCH "):
            result: dict[str, Any] = json.loads(line[len("HMS_BENCH ") :])
            return result
    raise ValueError("the child printed no HMS_BENCH line")


# -- variants ---------------------------------------------------------------------------------------


@dataclass
class Variant:
    name: str
    request: str
    module: str | None  # None: the floor
    env: dict[str, str]
    event: dict[str, Any]
    expect: int
    entry: str = "handler"  # the module with handle(event, context, deps): "app" for Chalice windows
    wall_ms: list[float] = field(default_factory=list)
    inside_ms: list[float] = field(default_factory=list)
    error: str | None = None

    def run_once(self) -> None:
        env = {**self.env, "HMS_BENCH_EVENT": json.dumps(self.event)}
        code = child_code(self.module, self.entry)
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
        )
        wall = (time.perf_counter() - start) * 1000
        if proc.returncode != 0:
            raise RuntimeError(
                f"{self.name}: exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}"
            )
        out = parse_child_output(proc.stdout)
        if out["status"] != self.expect:
            raise RuntimeError(f"{self.name}: answered {out['status']}, expected {self.expect}")
        self.wall_ms.append(wall)
        self.inside_ms.append(float(out["ms"]))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def moto_server() -> Iterator[str]:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no request log on the console
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def create_table(client: Any, name: str) -> None:
    """A window table exactly as ``hms up`` provisions it."""
    from hms.local.provision import ensure_table

    ensure_table(client, name)


def benchable_windows(root: Path) -> list[Any]:
    """Windows whose entry module (handler.py, or app.py for Chalice) exists."""
    sys.path[:0] = [p for p in (str(root / "infra"), str(root / "layers")) if p not in sys.path]
    from hms.model import load_platform

    platform = load_platform(root)
    return [
        w
        for w in platform.windows
        if (root / w.code_dir / w.name / ("app.py" if w.framework == "chalice" else "handler.py")).is_file()
    ]


def window_request(window: Any) -> tuple[str, str, bytes, int]:
    """(method, path, body, expected status): each window's typical first request.

    payments: a POST create (rate-limit UpdateItem + transaction with the outbox row); documents and
    passport: a GET of an unknown id (404: rate-limit UpdateItem + GetItem); notifications: the
    caller's list (UpdateItem + Query); eligibility (Chalice): a check (UpdateItem + the rules);
    any other window: its health route."""
    if window.name == "payments":
        body = json.dumps({"amount": "12.50", "currency": "GBP", "purpose": "passport fee"}).encode()
        return "POST", "/api/v1/payments", body, 201
    if window.name == "documents":
        return "GET", "/api/v1/docs/01KBENCH0000000000000000AA", b"", 404
    if window.name == "passport":
        return "GET", "/api/v1/renewals/01KBENCH0000000000000000AA", b"", 404
    if window.name == "notifications":
        return "GET", "/api/v1/notifications", b"", 200
    if window.name == "eligibility":
        body = json.dumps(
            {
                "full_name": "Ada Lovelace",
                "date_of_birth": "1990-12-10",
                "passport_issued_on": "2017-01-01",
                "passport_expires_on": "2027-01-01",
            }
        ).encode()
        return "POST", "/api/v1/eligibility/check", body, 200
    health = next((r.path for r in window.routes if r.method == "GET" and r.path.endswith("/health")), None)
    if health is None:
        raise LookupError(f"window {window.name} has no GET .../health route to call")
    return "GET", health, b"", 200


def build_event(method: str, path: str, body: bytes, payload_version: str = "2.0") -> dict[str, Any]:
    from hms.apigw import build_v1_event, build_v2_event

    headers = [("content-type", "application/json")] if body else []
    event = build_v2_event(
        method=method,
        path=path,
        route_key=f"{method} {path}",
        headers=headers,
        body=body,
        claims={
            "sub": "bench-citizen",
            "scope": "payments.write payments.read docs.write docs.read renewals.read renewals.write "
            "notifications.read eligibility.check",
        },
        scopes=None,
    )
    return build_v1_event(event, resource=path) if payload_version == "1.0" else event


def measure_cold(root: Path, runs: int, console: Console) -> tuple[list[Variant], str]:
    import boto3

    windows = benchable_windows(root)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("HMS_", "POWERTOOLS_", "AWS_"))}
    base_env.update(AWS_ENV)
    base_env.pop("PYTHONDONTWRITEBYTECODE", None)  # bytecode is cached, as in a built artifact
    with moto_server() as endpoint, tempfile.TemporaryDirectory(prefix="hms-bench-") as floor_dir:
        os.environ.update(AWS_ENV)
        base_env["AWS_ENDPOINT_URL"] = endpoint
        ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        Path(floor_dir, "bench_floor_handler.py").write_text(FLOOR_MODULE)
        create_table(ddb, "hms-bench-floor")
        variants = [
            Variant(
                "floor",
                "bare + boto3 client + GetItem",
                None,
                {**base_env, "HMS_BENCH_FLOOR_DIR": floor_dir, "HMS_TABLE_NAME": "hms-bench-floor"},
                build_event("GET", "/floor", b""),
                200,
            )
        ]
        for w in windows:
            table = w.local_table_name()
            create_table(ddb, table)
            bucket = w.local_bucket_name() if w.bucket else None
            if bucket:
                s3.create_bucket(Bucket=bucket)
            env = {**base_env, **w.environment(table_name=table, bucket_name=bucket)}
            env["PYTHONPATH"] = os.pathsep.join([str(root / w.code_dir), str(root / "layers")])
            method, path, body, expect = window_request(w)
            event = build_event(method, path, body, w.payload_version)
            entry = "app" if w.framework == "chalice" else "handler"
            variants.append(Variant(w.name, f"{method} {path}", w.name, env, event, expect, entry))

        with console.status("cold start: warming up (one discarded run each)") as status:
            for v in variants:
                try:
                    v.run_once()
                except Exception as exc:
                    v.error = str(exc)
                v.wall_ms.clear()
                v.inside_ms.clear()
            for i in range(runs):
                status.update(f"cold start: round {i + 1}/{runs}")
                for v in variants:
                    if v.error is None:
                        try:
                            v.run_once()
                        except Exception as exc:
                            v.error = str(exc)
    return variants, endpoint


def cold_table(variants: list[Variant], runs: int) -> Table:
    floor = variants[0]
    if floor.error:
        raise RuntimeError(f"the floor failed: {floor.error}")
    floor_median = median(floor.wall_ms)
    table = Table(
        title=f"Cold start: whole-process wall time, median of {runs} fresh processes (goal: ratio <= {COLD_GOAL})",
        caption="wall = spawn to exit, measured in the parent; in-process = perf_counter at the top of -c to the answer",
    )
    for col in (
        "variant",
        "request",
        "wall median ms",
        "wall p90 ms",
        "in-process median ms",
        "ratio to floor",
        "",
    ):
        table.add_column(col, justify="left" if col in ("variant", "request") else "right")
    for v in variants:
        if v.error:
            table.add_row(v.name, v.request, "-", "-", "-", "-", f"[red]failed: {v.error[:60]}[/]")
            continue
        wall = median(v.wall_ms)
        r = ratio(wall, floor_median)
        table.add_row(
            v.name,
            v.request,
            f"{wall:.0f}",
            f"{percentile(v.wall_ms, 90):.0f}",
            f"{median(v.inside_ms):.0f}",
            f"{r:.2f}",
            "" if v.module is None else verdict(r, COLD_GOAL),
        )
    return table


# -- warm tax ---------------------------------------------------------------------------------------


def per_call_us(fns: Sequence[Callable[[], Any]], *, number: int, repeat: int) -> list[float]:
    """For each function, the median over ``repeat`` batches of the mean microseconds per call in a
    batch of ``number`` calls. Batches are interleaved across the functions, so drift on the
    machine hits each alike."""
    for fn in fns:
        for _ in range(min(number, 200)):
            fn()
    batches: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            for _ in range(number):
                fn()
            batches[i].append((time.perf_counter() - start) * 1e6 / number)
    return [median(b) for b in batches]


def measure_warm(root: Path, number: int, repeat: int) -> list[tuple[str, float, float]]:
    """(path, us per call, us per bare call) for ``handle`` and the ``entrypoint``-wrapped path."""
    for p in (root / "functions" / "payments", root / "layers", root / "infra", root / "tests"):
        if str(p) not in sys.path:
            sys.path.insert(0, str(p))
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "payments")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "HMS")
    from decimal import Decimal

    from support.kit import FakeClock, InMemoryCounter
    from support.payments import InMemoryPaymentRepository

    from hmskit.context import LocalContext
    from hmskit.observability import entrypoint
    from hmskit.ratelimit import FixedWindowRateLimiter
    from hmskit.settings import RateLimit, WindowSettings
    from payments import handler
    from payments.bootstrap import Deps
    from payments.domain import Payment

    class PassThroughIdempotency:
        def run(self, *, key: Any, principal: str, route: str, body: Any, compute: Any) -> Any:
            return compute()

    clock = FakeClock()
    rule = RateLimit(limit=10**12, window=60)  # the logic runs; the budget is never spent
    repo = InMemoryPaymentRepository()
    payment = Payment(
        "01KBENCH0000000000000000AA",
        "bench-citizen",
        Decimal("12.50"),
        "GBP",
        "fee",
        "captured",
        "2027-01-15T08:00:00.000+00:00",
    )
    repo.add(payment)
    deps = Deps(
        settings=WindowSettings(window="payments", table_name="unused", rate_limit=rule),
        payments=repo,
        rate_limiter=FixedWindowRateLimiter(InMemoryCounter(), rule, clock),
        idempotency=PassThroughIdempotency(),  # type: ignore[arg-type]
        clock=clock,
    )
    event = build_event("GET", f"/api/v1/payments/{payment.id}", b"")
    ctx = LocalContext(function_name="payments")
    answer = handler.handle(event, ctx, deps)
    if answer["statusCode"] != 200:
        raise RuntimeError(f"warm GET answered {answer['statusCode']}: {answer['body']}")
    same = dict(answer)

    def bare(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return same

    def routed(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return handler.handle(event, context, deps)

    wrapped = entrypoint(routed)  # what lambda_handler is, with the fakes instead of bootstrap.deps()
    import warnings

    warnings.simplefilter("ignore")  # Metrics warns once per flush when a GET adds no metric
    base, direct, through_wrapper = per_call_us(
        [lambda: bare(event, ctx), lambda: routed(event, ctx), lambda: wrapped(event, ctx)],
        number=number,
        repeat=repeat,
    )
    out = [
        ("handle(event, ctx, deps)", direct, base),
        ("entrypoint wrapper (lambda_handler path)", through_wrapper, base),
    ]
    return out


def warm_table(rows: list[tuple[str, float, float]], number: int, repeat: int) -> Table:
    table = Table(
        title=f"Warm platform tax: payments GET /api/v1/payments/{{id}}, in-memory fakes (goal <= {WARM_GOAL_US:.0f} us)",
        caption=f"median of {repeat} batches x {number} calls; tax = per-call median - bare function returning the same dict",
    )
    for col in ("path", "us per call", "bare us", "tax us", ""):
        table.add_column(col, justify="left" if col == "path" else "right")
    for path, us, base in rows:
        tax = us - base
        table.add_row(path, f"{us:.1f}", f"{base:.2f}", f"{tax:.1f}", verdict(tax, WARM_GOAL_US))
    return table


# -- entry ------------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--runs", type=int, default=15, help="fresh processes per cold-start variant (default 15)"
    )
    parser.add_argument("--warm-calls", type=int, default=2000, help="calls per warm batch (default 2000)")
    parser.add_argument("--warm-repeat", type=int, default=15, help="warm batches (default 15)")


def run(args: argparse.Namespace, console: Console) -> list[Table]:
    if args.runs < 1:
        raise SystemExit("--runs must be at least 1")
    warm = measure_warm(ROOT, args.warm_calls, args.warm_repeat)
    variants, _ = measure_cold(ROOT, args.runs, console)
    return [cold_table(variants, args.runs), warm_table(warm, args.warm_calls, args.warm_repeat)]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    console = Console()
    for t in run(parser.parse_args(), console):
        console.print(t)
