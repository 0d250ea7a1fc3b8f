"""Event delivery under ``hms up``: publish -> consumer start, a renewal end to end, the outbox relay.

One real ``hms up --no-watch`` (moto emulator, provisioning, a worker per window, an SQS pump per
subscription, the outbox relay, the gateway) runs on free 127.0.0.1 ports in a temporary copy of the
project (``routes/``, ``functions/``, ``layers/``, ``events/``), so the working tree is never touched.
The copy gets one bench-only window, ``benchsink``: a manifest with a public health route, and a
handler that appends one JSON line per SQS record to the file named by ``BENCHSINK_FILE`` (the worker
inherits ``hms up``'s environment) with the wall-clock time at which the handler started the batch,
the event's ``event_id`` and ``payment_id``, and the message's SQS ``SentTimestamp``. The copy's
``events/topology.yaml`` adds ``benchsink`` to the consumers of ``PaymentCaptured``, so it gets its
own subscription (rule -> queue + DLQ -> pump) next to ``passport`` and ``notifications``.

1. publish -> consumer start. ``PutEvents`` (one entry per call, source ``hms.payments``, detail-type
   ``PaymentCaptured``, a detail built with ``hmskit.contracts``) on the emulator's bus ``hms``, paced
   at ``--events-rate`` per second so the figure is latency, not a backlog; latency = benchsink
   handler start - the wall clock just before the ``PutEvents`` call, split at the message's SQS
   ``SentTimestamp`` into bus (``PutEvents`` -> in the queue) and pump (queue -> handler). While this
   is measured, benchsink is the only target of ``PaymentCaptured``: the passport and notifications
   rules' targets are detached from the emulator's bus and put back afterwards (moto ignores a
   disabled rule), so the figure is the delivery path rather than two other consumers' work on the
   same CPUs. The baseline, in the same run on the same moto server with the same count and pace:
   the emulator floor, SQS ``SendMessage`` -> ``ReceiveMessage`` (long poll of 1 s, batches of 10,
   each batch deleted, as the pump does) on a queue of its own, sent in chunks of 50 alternating
   with the events' chunks, so drift in the machine's load hits both alike. Ratios are against that floor and
   against EventBridge -> Lambda in AWS (about p50 148 ms, p99 387 ms). A second row, measured last,
   publishes ``--events-fanout-count`` events at ``--events-fanout-rate`` with the real fan-out
   (passport and notifications consume them too), with each consumer's own time from the pump's log
   lines and what the other consumers still had queued once benchsink had every event (that backlog
   is reported, never awaited).
2. a renewal end to end: ``POST /api/v1/renewals`` through the gateway (passport -> eligibility ->
   outbox -> relay -> bus -> notifications) until its ``RenewalSubmitted`` notification is listed by
   ``GET /api/v1/notifications``, polled every ~10 ms; one new citizen per renewal (the routes are
   rate limited per principal). The notification's own ``created_at`` gives a poll-free figure.
3. the outbox relay's contribution: rounds of one direct ``PutEvents`` then one ``POST
   /api/v1/payments`` (the payment and its outbox row are one transaction; ``hms up`` relays the
   outbox right after the invocation), both to benchsink alone; contribution = p50(POST answer ->
   consumer start) - p50(direct ``PutEvents`` -> consumer start) of the same rounds.

Warm-up events, a renewal and payments go first and are not counted; the subscription queues are
drained after the warm-up and before the renewals. Everything started is stopped at the end and the
ports are checked to be free again. Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from cold_start import percentile  # noqa: E402
from gateway import Started, clean_up, free_port, get, start_hms_up  # noqa: E402

ROOT = HERE.parent
TITLE = "event delivery: publish -> consumer, renewal end to end, outbox relay"
GOAL_P50_MS, GOAL_P99_MS = 50.0, 250.0
AWS_P50_MS, AWS_P99_MS = 148.0, 387.0  # EventBridge -> Lambda in AWS, for reference
BUS = "hms"
REGION = "us-east-1"
SINK = "benchsink"
SINK_ENV = "BENCHSINK_FILE"  # not AWS_/HMS_/POWERTOOLS_/LAMBDA_: the worker inherits it
SINK_EVENT = "PaymentCaptured"
POLL_S = 0.010
CHUNK = 50  # case 1 alternates chunks of this many floor messages and events
RELAY_RATE = 10.0  # rounds per second in case 3: a direct PutEvents, then a POST /api/v1/payments
RENEWAL_SCOPES = ("renewals.write", "renewals.read", "notifications.read")
PAYMENT_SCOPES = ("payments.write", "payments.read")

SINK_MANIFEST = """\
# bench-only (bench/events.py): a consumer that records when each event reached its handler
uri: /api/v1/benchsink/**
upstream: benchsink
routes:
  - {method: GET, path: /api/v1/benchsink/health, rate_limited: false}
"""

SINK_HANDLER = '''\
"""Bench-only consumer (bench/events.py): one JSON line per SQS record, appended to $BENCHSINK_FILE."""

import json
import os
import time

SINK = os.environ.get("BENCHSINK_FILE")


def lambda_handler(event, context):
    started = time.time()
    records = event.get("Records") if isinstance(event, dict) else None
    if records is None:  # the health route
        body = json.dumps({"window": "benchsink", "status": "ok"})
        return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": body}
    lines = []
    for record in records:
        try:
            envelope = json.loads(record["body"])
            meta, data = envelope["detail"]["metadata"], envelope["detail"]["data"]
        except (ValueError, KeyError, TypeError):
            envelope, meta, data = {}, {}, {}
        attributes = record.get("attributes") or {}
        lines.append(
            json.dumps(
                {
                    "t": started,
                    "type": envelope.get("detail-type"),
                    "event_id": meta.get("event_id"),
                    "payment_id": data.get("payment_id"),
                    "sent_ms": int(attributes.get("SentTimestamp") or 0),
                    "receives": int(attributes.get("ApproximateReceiveCount") or 0),
                    "batch": len(records),
                }
            )
        )
    if SINK:
        with open(SINK, "a") as out:
            out.write("\\n".join(lines) + "\\n")
    return {"batchItemFailures": []}
'''


# -- statistics (pure; tested in tests/unit/test_bench_events_smoke.py) ------------------------------


@dataclass(frozen=True)
class Dist:
    """A latency sample in milliseconds, with how many were expected (the rest never arrived)."""

    ms: tuple[float, ...]
    expected: int

    @classmethod
    def of(cls, values: Sequence[float], expected: int | None = None) -> Dist:
        return cls(tuple(values), len(values) if expected is None else expected)

    @property
    def n(self) -> int:
        return len(self.ms)

    @property
    def missing(self) -> int:
        return max(0, self.expected - self.n)

    def p(self, q: float) -> float:
        return percentile(self.ms, q)

    @property
    def max(self) -> float:
        return max(self.ms)


def ratio(value: float, baseline: float) -> str:
    if baseline <= 0:
        return "-"
    r = value / baseline
    return f"{r:.2f}x" if r >= 0.1 else f"{r:.3f}x"


def latencies(sent: dict[str, float], arrived: dict[str, float]) -> list[float]:
    """Milliseconds from each key's send time to its arrival, for the keys that arrived."""
    return [(arrived[k] - t) * 1000 for k, t in sent.items() if k in arrived]


def parse_sink(text: str) -> list[dict[str, Any]]:
    """The benchsink's complete lines (a line still being written is left for the next read)."""
    out = []
    for line in text.splitlines(keepends=True):
        if not line.endswith("\n") or not line.strip():
            continue
        with contextlib.suppress(ValueError):
            out.append(json.loads(line))
    return out


def first_arrivals(rows: Sequence[dict[str, Any]], key: str) -> dict[str, float]:
    """key value -> the earliest handler start that saw it (a redelivery does not count twice)."""
    out: dict[str, float] = {}
    for row in rows:
        k = row.get(key)
        if k and (k not in out or row["t"] < out[k]):
            out[k] = float(row["t"])
    return out


def iso_seconds(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


# -- the project copy and the stack --------------------------------------------------------------------


def copy_project(dest: Path) -> Path:
    """routes/, functions/, layers/, events/ plus the benchsink window and its subscription."""
    import shutil

    import yaml

    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".mypy_cache")
    for part in ("routes", "functions", "layers", "events"):
        shutil.copytree(ROOT / part, dest / part, ignore=ignore)
    pkg = dest / "functions" / SINK / SINK
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "handler.py").write_text(SINK_HANDLER)
    (dest / "routes" / f"{SINK}.yaml").write_text(SINK_MANIFEST)
    topology_file = dest / "events" / "topology.yaml"
    topology = yaml.safe_load(topology_file.read_text())
    consumers = topology["events"][SINK_EVENT].setdefault("consumers", [])
    if SINK not in consumers:
        consumers.append(SINK)
    topology_file.write_text(yaml.safe_dump(topology, sort_keys=False))
    return dest


@dataclass
class Stack:
    root: Path
    url: str
    endpoint: str
    sink: Path
    started: Started

    def token(self, sub: str, scopes: Sequence[str]) -> str:
        """A dev token with an ``email`` claim: the notifications window holds back an event whose
        owner has no known address, and payments copies the claim into ``PaymentCaptured``."""
        from hms.local.devauth import DevIssuer

        claims = {"email": f"{sub}@example.org"}
        return DevIssuer(self.root / ".hms").mint(sub, list(scopes), ttl=900, extra_claims=claims)

    def aws(self, service: str, pool: int = 10) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(max_pool_connections=pool, retries={"max_attempts": 2, "mode": "standard"}),
        )

    def sink_rows(self) -> list[dict[str, Any]]:
        try:
            return parse_sink(self.sink.read_text())
        except FileNotFoundError:
            return []

    def wait_sink(self, key: str, wanted: set[str], timeout: float) -> dict[str, float]:
        """key value -> first handler start, once every wanted value arrived or ``timeout`` passed."""
        deadline = time.monotonic() + timeout
        while True:
            seen = first_arrivals(self.sink_rows(), key)
            if wanted <= seen.keys() or time.monotonic() > deadline:
                return seen
            if self.started.proc.poll() is not None:
                raise RuntimeError(f"`hms up` exited with {self.started.proc.returncode}:\n{self.log_tail()}")
            time.sleep(0.02)

    def log_tail(self, n: int = 30) -> str:
        return self.started.log_tail(n)

    def log_size(self) -> int:
        try:
            return self.started.log.stat().st_size
        except OSError:
            return 0

    def log_since(self, offset: int) -> str:
        with self.started.log.open("rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")

    def health(self) -> dict[str, Any]:
        status, body = get(f"{self.url}/_hms/health", timeout=5.0)
        if status != 200:
            raise RuntimeError(f"/_hms/health answered {status}")
        health: dict[str, Any] = json.loads(body)
        return health

    def failures(self) -> dict[str, tuple[int, str | None]]:
        """subscription -> (failed deliveries so far, last error), from ``/_hms/health``."""
        return {
            sub["name"]: (int(sub.get("failed") or 0), sub.get("last_error"))
            for sub in self.health()["events"]["subscriptions"]
        }

    def depths(self, event_type: str) -> dict[str, int]:
        """subscription -> messages queued or in flight, for every subscription of ``event_type``."""
        sqs = self.aws("sqs")
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        out = {}
        for sub in self.health()["events"]["subscriptions"]:
            if sub["event_type"] == event_type:
                url = sqs.get_queue_url(QueueName=sub["queue"])["QueueUrl"]
                attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
                out[sub["name"]] = sum(int(v) for v in attrs.values())
        return out

    def drain(self, timeout: float = 60.0) -> float:
        """Wait until every subscription queue is empty, nothing in flight; the seconds it took.

        A consumer that has failed a delivery stops the bench at once (its messages would only
        come back after the visibility timeout, then go to its DLQ): the error names it."""
        sqs = self.aws("sqs")
        subs = self.health()["events"]["subscriptions"]
        urls = [sqs.get_queue_url(QueueName=sub["queue"])["QueueUrl"] for sub in subs]
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        start = time.monotonic()
        quiet = 0
        while time.monotonic() - start < timeout:
            left = sum(
                int(v)
                for url in urls
                for v in sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"].values()
            )
            quiet = quiet + 1 if left == 0 else 0
            if quiet >= 2:
                return time.monotonic() - start
            failing = {name: why for name, (n, why) in self.failures().items() if n > 0}
            if failing:
                raise RuntimeError(
                    "events bench: a consumer is failing deliveries, so its queue cannot drain: "
                    + "; ".join(f"{name}: {why}" for name, why in sorted(failing.items()))
                    + f"\n{self.log_tail(10)}"
                )
            time.sleep(0.1)
        raise RuntimeError(f"the subscription queues did not drain within {timeout:.0f}s:\n{self.log_tail()}")

    @contextlib.contextmanager
    def only_benchsink(self) -> Iterator[list[str]]:
        """Detach the other consumers' rule targets for the bench's event type, then put them back.

        The emulator ignores a disabled rule's state, so the targets themselves are removed; the
        subscriptions' queues, pumps and workers stay as they are."""
        events = self.aws("events")
        saved: dict[str, list[dict[str, Any]]] = {}
        for sub in self.health()["events"]["subscriptions"]:
            if sub["event_type"] == SINK_EVENT and sub["consumer"] != SINK:
                rule = sub["queue"]  # hms up names each rule after its queue
                targets = events.list_targets_by_rule(Rule=rule, EventBusName=BUS).get("Targets", [])
                if targets:
                    saved[rule] = targets
                    events.remove_targets(Rule=rule, EventBusName=BUS, Ids=[t["Id"] for t in targets])
        try:
            yield sorted(saved)
        finally:
            for rule, targets in saved.items():
                events.put_targets(Rule=rule, EventBusName=BUS, Targets=targets)


def start_stack(root: Path, port: int, aws_port: int, timeout: float = 90.0) -> Stack:
    sink = root / "benchsink.jsonl"

    def subscribed(health: dict[str, Any]) -> bool:
        return f"{SINK}-{SINK_EVENT}" in {
            s["name"] for s in health.get("events", {}).get("subscriptions", [])
        }

    started = start_hms_up(root, port, aws_port, env={SINK_ENV: str(sink)}, ready=subscribed, timeout=timeout)
    return Stack(root, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{aws_port}", sink, started)


@contextlib.contextmanager
def running_stack(console: Console) -> Iterator[Stack]:
    """A stack in a temporary copy; afterwards nothing it started is left, and its ports are free."""
    ports = {"gateway": free_port(), "emulator": free_port()}
    stack: Stack | None = None
    with tempfile.TemporaryDirectory(prefix="hms-bench-events-") as tmp:
        root = copy_project(Path(tmp))
        try:
            with console.status("events bench: starting `hms up` with the benchsink window"):
                stack = start_stack(root, ports["gateway"], ports["emulator"])
            yield stack
        finally:
            problems = clean_up([stack.started] if stack is not None else [], ports)
            if problems:
                console.print(f"[red]events bench clean-up: {'; '.join(problems)}[/]")


# -- 1. publish -> consumer start, and the SQS floor -----------------------------------------------------


def paced(count: int, rate: float, send: Callable[[int], None]) -> float:
    """Call ``send(i)`` for i in 0..count-1 at most ``rate`` times per second; the achieved rate.

    A send that overruns its slot delays the next one rather than causing a catch-up burst."""
    interval = 1.0 / rate
    start = next_at = time.perf_counter()
    for i in range(count):
        wait = next_at - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        send(i)
        next_at = max(next_at + interval, time.perf_counter())
    elapsed = time.perf_counter() - start
    return count / elapsed if elapsed > 0 else float("inf")


def payment_detail(i: int, tag: str) -> tuple[str, str]:
    """(event_id, EventBridge detail) of a valid PaymentCaptured v1, built with the contracts."""
    from hmskit.contracts import PaymentCapturedV1, build

    now = datetime.now(UTC)
    event_id = f"bench{tag}{i:05d}{uuid.uuid4().hex[:12]}"
    event = build(
        PaymentCapturedV1(
            payment_id=event_id,
            owner="bench-publisher",
            email="bench-publisher@example.org",  # notifications holds back an event without an address
            amount="1.00",
            currency="USD",
            purpose="events bench",
            captured_at=now,
        ),
        event_id=event_id,
        source="payments",
        time=now,
        correlation_id=f"bench-events-{tag}-{i}",
    )
    return event_id, json.dumps(event.detail())


def payment_entry(i: int, tag: str) -> tuple[str, dict[str, str]]:
    """(event_id, ``PutEvents`` entry) of ``payment_detail(i, tag)`` on the bus."""
    event_id, detail = payment_detail(i, tag)
    return event_id, {
        "Source": "hms.payments",
        "DetailType": SINK_EVENT,
        "Detail": detail,
        "EventBusName": BUS,
    }


@dataclass
class PublishResult:
    sent: dict[str, float] = field(default_factory=dict)  # event_id -> wall clock before PutEvents
    rate: float = 0.0
    rows: list[dict[str, Any]] = field(default_factory=list)
    failed: int = 0

    def dist(self) -> Dist:
        return Dist.of(latencies(self.sent, first_arrivals(self.rows, "event_id")), len(self.sent))

    def split(self) -> tuple[Dist, Dist]:
        """(PutEvents -> in the queue, in the queue -> handler start), by the message's SentTimestamp."""
        first: dict[str, dict[str, Any]] = {}
        for row in self.rows:
            k = row.get("event_id")
            if k in self.sent and (k not in first or row["t"] < first[k]["t"]):
                first[k] = row
        bus = [(r["sent_ms"] / 1000 - self.sent[k]) * 1000 for k, r in first.items() if r.get("sent_ms")]
        pump = [(r["t"] - r["sent_ms"] / 1000) * 1000 for r in first.values() if r.get("sent_ms")]
        return Dist.of(bus), Dist.of(pump)


class Publisher:
    """Paced ``PutEvents`` of valid ``PaymentCaptured`` events to benchsink, in one or more chunks."""

    def __init__(self, stack: Stack, tag: str) -> None:
        self.stack = stack
        self.tag = tag
        self.events = stack.aws("events")
        self.out = PublishResult()
        self.count = 0
        self.elapsed = 0.0

    def send(self, count: int, rate: float) -> None:
        entries = [payment_entry(self.count + i, self.tag) for i in range(count)]
        self.count += count

        def one(i: int) -> None:
            event_id, entry = entries[i]
            self.out.sent[event_id] = time.time()
            if self.events.put_events(Entries=[entry]).get("FailedEntryCount"):
                self.out.failed += 1
                del self.out.sent[event_id]

        t0 = time.perf_counter()
        paced(count, rate, one)
        self.elapsed += time.perf_counter() - t0

    def close(self, timeout: float = 60.0) -> PublishResult:
        """Wait (at most ``timeout``) until benchsink saw every event; the result."""
        self.out.rate = self.count / self.elapsed if self.elapsed > 0 else 0.0
        self.stack.wait_sink("event_id", set(self.out.sent), timeout)
        self.out.rows = [r for r in self.stack.sink_rows() if r.get("event_id") in self.out.sent]
        return self.out


def publish(stack: Stack, count: int, rate: float, tag: str) -> PublishResult:
    publisher = Publisher(stack, tag)
    publisher.send(count, rate)
    return publisher.close()


class Floor:
    """The emulator floor: SendMessage -> ReceiveMessage on a queue of its own, received as the pump
    receives (long poll of 1 s, batches of 10, each batch deleted), in one or more chunks."""

    def __init__(self, stack: Stack) -> None:
        self.sqs = stack.aws("sqs")
        self.url = self.sqs.create_queue(QueueName=f"hms-bench-floor-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        self.sent: dict[str, float] = {}
        self.received: dict[str, float] = {}
        self.elapsed = 0.0
        self._stop = threading.Event()
        self._receiver = threading.Thread(target=self._receive, name="bench-floor-receiver", daemon=True)
        self._receiver.start()
        time.sleep(0.2)  # the first long poll is waiting, as the pump's always is

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                resp = self.sqs.receive_message(
                    QueueUrl=self.url,
                    MaxNumberOfMessages=10,
                    WaitTimeSeconds=1,
                    MessageSystemAttributeNames=["All"],
                )
            except Exception:  # as the pump: a failed poll is retried (what never arrives shows as missing)
                time.sleep(0.05)
                continue
            now = time.time()
            messages = resp.get("Messages") or []
            for m in messages:
                self.received.setdefault(m["Body"], now)
            if messages:
                entries = [
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
                ]
                with contextlib.suppress(Exception):
                    self.sqs.delete_message_batch(QueueUrl=self.url, Entries=entries)

    def send(self, count: int, rate: float) -> None:
        first = len(self.sent)

        def one(i: int) -> None:
            body = f"floor-{first + i}"
            self.sent[body] = time.time()
            self.sqs.send_message(QueueUrl=self.url, MessageBody=body)

        t0 = time.perf_counter()
        paced(count, rate, one)
        self.elapsed += time.perf_counter() - t0

    def close(self, timeout: float = 60.0) -> tuple[Dist, float]:
        """(the latencies, the achieved pace) once every message arrived or ``timeout`` passed."""
        deadline = time.monotonic() + timeout
        while len(self.received) < len(self.sent) and time.monotonic() < deadline:
            time.sleep(0.02)
        self._stop.set()
        self._receiver.join(timeout=3)
        with contextlib.suppress(Exception):
            self.sqs.delete_queue(QueueUrl=self.url)
        rate = len(self.sent) / self.elapsed if self.elapsed > 0 else 0.0
        return Dist.of(latencies(self.sent, self.received), len(self.sent)), rate


def chunks(count: int, size: int) -> list[int]:
    """``count`` split into chunks of ``size`` (the last one smaller)."""
    return [min(size, count - start) for start in range(0, count, size)]


# -- 2. a renewal end to end -------------------------------------------------------------------------------


def renewal_body(sub: str) -> dict[str, Any]:
    today = date.today()
    return {
        "full_name": "Ada Lovelace",
        "date_of_birth": "1990-12-10",
        "passport_number": "X1234567",
        "passport_issued_on": date(today.year - 10, today.month, 1).isoformat(),
        "passport_expires_on": date(today.year, today.month, 1).isoformat(),
        "mailing_address": {
            "line1": "12 St James's Square",
            "city": "Springfield",
            "state": "IL",
            "postal_code": "62701",
            "country": "US",
        },
        "email": f"{sub}@example.org",
    }


@dataclass
class RenewalRun:
    post_ms: list[float] = field(default_factory=list)  # POST sent -> answer
    visible_ms: list[float] = field(default_factory=list)  # answer -> first GET listing the notification
    created_ms: list[float] = field(default_factory=list)  # answer -> the notification's created_at
    total_ms: list[float] = field(default_factory=list)  # POST sent -> listed
    get_ms: list[float] = field(default_factory=list)  # each poll's own latency
    polls: list[int] = field(default_factory=list)
    limited: int = 0  # polls answered 429
    timed_out: int = 0
    expected: int = 0


def renewals(stack: Stack, count: int, timeout: float = 10.0) -> RenewalRun:
    """``count`` renewals one after the other; the first one never listed ends the series."""
    import httpx

    run = RenewalRun(expected=count)
    with httpx.Client(base_url=stack.url, timeout=20) as http:
        for i in range(count):
            sub = f"bench-renewal-{i}-{uuid.uuid4().hex[:8]}"
            auth = {"authorization": f"Bearer {stack.token(sub, RENEWAL_SCOPES)}"}
            body = renewal_body(sub)
            t0 = time.perf_counter()
            r = http.post("/api/v1/renewals", json=body, headers=auth)
            t1 = time.perf_counter()
            wall1 = time.time()
            if r.status_code != 202:
                raise RuntimeError(f"POST /api/v1/renewals answered {r.status_code}: {r.text[:500]}")
            renewal_id = r.json()["id"]
            polls, found = 0, None
            deadline = t1 + timeout
            while found is None and time.perf_counter() < deadline:
                g0 = time.perf_counter()
                g = http.get("/api/v1/notifications", headers=auth)
                g1 = time.perf_counter()
                polls += 1
                run.get_ms.append((g1 - g0) * 1000)
                if g.status_code == 429:
                    run.limited += 1
                elif g.status_code != 200:
                    raise RuntimeError(f"GET /api/v1/notifications answered {g.status_code}: {g.text[:500]}")
                else:
                    found = next(
                        (
                            n
                            for n in g.json()["items"]
                            if n.get("renewal_id") == renewal_id and n["type"] == "RenewalSubmitted"
                        ),
                        None,
                    )
                    if found is not None:
                        run.post_ms.append((t1 - t0) * 1000)
                        run.visible_ms.append((g1 - t1) * 1000)
                        run.total_ms.append((g1 - t0) * 1000)
                        run.created_ms.append((iso_seconds(found["created_at"]) - wall1) * 1000)
                        run.polls.append(polls)
                        break
                time.sleep(POLL_S)
            if found is None:
                run.timed_out += 1
                break  # the notifications path is broken or stuck: the others would wait as long
    return run


# -- 3. the outbox relay -----------------------------------------------------------------------------------


@dataclass
class RelayRun:
    post_ms: list[float] = field(default_factory=list)
    sent_to_consumer_ms: list[float] = field(default_factory=list)
    answer_to_consumer_ms: list[float] = field(default_factory=list)
    direct: Dist = field(default_factory=lambda: Dist.of([]))  # the interleaved PutEvents -> consumer
    expected: int = 0
    rate: float = 0.0


def relay(stack: Stack, count: int, rate: float, timeout: float = 30.0) -> RelayRun:
    """``count`` rounds at ``rate`` per second: one direct PutEvents, then one POST /api/v1/payments."""
    import httpx

    events = stack.aws("events")
    run = RelayRun(expected=count)
    sent: dict[str, float] = {}
    answered: dict[str, float] = {}
    direct: dict[str, float] = {}
    entries = [payment_entry(i, "r") for i in range(count)]
    with httpx.Client(base_url=stack.url, timeout=20) as http:

        def send(i: int) -> None:
            event_id, entry = entries[i]
            direct[event_id] = time.time()
            events.put_events(Entries=[entry])
            sub = f"bench-payer-{i}-{uuid.uuid4().hex[:8]}"  # a fresh principal: 30 POSTs/min each
            auth = {"authorization": f"Bearer {stack.token(sub, PAYMENT_SCOPES)}"}
            body = {"amount": "12.50", "purpose": "events bench"}
            t0 = time.time()
            r = http.post("/api/v1/payments", json=body, headers=auth)
            t1 = time.time()
            if r.status_code != 201:
                raise RuntimeError(f"POST /api/v1/payments answered {r.status_code}: {r.text[:500]}")
            pid = r.json()["id"]
            sent[pid], answered[pid] = t0, t1
            run.post_ms.append((t1 - t0) * 1000)

        run.rate = paced(count, rate, send)
    arrived = stack.wait_sink("payment_id", set(sent), timeout)
    run.sent_to_consumer_ms = latencies(sent, arrived)
    run.answer_to_consumer_ms = latencies(answered, arrived)
    arrived_direct = stack.wait_sink("event_id", set(direct), timeout)
    run.direct = Dist.of(latencies(direct, arrived_direct), len(direct))
    return run


# -- consumers' own time, from the pump's log lines -----------------------------------------------------------

_DELIVERY = re.compile(r"\[events\] (\S+): (\d+) message\(s\) -> \S+, (\d+) failed, (\d+) ms")


def consumer_times(log: str) -> dict[str, tuple[int, int, float]]:
    """subscription -> (batches, messages, mean ms per batch) from ``hms up``'s ``[events]`` lines."""
    acc: dict[str, list[float]] = {}
    for m in _DELIVERY.finditer(log):
        a = acc.setdefault(m.group(1), [0, 0, 0.0])
        a[0] += 1
        a[1] += int(m.group(2))
        a[2] += float(m.group(4))
    return {k: (int(b), int(n), ms / b) for k, (b, n, ms) in acc.items() if b}


# -- tables -------------------------------------------------------------------------------------------------


def _ms(v: float) -> str:
    return f"{v:.1f}"


def machine() -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return f"{os.cpu_count()} CPUs shared by the bench, moto, hms up and its workers (load average {load[0]:.2f})"


@dataclass
class FanOut:
    result: PublishResult
    rate: float
    consumers: dict[str, tuple[int, int, float]]
    backlog: dict[str, int]  # subscription -> messages still queued or in flight when benchsink had all

    def others(self) -> str:
        names = sorted(
            n.rsplit("-", 1)[0]
            for n in self.consumers
            if n.endswith(f"-{SINK_EVENT}") and not n.startswith(SINK)
        )
        return " + ".join(names) or "other consumers"


def delivery_table(
    floor: Dist,
    floor_rate: float,
    pub: PublishResult,
    detached: list[str],
    fan: FanOut | None,
    args: argparse.Namespace,
) -> Table:
    t = Table(
        title=f"1. Local publish -> consumer start, {args.events_count} events paced at {args.events_rate:g}/s "
        f"(goals: p50 <= {GOAL_P50_MS:g} ms, p99 <= {GOAL_P99_MS:g} ms; "
        f"AWS EventBridge -> Lambda ~ p50 {AWS_P50_MS:g} / p99 {AWS_P99_MS:g} ms)",
        caption=_delivery_caption(floor_rate, pub, detached, fan),
    )
    cols = (
        "path",
        "n",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "p50/floor",
        "p99/floor",
        "p50/AWS",
        "p99/AWS",
        "",
    )
    for col in cols:
        t.add_column(col, justify="left" if col == "path" else "right")

    def row(name: str, d: Dist, vs: bool = False, goal: bool = False) -> None:
        if not d.n:
            t.add_row(name, f"0/{d.expected}", *["-"] * 8, "[red]nothing arrived[/]")
            return
        verdict = ""
        if goal:
            ok = d.p(50) <= GOAL_P50_MS and d.p(99) <= GOAL_P99_MS and not d.missing
            verdict = "[green]ok[/]" if ok else "[red]over goal[/]"
        if d.missing:
            verdict += f" [red]{d.missing} missing[/]"
        t.add_row(
            name,
            f"{d.n}" if not d.missing else f"{d.n}/{d.expected}",
            _ms(d.p(50)),
            _ms(d.p(95)),
            _ms(d.p(99)),
            _ms(d.max),
            ratio(d.p(50), floor.p(50)) if vs and floor.n else "",
            ratio(d.p(99), floor.p(99)) if vs and floor.n else "",
            ratio(d.p(50), AWS_P50_MS) if vs else "",
            ratio(d.p(99), AWS_P99_MS) if vs else "",
            verdict.strip(),
        )

    row("SQS SendMessage -> ReceiveMessage (emulator floor)", floor)
    row("PutEvents -> benchsink handler start", pub.dist(), vs=True, goal=True)
    bus, pump = pub.split()
    if bus.n:
        row("  of which PutEvents -> in the queue", bus)
        row("  of which in the queue -> handler start (pump, worker)", pump)
    if fan is not None:
        t.add_section()
        row(
            f"same, real fan-out (+ {fan.others()}), {fan.result.dist().expected} at {fan.rate:g}/s",
            fan.result.dist(),
            vs=True,
        )
    return t


def _delivery_caption(floor_rate: float, pub: PublishResult, detached: list[str], fan: FanOut | None) -> str:
    parts = [
        f"achieved pace: floor {floor_rate:.0f}/s, PutEvents {pub.rate:.0f}/s",
        "latency = benchsink handler start - wall clock before the call; the split uses the message's "
        "SentTimestamp (ms)",
    ]
    if pub.failed:
        parts.append(f"[red]{pub.failed} PutEvents entries refused by the bus (not counted)[/]")
    if detached:
        parts.append(
            f"benchsink the only {SINK_EVENT} target while measured ({', '.join(detached)} detached, then put back)"
        )
    if fan is not None:
        per = ", ".join(
            f"{name.split('-')[0]} {n} msgs in {b} batches, {ms:.0f} ms/batch"
            for name, (b, n, ms) in sorted(fan.consumers.items())
            if name.endswith(f"-{SINK_EVENT}")
        )
        left = ", ".join(f"{name.split('-')[0]} {n}" for name, n in sorted(fan.backlog.items()) if n)
        parts.append(
            f"fan-out row (measured last, its backlog not awaited): achieved {fan.result.rate:.0f}/s; "
            f"consumers' own time until benchsink had every event: {per}; "
            f"still queued then: {left or 'nothing'}"
        )
    parts.append(machine())
    return "; ".join(parts)


def renewal_table(run: RenewalRun) -> Table:
    get_p50 = percentile(run.get_ms, 50) if run.get_ms else 0.0
    polls = percentile([float(p) for p in run.polls], 50) if run.polls else 0.0
    notes = [
        f"GET /api/v1/notifications polled every ~{POLL_S * 1000:.0f} ms after the POST answered",
        f"each GET p50 {get_p50:.1f} ms, {polls:.0f} polls per renewal at the median",
        "created_at is the notification's own wall-clock stamp (ms)",
        "one new citizen per renewal",
    ]
    if run.limited:
        notes.append(f"[red]{run.limited} polls answered 429[/]")
    if run.timed_out:
        notes.append(
            "[red]a renewal's notification was never listed within 10 s; the series stopped there[/]"
        )
    t = Table(
        title=f"2. End-to-end renewal: POST /api/v1/renewals -> its RenewalSubmitted notification listed, "
        f"{len(run.total_ms)}/{run.expected} renewals",
        caption="; ".join(notes),
    )
    for col in ("step", "n", "p50 ms", "p95 ms", "max ms"):
        t.add_column(col, justify="left" if col == "step" else "right")
    for name, values in (
        ("POST /api/v1/renewals (sent -> 202 answer)", run.post_ms),
        ("answer -> notification created_at", run.created_ms),
        ("answer -> notification listed by a GET (poll)", run.visible_ms),
        ("total: POST sent -> notification listed", run.total_ms),
    ):
        if values:
            t.add_row(
                name,
                str(len(values)),
                _ms(percentile(values, 50)),
                _ms(percentile(values, 95)),
                _ms(max(values)),
            )
        else:
            t.add_row(name, "0", "-", "-", "-")
    return t


def relay_table(run: RelayRun) -> Table:
    t = Table(
        title=f"3. Outbox relay: POST /api/v1/payments -> PaymentCaptured at benchsink, "
        f"{run.expected} payments, each after a direct PutEvents, {run.rate:.0f} rounds/s",
        caption="relay contribution = p50(POST answer -> consumer start) - p50(direct PutEvents -> consumer "
        "start) of the same rounds; benchsink the only PaymentCaptured target; one new payer per payment",
    )
    for col in ("step", "n", "p50 ms", "p95 ms", "max ms"):
        t.add_column(col, justify="left" if col == "step" else "right")
    rows: list[tuple[str, Sequence[float], int]] = [
        ("direct PutEvents -> consumer start", run.direct.ms, run.direct.expected),
        ("POST /api/v1/payments (sent -> 201 answer)", run.post_ms, run.expected),
        ("POST sent -> consumer start", run.sent_to_consumer_ms, run.expected),
        ("POST answer -> consumer start", run.answer_to_consumer_ms, run.expected),
    ]
    for name, values, expected in rows:
        n = str(len(values)) if len(values) == expected else f"{len(values)}/{expected}"
        if values:
            t.add_row(name, n, _ms(percentile(values, 50)), _ms(percentile(values, 95)), _ms(max(values)))
        else:
            t.add_row(name, n, "-", "-", "-")
    if run.answer_to_consumer_ms and run.direct.n:
        diff = percentile(run.answer_to_consumer_ms, 50) - run.direct.p(50)
        t.add_row("[bold]relay contribution (p50 difference)[/]", "", f"[bold]{diff:.1f}[/]", "", "")
    return t


# -- entry ---------------------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--events-count", type=int, default=500, help="events published, and floor messages (default 500)"
    )
    parser.add_argument(
        "--events-rate", type=float, default=50.0, help="publishing pace, events per second (default 50)"
    )
    parser.add_argument(
        "--events-fanout-count",
        type=int,
        default=200,
        help="events for the real fan-out row (passport and notifications too), 0 to skip (default 200)",
    )
    parser.add_argument(
        "--events-fanout-rate", type=float, default=20.0, help="pace of the fan-out row (default 20/s)"
    )
    parser.add_argument("--events-renewals", type=int, default=20, help="end-to-end renewals (default 20)")
    parser.add_argument(
        "--events-payments",
        type=int,
        default=100,
        help="payments for the relay case, 0 to skip (default 100)",
    )
    parser.add_argument(
        "--events-warmup", type=int, default=20, help="uncounted warm-up events first (default 20)"
    )


def measure(args: argparse.Namespace, console: Console) -> list[Table]:
    with running_stack(console) as stack:
        with console.status("events bench: warming up (events, a renewal, payments, the floor queue)"):
            warm = publish(stack, max(args.events_warmup, 1), args.events_rate, "w")
            if warm.dist().missing:
                raise RuntimeError(
                    f"events bench: {warm.dist().missing} warm-up event(s) never reached benchsink:\n"
                    f"{stack.log_tail()}"
                )
            if renewals(stack, 1).timed_out:
                raise RuntimeError(
                    "events bench: the warm-up renewal's notification was never listed:\n" + stack.log_tail()
                )
            if args.events_payments > 0:
                relay(stack, 2, RELAY_RATE)
            warm_floor = Floor(stack)
            warm_floor.send(min(max(args.events_warmup, 1), 20), args.events_rate)
            warm_floor.close()
            stack.drain()
        with stack.only_benchsink() as detached:
            status = f"events bench 1/3: {args.events_count} SQS messages and {args.events_count} PutEvents"
            with console.status(status):
                # interleaved chunks (alternating which goes first), so drift on the machine hits both
                floor_q, publisher = Floor(stack), Publisher(stack, "m")
                for k, n in enumerate(chunks(args.events_count, CHUNK)):
                    pair = (floor_q, publisher) if k % 2 == 0 else (publisher, floor_q)
                    for side in pair:
                        side.send(n, args.events_rate)
                floor, floor_rate = floor_q.close()
                pub = publisher.close()
            relayed = None
            if args.events_payments > 0:
                with console.status(
                    f"events bench 3/3: {args.events_payments} payments via the outbox relay"
                ):
                    relayed = relay(stack, args.events_payments, RELAY_RATE)
        with console.status(f"events bench 2/3: {args.events_renewals} renewals end to end"):
            stack.drain()
            renewed = renewals(stack, args.events_renewals)
        fan = None
        if args.events_fanout_count > 0:  # last: the other consumers' backlog is never waited for
            with console.status(f"events bench 1/3: {args.events_fanout_count} PutEvents, real fan-out"):
                offset = stack.log_size()
                fanned = publish(stack, args.events_fanout_count, args.events_fanout_rate, "f")
                backlog = stack.depths(SINK_EVENT)
                times = consumer_times(stack.log_since(offset))
                fan = FanOut(fanned, args.events_fanout_rate, times, backlog)
    tables = [delivery_table(floor, floor_rate, pub, detached, fan, args), renewal_table(renewed)]
    if relayed is not None:
        tables.append(relay_table(relayed))
    return tables


def run(args: argparse.Namespace, console: Console) -> list[Table]:
    if args.events_count < 1 or args.events_renewals < 1:
        raise SystemExit("--events-count and --events-renewals must be at least 1")
    if args.events_rate <= 0 or args.events_fanout_rate <= 0:
        raise SystemExit("--events-rate and --events-fanout-rate must be positive")
    if args.events_payments < 0 or args.events_fanout_count < 0 or args.events_warmup < 0:
        raise SystemExit("--events-payments, --events-fanout-count and --events-warmup must be >= 0")
    return measure(args, console)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    console = Console()
    for t in run(parser.parse_args(), console):
        console.print(t)
