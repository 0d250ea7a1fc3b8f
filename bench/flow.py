"""Sustained flow through ``hms up``: renewals offered at a fixed rate, each paid and given its photo.

Against an ``hms up`` of its own (``bench/events.py``'s stack: ministack, a copy of the project), for
each offered rate (``--flow-rates``, renewals per second) during ``--flow-seconds``:

* one new citizen per renewal, on its own thread from a pool: ``POST /api/v1/renewals`` (-> passport,
  which asks eligibility), ``POST /api/v1/payments`` of the renewal's fee, ``POST /api/v1/docs`` of a
  passport photo (a 600x600 JPEG);
* then every renewal must reach ``ready_for_review`` with exactly three notifications
  (``RenewalSubmitted``, ``PaymentCaptured``, ``RenewalReadyForReview``), nothing may be in a DLQ, and
  the subscription queues must be empty within ``--flow-drain`` seconds of the end of the offer;
* the AWS calls of the whole platform in that time (``/_hms/health``: every window's handler calls,
  and the local platform's own: the event pump and the outbox relay) divided by the renewals.

The table reports each rate and whether it held; the highest rate that held is the figure (issue 8:
>= 10 renewals/s on this machine). A second table: the AWS calls of one delivered event per consumer
and event type (each consumer's calls over the events it received, measured at the lowest rate).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import os
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TITLE = "sustained flow: renewals with payment and photo at a fixed rate"
GOAL_RPS = 10.0
SCOPES = (
    "renewals.write",
    "renewals.read",
    "payments.write",
    "payments.read",
    "docs.write",
    "docs.read",
    "notifications.read",
)
EXPECTED = ("PaymentCaptured", "RenewalReadyForReview", "RenewalSubmitted")


def photo() -> bytes:
    sys.path.insert(0, str(ROOT / "tests"))
    import images  # the same generator as the tests: a real, decodable 600x600 JPEG

    return bytes(images.PASSPORT_PHOTO)


@dataclass
class Outcome:
    rate: float
    offered: int
    submitted: int = 0
    ready: int = 0
    notified: int = 0  # renewals with exactly the three notifications
    errors: Counter[str] = field(default_factory=Counter)
    drained_s: float | None = None
    in_dlq: int = 0
    calls: int = 0
    calls_by_window: dict[str, int] = field(default_factory=dict)
    ops_by_window: dict[str, Counter[str]] = field(default_factory=dict)
    done_s: list[float] = field(default_factory=list)  # per renewal: submitted -> its last notification
    cpu_by_group: dict[str, float] = field(default_factory=dict)  # CPU seconds during offer and drain
    cold_starts: dict[str, int] = field(default_factory=dict)  # environments started, by window

    @property
    def held(self) -> bool:
        return (
            self.ready == self.offered
            and self.notified == self.offered
            and self.in_dlq == 0
            and self.drained_s is not None
            and not self.errors
        )

    def done(self, q: float) -> float:
        if not self.done_s:
            return 0.0
        ordered = sorted(self.done_s)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


PLATFORM = "platform (pump, relay)"


def calls_by_op(health: dict[str, Any]) -> dict[str, Counter[str]]:
    """The AWS calls so far, by window (and the platform's own) and operation."""
    calls = health.get("aws_calls") or {}
    out = {w: Counter(ops) for w, ops in (calls.get("windows") or {}).items()}
    out[PLATFORM] = Counter(calls.get("platform") or {})
    return out


def total_calls(health: dict[str, Any]) -> tuple[int, dict[str, int]]:
    by = {w: sum(ops.values()) for w, ops in calls_by_op(health).items()}
    return sum(by.values()), by


def cold_starts(health: dict[str, Any]) -> dict[str, int]:
    return {c["name"]: int(c.get("cold_starts") or 0) for c in health.get("concurrency", [])}


def cpu_ticks(root_pid: int) -> dict[str, int]:
    """CPU clock ticks (user + system) of ``root_pid`` and its descendants, by role: the gateway
    process (``hms up``: gateway, pump, relay), the emulator, and each window's environments."""
    from gateway import descendants

    out: Counter[str] = Counter()
    for pid in (root_pid, *descendants(root_pid)):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [a.decode(errors="replace") for a in cmd]
        if pid == root_pid:
            role = "hms up (gateway, pump, relay)"
        elif "hms.local.worker_main" in args:
            role = f"window {args[args.index('hms.local.worker_main') + 1]}"
        elif any("ministack" in a or "moto" in a for a in args):
            role = "emulator"
        else:
            role = "other"
        out[role] += int(stat[11]) + int(stat[12])
    return dict(out)


class Citizens:
    """The bench's clients: one connection pool for every citizen, one token each (minted once)."""

    def __init__(self, stack: Any) -> None:
        import httpx

        from hms.local.devauth import DevIssuer

        self.issuer = DevIssuer(stack.root / ".hms")
        self.http = httpx.Client(base_url=stack.url, timeout=30, limits=httpx.Limits(max_connections=64))

    def token(self, sub: str) -> dict[str, str]:
        claims = {"email": f"{sub}@example.org"}
        return {
            "authorization": f"Bearer {self.issuer.mint(sub, list(SCOPES), ttl=900, extra_claims=claims)}"
        }

    def close(self) -> None:
        self.http.close()


def one_renewal(citizens: Citizens, picture: bytes, i: int) -> tuple[str | None, str | None, dict[str, str]]:
    """Submit, pay and upload; (renewal id, error, the citizen's auth header)."""
    from events import renewal_body

    sub = f"flow-{i}-{uuid.uuid4().hex[:8]}"
    auth = citizens.token(sub)
    http = citizens.http
    r = http.post("/api/v1/renewals", json=renewal_body(sub), headers=auth)
    if r.status_code != 202:
        return None, f"POST renewals {r.status_code}", auth
    renewal = r.json()
    fee = renewal.get("fee") or {"amount": "130.00", "currency": "USD"}
    paid = http.post(
        "/api/v1/payments",
        json={
            "amount": fee["amount"],
            "currency": fee["currency"],
            "purpose": "renewal fee",
            "renewal_id": renewal["id"],
        },
        headers={**auth, "idempotency-key": f"fee-{renewal['id']}"},
    )
    if paid.status_code != 201:
        return renewal["id"], f"POST payments {paid.status_code}", auth
    doc = http.post(
        "/api/v1/docs",
        files={"file": ("me.jpg", picture, "image/jpeg")},
        data={"kind": "photo", "renewal_id": renewal["id"]},
        headers={**auth, "idempotency-key": f"photo-{renewal['id']}"},
    )
    if doc.status_code != 201:
        return renewal["id"], f"POST docs {doc.status_code}", auth
    return renewal["id"], None, auth


def seconds(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def verify(citizens: Citizens, rid: str, auth: dict[str, str]) -> tuple[bool, bool, float | None]:
    """(ready, its three notifications, seconds from submission to its last notification)."""
    renewal = citizens.http.get(f"/api/v1/renewals/{rid}", headers=auth).json()
    if renewal.get("status") != "ready_for_review":
        return False, False, None
    mine = [
        n
        for n in citizens.http.get("/api/v1/notifications", headers=auth).json()["items"]
        if n.get("renewal_id") == rid
    ]
    if tuple(sorted(n["type"] for n in mine)) != EXPECTED:
        return True, False, None
    return True, True, max(seconds(n["created_at"]) for n in mine) - seconds(renewal["submitted_at"])


def offer(
    stack: Any, citizens: Citizens, rate: float, seconds_: float, picture: bytes, drain_s: float
) -> Outcome:
    """Offer renewals at ``rate`` for ``seconds_``, wait for the queues to drain (the bench reads no
    renewal meanwhile, so it adds no load of its own), then check every renewal once."""
    count = max(1, round(rate * seconds_))
    out = Outcome(rate=rate, offered=count)
    health = stack.health()
    before, before_by = total_calls(health)
    ops_before = calls_by_op(health)
    cold_before = cold_starts(health)
    cpu_before = cpu_ticks(stack.started.proc.pid)
    started = time.monotonic()
    results: list[tuple[str | None, str | None, dict[str, str]]] = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(64, count)) as pool:
        futures = []
        for i in range(count):
            wait = started + i / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            futures.append(pool.submit(one_renewal, citizens, picture, i))
        for f in futures:
            try:
                results.append(f.result())
            except Exception as exc:  # the bench reports it, it does not stop
                results.append((None, f"{type(exc).__name__}", {}))
    with contextlib.suppress(RuntimeError):
        out.drained_s = stack.drain(timeout=drain_s)
    cpu_after = cpu_ticks(stack.started.proc.pid)
    health = stack.health()
    out.in_dlq = sum(int(s.get("in_dlq") or 0) for s in health["events"]["subscriptions"])
    after, after_by = total_calls(health)
    out.calls = after - before
    out.calls_by_window = {k: after_by.get(k, 0) - before_by.get(k, 0) for k in after_by}
    out.ops_by_window = {w: ops - ops_before.get(w, Counter()) for w, ops in calls_by_op(health).items()}
    out.cold_starts = {w: n - cold_before.get(w, 0) for w, n in cold_starts(health).items()}
    hz = os.sysconf("SC_CLK_TCK")
    out.cpu_by_group = {k: (v - cpu_before.get(k, 0)) / hz for k, v in cpu_after.items()}
    for rid, err, _auth in results:
        if err:
            out.errors[err] += 1
        if rid:
            out.submitted += 1
    if out.drained_s is None:  # what is still running would only be slowed by the checks
        with contextlib.suppress(RuntimeError):
            stack.drain(timeout=120)
    checks = [(rid, auth) for rid, err, auth in results if rid and not err]
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        for ready, notified, done in pool.map(lambda c: verify(citizens, *c), checks):
            out.ready += ready
            out.notified += notified
            if done is not None:
                out.done_s.append(done)
    return out


def per_event_calls(
    health_before: dict[str, Any], health_after: dict[str, Any]
) -> list[tuple[str, str, int, int]]:
    """(consumer, event type, messages delivered, calls of the consumer) between two healths, for the
    consumers that received one event type only in that time."""

    def delivered(h: dict[str, Any]) -> dict[str, tuple[str, str, int]]:
        return {
            s["name"]: (s["consumer"], s["event_type"], int(s.get("delivered") or 0))
            for s in h["events"]["subscriptions"]
        }

    b, a = delivered(health_before), delivered(health_after)
    calls_b = (health_before.get("aws_calls") or {}).get("windows") or {}
    calls_a = (health_after.get("aws_calls") or {}).get("windows") or {}
    rows = []
    for name, (consumer, event_type, n) in a.items():
        got = n - b.get(name, (consumer, event_type, 0))[2]
        if got <= 0:
            continue
        spent = sum(calls_a.get(consumer, {}).values()) - sum(calls_b.get(consumer, {}).values())
        rows.append((consumer, event_type, got, spent))
    return rows


def event_call_rows(stack: Any, per_type: int) -> list[tuple[str, str, int, int, dict[str, int]]]:
    """Publish ``per_type`` stored samples of each consumed event type, one type at a time, and count
    what each consumer spends on them (its AWS calls over the messages it received)."""
    import json

    events = stack.aws("events")
    health = stack.health()
    # RenewalSubmitted first: it gives the samples' owner an address, which the others may not carry
    types = sorted(
        {s["event_type"] for s in health["events"]["subscriptions"]}, key=lambda t: t != "RenewalSubmitted"
    )
    rows = []
    for event_type in types:
        sample = ROOT / "events" / "samples" / f"{event_type}.v1.json"
        if not sample.exists():
            continue
        doc = json.loads(sample.read_text())
        before = stack.health()
        entries = []
        for _ in range(per_type):
            detail = json.loads(json.dumps(doc))
            detail["metadata"]["event_id"] = uuid.uuid4().hex
            entries.append(
                {
                    "Source": f"hms.{doc['metadata']['source']}",
                    "DetailType": event_type,
                    "Detail": json.dumps(detail),
                    "EventBusName": "hms",
                }
            )
        for start in range(0, len(entries), 10):
            events.put_events(Entries=entries[start : start + 10])
        stack.drain(timeout=60)
        after = stack.health()
        for consumer, etype, got, spent in per_event_calls(before, after):
            ops_b = ((before.get("aws_calls") or {}).get("windows") or {}).get(consumer, {})
            ops_a = ((after.get("aws_calls") or {}).get("windows") or {}).get(consumer, {})
            ops = {k: v - ops_b.get(k, 0) for k, v in ops_a.items() if v - ops_b.get(k, 0)}
            rows.append((consumer, etype, got, spent, ops))
    return rows


def tables(outcomes: list[Outcome], event_rows: list[Any], args: argparse.Namespace) -> list[Table]:
    t = Table(
        title=f"{TITLE}: {args.flow_seconds:g} s per rate; held = every renewal ready_for_review with exactly "
        f"three notifications, no DLQ, queues drained within {args.flow_drain:g} s (goal: >= {GOAL_RPS:g}/s)",
        title_justify="left",
    )
    for col in (
        "offered/s",
        "renewals",
        "ready",
        "3 notifications",
        "errors",
        "DLQ",
        "drained",
        "done p50",
        "done p99",
        "AWS calls/renewal",
        "held",
    ):
        t.add_column(col, justify="right")
    for o in outcomes:
        t.add_row(
            f"{o.rate:g}",
            str(o.offered),
            str(o.ready),
            str(o.notified),
            ", ".join(f"{k} x{v}" for k, v in o.errors.items()) or "0",
            str(o.in_dlq),
            f"{o.drained_s:.1f} s" if o.drained_s is not None else "[red]no[/]",
            f"{o.done(0.5):.2f} s",
            f"{o.done(0.99):.2f} s",
            f"{o.calls / max(1, o.offered):.1f}",
            "[green]yes[/]" if o.held else "[red]no[/]",
        )
    best = max((o.rate for o in outcomes if o.held), default=0.0)
    t.caption = f"highest rate that held: {best:g} renewals/s" + (
        "" if best >= GOAL_RPS else f" [red](goal {GOAL_RPS:g})[/]"
    )
    out = [t]
    if outcomes:
        w = Table(title="AWS calls per renewal by window (first rate)", title_justify="left")
        w.add_column("window")
        w.add_column("calls/renewal", justify="right")
        w.add_column("by operation")
        first = outcomes[0]
        per = max(1, first.offered)
        for name, n in sorted(first.calls_by_window.items()):
            ops = first.ops_by_window.get(name, Counter())
            w.add_row(name, f"{n / per:.1f}", ", ".join(f"{op} {k / per:.1f}" for op, k in ops.most_common()))
        out.append(w)
    if outcomes:
        c = Table(
            title="CPU per renewal by process, ms (offer and drain; the machine's cores are shared by all)",
            title_justify="left",
        )
        c.add_column("process")
        for o in outcomes:
            c.add_column(f"{o.rate:g}/s", justify="right")
        roles = sorted(
            {r for o in outcomes for r in o.cpu_by_group}, key=lambda r: -outcomes[0].cpu_by_group.get(r, 0)
        )
        c.add_row(
            "[dim]environments started (cold starts)[/]",
            *(str(sum(o.cold_starts.values())) for o in outcomes),
        )
        for role in [*roles, "total"]:
            c.add_row(
                role,
                *(
                    f"{1000 * (sum(o.cpu_by_group.values()) if role == 'total' else o.cpu_by_group.get(role, 0)) / max(1, o.offered):.0f}"
                    for o in outcomes
                ),
            )
        out.append(c)
    if event_rows:
        e = Table(title="AWS calls per delivered event, by consumer and event type", title_justify="left")
        for col in ("consumer", "event type", "events", "calls/event", "by operation"):
            e.add_column(
                col, justify="left" if col in ("consumer", "event type", "by operation") else "right"
            )
        for consumer, etype, got, spent, ops in event_rows:
            e.add_row(
                consumer,
                etype,
                str(got),
                f"{spent / got:.1f}",
                ", ".join(f"{k} {v / got:.1f}" for k, v in sorted(ops.items())),
            )
        out.append(e)
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--flow-rates", default="2,5,10,15", help="renewals per second to offer (default 2,5,10,15)"
    )
    parser.add_argument(
        "--flow-seconds", type=float, default=60.0, help="seconds each rate is offered (default 60)"
    )
    parser.add_argument(
        "--flow-drain", type=float, default=10.0, help="seconds allowed to finish after (default 10)"
    )
    parser.add_argument(
        "--flow-events", type=int, default=20, help="sample events per type for the calls table"
    )


