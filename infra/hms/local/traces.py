"""The local trace recorder: what one request caused, across windows, events and retries.

Every HTTP request has a correlation id (``hmskit.correlation``: the client's valid
``X-Correlation-Id``, else the request id); every event it causes carries it in its metadata, and
every event a consumer publishes in turn carries it onward. Under ``hms up`` the runtime records,
per correlation id, in memory:

* the HTTP request (``request``): route, principal's ``sub``, status, latency, window — from the
  gateway (``Gateway(on_request=recorder.request)``);
* each outbox row published to the bus (``published``) — from the relay's publisher;
* each delivery attempt (``delivery``): subscription, consumer, result, receive count, duration —
  from the event pump, one entry per message of a batch;
* DLQ arrivals (``dead_letter``, seen by peeking a DLQ whose depth grew) and redrives (``redrive``:
  a dead-lettered event delivered again from its queue, whoever moved it back);
* emails sent (``email``): the notification window's log line naming its SES message id.

Bounded: at most ``max_traces`` correlation ids (least recently updated evicted first), at most
``max_entries`` entries each (later ones counted, not kept), and a live feed of the last
``feed_size`` entries (the console's request log and ``hms events tail``). ``clear()`` empties it.
Hooks are called from the event loop and from the relay's threads, so mutations take a lock.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

MAX_TRACES = 2000
MAX_ENTRIES = 200
FEED_SIZE = 5000
WINDOW_SAMPLES = 2048  # latencies kept per window for p50/p99
RATE_SECONDS = 60.0  # request rate: requests over the last minute
DEAD_MEMORY = 10_000  # dead-lettered message ids remembered (for arrivals and redrives)

Clock = Callable[[], float]


class Entry:
    """One thing that happened: ``kind`` plus its fields; ``at`` is when it started (epoch s)."""

    __slots__ = ("at", "correlation_id", "fields", "kind", "ms", "seq", "window")

    def __init__(
        self,
        seq: int,
        kind: str,
        correlation_id: str | None,
        at: float,
        ms: float | None,
        window: str | None,
        fields: dict[str, Any],
    ) -> None:
        self.seq = seq
        self.kind = kind
        self.correlation_id = correlation_id
        self.at = at
        self.ms = ms
        self.window = window
        self.fields = fields

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "seq": self.seq,
            "kind": self.kind,
            "correlation_id": self.correlation_id,
            "at": round(self.at, 6),
            "window": self.window,
        }
        if self.ms is not None:
            out["ms"] = round(self.ms, 2)
        out.update(self.fields)
        return out


class _Trace:
    __slots__ = ("dropped", "entries")

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.dropped = 0


class _WindowSamples:
    __slots__ = ("client_errors", "requests", "samples", "server_errors")

    def __init__(self) -> None:
        self.samples: deque[tuple[float, float, int]] = deque(maxlen=WINDOW_SAMPLES)  # (mono, ms, status)
        self.requests = 0
        self.client_errors = 0
        self.server_errors = 0


def percentile(values: list[float], p: float) -> float | None:
    """The nearest-rank percentile (``p`` in 0..100) of ``values``; ``None`` when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def event_facts(body: str) -> dict[str, Any]:
    """Correlation id, event id, type and source of an SQS message body holding an EventBridge event."""
    try:
        envelope = json.loads(body)
        detail = envelope.get("detail") or {}
        if isinstance(detail, str):
            detail = json.loads(detail)
        meta = detail.get("metadata") or {}
        return {
            "correlation_id": meta.get("correlation_id"),
            "event_id": meta.get("event_id"),
            "type": meta.get("type") or envelope.get("detail-type"),
            "version": meta.get("version"),
            "source": meta.get("source"),
        }
    except (ValueError, AttributeError, TypeError):
        return {"correlation_id": None, "event_id": None, "type": None, "version": None, "source": None}


