"""The running stack's log lines, kept (bounded) so that ``hms logs`` and the console can read them.

``hms up`` writes one stream: the gateway's access lines, ``[events]``/``[outbox]``/``hms:`` lines of
the runtime, and each window's output prefixed ``[window]`` (``[window#n]`` for its n-th execution
environment): Powertools JSON log lines, EMF metric lines, tracebacks. ``LogBuffer.tee(sink)`` returns
a log function that parses each line into a record (source, window, level, message, correlation id,
the line's other fields) and keeps the last ``size`` of them, then passes the line on unchanged.

EMF lines (``{"_aws": {"CloudWatchMetrics": ...}}``) also feed per-window metric totals: what
Powertools Metrics would have put in CloudWatch.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

LOG_SIZE = 5000
LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "WARN": 30, "ERROR": 40, "CRITICAL": 50}
SYSTEM_SOURCES = {"events": "events", "outbox": "outbox", "hms": "hms"}
# Powertools' standard keys: everything else on a line is that line's own fields
_STANDARD = frozenset(
    {
        "level",
        "location",
        "message",
        "timestamp",
        "service",
        "cold_start",
        "function_name",
        "function_memory_size",
        "function_arn",
        "function_request_id",
        "correlation_id",
        "xray_trace_id",
        "sampling_rate",
    }
)
_PREFIX = re.compile(r"^\[([A-Za-z0-9_.#-]+)\] ?(.*)$", re.DOTALL)
_ACCESS = re.compile(r"^[A-Z]+ \S+ (\d{3}) \S+ [\d.]+ms \S+")
_TROUBLE = re.compile(r"\b[1-9]\d* failed|failed:|moved to the DLQ|could not|not accepted")
_CID = re.compile(r"\bcid=([A-Za-z0-9_-]{1,128})\b")

OnRecord = Callable[[Mapping[str, Any]], None]


def level_number(level: str | None) -> int:
    return LEVELS.get((level or "INFO").upper(), 20)


def parse_line(line: str, *, now: float) -> dict[str, Any]:
    """One line of the ``hms up`` stream as a record (see the module docstring)."""
    record: dict[str, Any] = {
        "at": now,
        "source": "gateway",
        "window": None,
        "level": "INFO",
        "message": line,
        "correlation_id": None,
        "fields": None,
    }
    match = _PREFIX.match(line)
    if match is None:
        if line.startswith("hms:") or line.startswith("hms "):
            record["source"] = "hms"
        else:
            access = _ACCESS.match(line)
            if access is not None:
                status = int(access.group(1))
                record["level"] = "ERROR" if status >= 500 else "INFO"
                cid = _CID.search(line)
                record["correlation_id"] = cid.group(1) if cid else line.rsplit(" ", 1)[-1]
            elif "Traceback" in line or "ERROR" in line:
                record["level"] = "ERROR"
        return record
    label, rest = match.group(1), match.group(2)
    record["message"] = rest
    if label in SYSTEM_SOURCES:
        record["source"] = SYSTEM_SOURCES[label]
        if _TROUBLE.search(rest):
            record["level"] = "WARNING"
        return record
    window = label.split("#", 1)[0]
    record["source"] = "window"
    record["window"] = window
    record["environment"] = label
    stripped = rest.lstrip()
    if stripped.startswith("{"):
        try:
            obj = json.loads(stripped)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            if "_aws" in obj:
                record["kind"] = "metrics"
                record["metrics"] = emf_metrics(obj)
                shown = ", ".join(f"{m['name']}={m['value']:g}" for m in record["metrics"])
                record["message"] = f"metrics: {shown}" if shown else "metrics"
                return record
            record["level"] = str(obj.get("level") or "INFO").upper()
            record["message"] = str(obj.get("message", ""))
            cid = obj.get("correlation_id")
            record["correlation_id"] = str(cid) if cid else None
            extra = {k: v for k, v in obj.items() if k not in _STANDARD}
            record["fields"] = extra or None
            if obj.get("location"):
                record["location"] = obj["location"]
            return record
    if stripped.startswith(("[ERROR]", "Traceback")) or "Error:" in stripped:
        record["level"] = "ERROR"
    elif stripped.startswith(("[WARNING]", "WARNING")):
        record["level"] = "WARNING"
    return record


def emf_metrics(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The metrics of one EMF document: name, unit, value (the sum when a list), dimensions."""
    out: list[dict[str, Any]] = []
    try:
        directives = obj["_aws"]["CloudWatchMetrics"]
    except (KeyError, TypeError):
        return out
    for directive in directives if isinstance(directives, list) else []:
        dims = [d for group in directive.get("Dimensions") or [] for d in group]
        dimensions = {d: obj.get(d) for d in dims if d in obj}
        for metric in directive.get("Metrics") or []:
            name = metric.get("Name")
            raw = obj.get(name)
            values = raw if isinstance(raw, list) else [raw]
            numbers = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
            if name and numbers:
                out.append(
                    {
                        "name": name,
                        "unit": metric.get("Unit", "None"),
                        "value": sum(numbers),
                        "samples": len(numbers),
                        "namespace": directive.get("Namespace"),
                        "dimensions": dimensions,
                    }
                )
    return out