def run(args: argparse.Namespace, console: Console) -> list[Table]:
    sys.path.insert(0, str(HERE))
    from events import running_stack

    picture = photo()
    outcomes = []
    with running_stack(console) as stack:
        citizens = Citizens(stack)
        try:
            with console.status("flow bench: one warm-up renewal"):
                offer(stack, citizens, 1.0, 1.0, picture, 30.0)
            event_rows = event_call_rows(stack, args.flow_events)
            for rate in (float(r) for r in args.flow_rates.split(",")):
                with console.status(f"flow bench: {rate:g} renewals/s for {args.flow_seconds:g} s"):
                    outcome = offer(stack, citizens, rate, args.flow_seconds, picture, args.flow_drain)
                outcomes.append(outcome)
                console.print(
                    f"[dim]flow {rate:g}/s: {outcome.ready}/{outcome.offered} ready, held={outcome.held}; "
                    "environments started: "
                    f"{', '.join(f'{w} {n}' for w, n in sorted(outcome.cold_starts.items()) if n) or 'none'}[/]"
                )
                if not outcome.held:
                    break
        finally:
            citizens.close()
    return tables(outcomes, event_rows, args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=TITLE)
    add_arguments(parser)
    c = Console(width=160)
    for table in run(parser.parse_args(), c):
        c.print(table)