class TraceRecorder:
    """See the module docstring. ``enabled = False`` stops recording (the hooks return at once)."""

    def __init__(
        self,
        *,
        max_traces: int = MAX_TRACES,
        max_entries: int = MAX_ENTRIES,
        feed_size: int = FEED_SIZE,
        clock: Clock = time.time,
        monotonic: Clock = time.monotonic,
    ) -> None:
        self.max_traces = max_traces
        self.max_entries = max_entries
        self.enabled = True
        self._clock = clock
        self._mono = monotonic
        self._lock = threading.Lock()
        self._traces: OrderedDict[str, _Trace] = OrderedDict()
        self._feed: deque[Entry] = deque(maxlen=feed_size)
        self._windows: dict[str, _WindowSamples] = {}
        self._seq = 0
        self._evicted = 0
        self._dead: OrderedDict[tuple[str, str], str | None] = OrderedDict()  # (sub, event id) -> cid
        self._dead_messages: OrderedDict[str, None] = OrderedDict()  # DLQ message ids already recorded
        self._emails: OrderedDict[str, str | None] = OrderedDict()  # SES message id -> correlation id

    # -- recording -----------------------------------------------------------------------------

    def _add(
        self,
        kind: str,
        correlation_id: str | None,
        at: float,
        ms: float | None,
        window: str | None,
        fields: dict[str, Any],
    ) -> Entry:
        with self._lock:
            self._seq += 1
            entry = Entry(self._seq, kind, correlation_id, at, ms, window, fields)
            self._feed.append(entry)
            if correlation_id:
                traces = self._traces
                trace = traces.get(correlation_id)
                if trace is None:
                    trace = traces[correlation_id] = _Trace()
                    if len(traces) > self.max_traces:
                        traces.popitem(last=False)
                        self._evicted += 1
                else:
                    traces.move_to_end(correlation_id)
                if len(trace.entries) < self.max_entries:
                    trace.entries.append(entry)
                else:
                    trace.dropped += 1
            return entry

    def request(
        self,
        *,
        correlation_id: str,
        request_id: str,
        method: str,
        path: str,
        route: str | None,
        window: str | None,
        sub: str | None,
        status: int,
        ms: float,
    ) -> None:
        """One HTTP request, as the gateway answered it (called once the answer is sent)."""
        if not self.enabled:
            return
        now = self._clock()
        fields = {
            "request_id": request_id,
            "method": method,
            "path": path,
            "route": route,
            "sub": sub,
            "status": status,
        }
        self._add("request", correlation_id, now - ms / 1000.0, ms, window, fields)
        if window is not None:
            with self._lock:
                stats = self._windows.get(window)
                if stats is None:
                    stats = self._windows[window] = _WindowSamples()
                stats.samples.append((self._mono(), ms, status))
                stats.requests += 1
                if status >= 500:
                    stats.server_errors += 1
                elif status >= 400:
                    stats.client_errors += 1

    def published(self, entry: Mapping[str, Any]) -> None:
        """An outbox row the bus accepted (a ``PutEvents`` entry: Source, DetailType, Detail)."""
        if not self.enabled:
            return
        try:
            detail = json.loads(str(entry.get("Detail") or "{}"))
            meta = detail.get("metadata") or {}
        except (ValueError, AttributeError):
            meta = {}
        source = str(entry.get("Source") or "")
        window = meta.get("source") or source.removeprefix("hms.") or None
        fields = {
            "event_id": meta.get("event_id"),
            "type": meta.get("type") or entry.get("DetailType"),
            "version": meta.get("version"),
            "via": entry.get("_via", "outbox"),
        }
        self._add("published", meta.get("correlation_id"), self._clock(), None, window, fields)

    def delivered(
        self,
        binding: Any,
        messages: Iterable[Mapping[str, Any]],
        failed: set[str],
        why: str | None,
        ms: float,
    ) -> None:
        """One batch handed to a consumer: an entry per message (result, receive count, duration)."""
        if not self.enabled:
            return
        end = self._clock()
        start = end - ms / 1000.0
        subscription = getattr(binding, "name", "")
        for m in messages:
            facts = event_facts(str(m.get("Body", "")))
            attrs = m.get("Attributes") or {}
            message_id = str(m.get("MessageId", ""))
            cid, event_id = facts["correlation_id"], facts["event_id"]
            if event_id:
                with self._lock:
                    redriven = self._dead.pop((subscription, str(event_id)), False) is not False
                if redriven:
                    self._add(
                        "redrive",
                        cid,
                        start,
                        None,
                        getattr(binding, "consumer", None),
                        {"subscription": subscription, "event_id": event_id, "type": facts["type"]},
                    )
            result = "failed" if message_id in failed else "ok"
            fields = {
                "subscription": subscription,
                "consumer": getattr(binding, "consumer", None),
                "event_id": event_id,
                "type": facts["type"],
                "message_id": message_id,
                "receive_count": int(attrs.get("ApproximateReceiveCount", 0) or 0),
                "result": result,
                "error": why if result == "failed" else None,
            }
            self._add("delivery", cid, start, ms, getattr(binding, "consumer", None), fields)

    def dead_lettered(self, binding: Any, messages: Iterable[Mapping[str, Any]]) -> int:
        """Messages seen in a subscription's DLQ; each is recorded once. Returns how many were new."""
        if not self.enabled:
            return 0
        subscription = getattr(binding, "name", "")
        new = 0
        for m in messages:
            message_id = str(m.get("MessageId", ""))
            with self._lock:
                if message_id in self._dead_messages:
                    continue
                self._dead_messages[message_id] = None
                if len(self._dead_messages) > DEAD_MEMORY:
                    self._dead_messages.popitem(last=False)
            facts = event_facts(str(m.get("Body", "")))
            if facts["event_id"]:
                with self._lock:
                    self._dead[(subscription, str(facts["event_id"]))] = facts["correlation_id"]
                    if len(self._dead) > DEAD_MEMORY:
                        self._dead.popitem(last=False)
            attrs = m.get("Attributes") or {}
            self._add(
                "dead_letter",
                facts["correlation_id"],
                self._clock(),
                None,
                getattr(binding, "consumer", None),
                {
                    "subscription": subscription,
                    "dlq": getattr(binding, "dlq_name", None),
                    "event_id": facts["event_id"],
                    "type": facts["type"],
                    "message_id": message_id,
                    "receive_count": int(attrs.get("ApproximateReceiveCount", 0) or 0),
                },
            )
            new += 1
        return new

    def email(
        self,
        *,
        correlation_id: str | None,
        window: str | None,
        message_id: str,
        delivery: str | None = None,
        event_id: str | None = None,
        at: float | None = None,
    ) -> None:
        """An email handed to SES (its message id; the emulator keeps the message itself)."""
        if not self.enabled:
            return
        with self._lock:
            self._emails[message_id] = correlation_id
            if len(self._emails) > DEAD_MEMORY:
                self._emails.popitem(last=False)
        fields = {"message_id": message_id, "delivery": delivery, "event_id": event_id}
        self._add("email", correlation_id, at if at is not None else self._clock(), None, window, fields)

    def from_log(self, record: Mapping[str, Any]) -> None:
        """A parsed window log line (``hms.local.logbuffer``): an email when it names an SES message."""
        fields = record.get("fields")
        if not isinstance(fields, Mapping):
            return
        message_id = fields.get("ses_message_id")
        if not message_id or fields.get("delivery") not in ("sent", "pending"):
            return
        self.email(
            correlation_id=fields.get("cause_correlation_id") or record.get("correlation_id"),
            window=record.get("window"),
            message_id=str(message_id),
            delivery=str(fields.get("delivery")),
            event_id=fields.get("notification_event_id"),
        )

    def clear(self) -> None:
        with self._lock:
            self._traces.clear()
            self._feed.clear()
            self._windows.clear()
            self._dead.clear()
            self._dead_messages.clear()
            self._emails.clear()
            self._evicted = 0

    # -- reading -------------------------------------------------------------------------------

    def trace(self, correlation_id: str) -> dict[str, Any] | None:
        """Everything recorded for one correlation id, in time order; ``None`` when unknown."""
        with self._lock:
            trace = self._traces.get(correlation_id)
            if trace is None:
                return None
            entries = sorted(trace.entries, key=lambda e: (e.at, e.seq))
            dropped = trace.dropped
        if not entries:
            return None
        started = entries[0].at
        ended = max(e.at + (e.ms or 0) / 1000.0 for e in entries)
        lanes: list[str] = []
        for e in entries:
            lane = e.window or "-"
            if lane not in lanes:
                lanes.append(lane)
        counts: dict[str, int] = {}
        for e in entries:
            counts[e.kind] = counts.get(e.kind, 0) + 1
        return {
            "correlation_id": correlation_id,
            "started": started,
            "ended": ended,
            "duration_ms": round((ended - started) * 1000, 2),
            "windows": lanes,
            "counts": counts,
            "dropped": dropped,
            "entries": [dict(e.as_dict(), offset_ms=round((e.at - started) * 1000, 2)) for e in entries],
        }

    def traces(self, limit: int = 50) -> list[dict[str, Any]]:
        """The most recently updated traces, newest first: a summary of each."""
        with self._lock:
            recent = list(self._traces.items())[-limit:]
            summaries = []
            for cid, trace in reversed(recent):
                first = trace.entries[0] if trace.entries else None
                request = next((e for e in trace.entries if e.kind == "request"), None)
                summaries.append(
                    {
                        "correlation_id": cid,
                        "started": first.at if first else None,
                        "entries": len(trace.entries) + trace.dropped,
                        "request": request.as_dict() if request else None,
                        "windows": sorted({e.window for e in trace.entries if e.window}),
                        "failed": sum(
                            1
                            for e in trace.entries
                            if (e.kind == "delivery" and e.fields.get("result") == "failed")
                            or e.kind == "dead_letter"
                            or (e.kind == "request" and int(e.fields.get("status") or 0) >= 500)
                        ),
                    }
                )
        return summaries

    def since(
        self, seq: int = 0, kinds: Iterable[str] | None = None, limit: int = 500
    ) -> list[dict[str, Any]]:
        """Feed entries after ``seq`` (oldest first), optionally of some kinds only, at most ``limit``
        (the newest ones when there are more)."""
        wanted = set(kinds) if kinds else None
        with self._lock:
            out: list[Entry] = []
            for e in reversed(self._feed):
                if e.seq <= seq:
                    break
                if wanted is None or e.kind in wanted:
                    out.append(e)
                    if len(out) >= limit:
                        break
        return [e.as_dict() for e in reversed(out)]

    @property
    def last_seq(self) -> int:
        return self._seq

    def correlation_of_email(self, message_id: str) -> str | None:
        with self._lock:
            return self._emails.get(message_id)

    def window_stats(self) -> dict[str, dict[str, Any]]:
        """Per window: requests, 4xx/5xx, requests per second over the last minute, p50/p99 (ms)."""
        now = self._mono()
        out: dict[str, dict[str, Any]] = {}
        with self._lock:
            items = [
                (name, list(s.samples), s.requests, s.client_errors, s.server_errors)
                for name, s in self._windows.items()
            ]
        for name, samples, requests, client_errors, server_errors in items:
            recent = [s for s in samples if now - s[0] <= RATE_SECONDS]
            latencies = [s[1] for s in samples]
            p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
            out[name] = {
                "requests": requests,
                "client_errors": client_errors,
                "server_errors": server_errors,
                "rate_per_s": round(len(recent) / RATE_SECONDS, 3),
                "p50_ms": None if p50 is None else round(p50, 2),
                "p99_ms": None if p99 is None else round(p99, 2),
            }
        return out

    def summary(self) -> dict[str, Any]:
        with self._lock:
            return {
                "enabled": self.enabled,
                "traces": len(self._traces),
                "max_traces": self.max_traces,
                "max_entries": self.max_entries,
                "feed": len(self._feed),
                "feed_size": self._feed.maxlen,
                "evicted": self._evicted,
                "last_seq": self._seq,
            }