class LogBuffer:
    """The last ``size`` log records and each window's metric totals; thread-safe."""

    def __init__(
        self,
        size: int = LOG_SIZE,
        *,
        on_record: OnRecord | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self._records: deque[dict[str, Any]] = deque(maxlen=size)
        self._on_record = on_record
        self._clock = clock
        self._lock = threading.Lock()
        self._seq = 0
        self._metrics: dict[str, dict[str, dict[str, Any]]] = {}

    def tee(self, sink: Callable[[str], None]) -> Callable[[str], None]:
        """A log function: keep the line, then write it to ``sink``."""

        def log(line: str) -> None:
            try:
                self.add(line)
            finally:
                sink(line)

        return log

    def add(self, line: str) -> dict[str, Any]:
        record = parse_line(line, now=self._clock())
        with self._lock:
            self._seq += 1
            record["seq"] = self._seq
            self._records.append(record)
            for m in record.get("metrics") or ():
                window = record.get("window") or "-"
                totals = self._metrics.setdefault(window, {}).setdefault(
                    m["name"], {"name": m["name"], "unit": m["unit"], "sum": 0.0, "samples": 0, "last": None}
                )
                totals["sum"] += m["value"]
                totals["samples"] += m["samples"]
                totals["last"] = m["value"]
                totals["last_at"] = record["at"]
                totals["dimensions"] = m["dimensions"]
        if self._on_record is not None and record.get("fields"):
            self._on_record(record)
        return record

    @property
    def last_seq(self) -> int:
        return self._seq

    def since(
        self,
        seq: int = 0,
        *,
        windows: Iterable[str] | None = None,
        level: str | None = None,
        correlation_id: str | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """Records after ``seq``, oldest first, filtered: ``windows`` (a window name, or ``gateway``,
        ``events``, ``outbox``, ``hms`` for the runtime's own lines), a minimum ``level``, one
        ``correlation_id``. At most ``limit``: the newest ones."""
        wanted = set(windows) if windows else None
        floor = level_number(level) if level else 0
        out: list[dict[str, Any]] = []
        with self._lock:
            for r in reversed(self._records):
                if r["seq"] <= seq:
                    break
                if wanted is not None and (r.get("window") or r["source"]) not in wanted:
                    continue
                if floor and level_number(r["level"]) < floor:
                    continue
                if correlation_id is not None and r.get("correlation_id") != correlation_id:
                    continue
                out.append(r)
                if len(out) >= limit:
                    break
        out.reverse()
        return out

    def metrics(self) -> dict[str, list[dict[str, Any]]]:
        """Per window, each metric's total, samples and last value, by name."""
        with self._lock:
            return {w: [dict(v) for _k, v in sorted(ms.items())] for w, ms in sorted(self._metrics.items())}

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self._metrics.clear()