class PumpObserver:
    """The event pump's observer: deliveries to the recorder; a DLQ that grew is peeked (its messages
    left in place) so that each arrival is recorded under its correlation id."""

    def __init__(
        self, recorder: TraceRecorder, sqs: Any, *, log: Callable[[str], None] | None = None
    ) -> None:
        self.recorder = recorder
        self._sqs = sqs
        self._log = log if log is not None else (lambda _line: None)
        self._peeks: set[Any] = set()

    def delivered(
        self,
        binding: Any,
        messages: Iterable[Mapping[str, Any]],
        failed: set[str],
        why: str | None,
        ms: float,
    ) -> None:
        self.recorder.delivered(binding, messages, failed, why, ms)

    def dlq_grew(self, binding: Any) -> None:
        import asyncio

        if not self.recorder.enabled or not getattr(binding, "dlq_url", None):
            return
        task = asyncio.get_running_loop().create_task(self._peek(binding))
        self._peeks.add(task)
        task.add_done_callback(self._peeks.discard)

    async def _peek(self, binding: Any) -> None:
        import asyncio

        from hms.local.dlq import peek_url

        try:
            messages = await asyncio.to_thread(peek_url, self._sqs, binding.dlq_url, limit=50, wait=0)
        except Exception as exc:  # the count is still shown; only the trace misses the arrival
            self._log(f"[events] {binding.name}: could not peek its DLQ for the traces: {exc}")
            return
        self.recorder.dead_lettered(binding, messages)
