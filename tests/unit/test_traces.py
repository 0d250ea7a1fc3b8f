"""The trace recorder: one trace per correlation id, bounded, cleared on request; the log buffer; the
console API in-process (loopback only, writes need X-HMS-Console); the topology picture."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers import ROOT

from hms.local.console import Console, Runtime
from hms.local.logbuffer import LogBuffer, parse_line
from hms.local.topology_svg import topology_svg
from hms.local.traces import TraceRecorder, percentile
from hms.model import load_platform


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Binding:
    name: str = "notifications-RenewalSubmitted"
    consumer: str = "notifications"
    dlq_name: str = "hms-notifications-RenewalSubmitted-dlq"


def message(cid: str, event_id: str, receives: int = 1, mid: str = "m-1") -> dict[str, Any]:
    detail = {
        "metadata": {"event_id": event_id, "type": "RenewalSubmitted", "version": 1, "correlation_id": cid}
    }
    body = {"detail-type": "RenewalSubmitted", "detail": detail}
    return {
        "MessageId": mid,
        "Body": json.dumps(body),
        "Attributes": {"ApproximateReceiveCount": str(receives)},
    }


def request(
    rec: TraceRecorder, cid: str, *, window: str = "passport", status: int = 202, ms: float = 40.0
) -> None:
    rec.request(
        correlation_id=cid, request_id="r-" + cid, method="POST", path="/api/v1/renewals",
        route="POST /api/v1/renewals", window=window, sub="ada", status=status, ms=ms,
    )  # fmt: skip


def test_a_request_its_event_its_delivery_and_its_email_make_one_trace_in_time_order() -> None:
    clock = Clock()
    rec = TraceRecorder(clock=clock, monotonic=clock)
    request(rec, "c-1")
    clock.now += 0.05
    rec.published({"Source": "hms.passport", "DetailType": "RenewalSubmitted",
                   "Detail": json.dumps({"metadata": {"event_id": "e-1", "type": "RenewalSubmitted",
                                                      "version": 1, "source": "passport", "correlation_id": "c-1"}})})  # fmt: skip
    clock.now += 0.2
    rec.delivered(Binding(), [message("c-1", "e-1")], set(), None, 30.0)
    rec.from_log({"window": "notifications", "correlation_id": "c-1",
                  "fields": {"ses_message_id": "ses-1", "delivery": "sent", "cause_correlation_id": "c-1"}})  # fmt: skip
    trace = rec.trace("c-1")
    assert trace is not None
    assert [e["kind"] for e in trace["entries"]] == ["request", "published", "delivery", "email"]
    assert trace["windows"] == ["passport", "notifications"]
    first = trace["entries"][0]
    assert (first["route"], first["sub"], first["status"], first["ms"]) == (
        "POST /api/v1/renewals",
        "ada",
        202,
        40.0,
    )
    assert first["offset_ms"] == 0 and trace["entries"][1]["offset_ms"] == pytest.approx(90.0)
    delivery = trace["entries"][2]
    assert (delivery["subscription"], delivery["result"], delivery["receive_count"]) == (
        Binding.name,
        "ok",
        1,
    )
    assert rec.correlation_of_email("ses-1") == "c-1"
    assert rec.trace("unknown") is None


def test_a_failed_delivery_then_its_dead_letter_then_its_redrive_are_recorded_once_each() -> None:
    clock = Clock()
    rec = TraceRecorder(clock=clock, monotonic=clock)
    rec.delivered(Binding(), [message("c-2", "e-2", receives=3, mid="m-2")], {"m-2"}, "ValueError: boom", 5.0)
    clock.now += 2
    assert rec.dead_lettered(Binding(), [message("c-2", "e-2", receives=3, mid="m-2")]) == 1
    assert rec.dead_lettered(Binding(), [message("c-2", "e-2", receives=4, mid="m-2")]) == 0  # peeked again
    clock.now += 2
    rec.delivered(Binding(), [message("c-2", "e-2", mid="m-3")], set(), None, 5.0)  # back from the DLQ
    clock.now += 2
    rec.delivered(Binding(), [message("c-2", "e-2", mid="m-4")], set(), None, 5.0)  # a plain duplicate
    kinds = [e["kind"] for e in rec.trace("c-2")["entries"]]  # type: ignore[index]
    assert kinds == ["delivery", "dead_letter", "redrive", "delivery", "delivery"]
    failed = rec.trace("c-2")["entries"][0]  # type: ignore[index]
    assert failed["result"] == "failed" and failed["error"] == "ValueError: boom"


def test_the_recorder_is_bounded_and_forgets_the_least_recently_active_trace() -> None:
    rec = TraceRecorder(max_traces=3, max_entries=2, feed_size=5)
    for cid in ("a", "b", "c"):
        request(rec, cid)
    request(rec, "a")  # a is active again: b is now the oldest
    request(rec, "d")
    assert rec.trace("b") is None and rec.trace("a") is not None
    request(rec, "a")
    assert len(rec.trace("a")["entries"]) == 2 and rec.trace("a")["dropped"] == 1  # type: ignore[index]
    assert len(rec.since(0)) == 5 and rec.summary()["evicted"] == 1
    rec.clear()
    assert rec.trace("a") is None and rec.since(0) == [] and rec.traces() == []


def test_disabled_recording_records_nothing() -> None:
    rec = TraceRecorder()
    rec.enabled = False
    request(rec, "x")
    assert rec.trace("x") is None and rec.window_stats() == {}


def test_window_traffic_gives_rate_percentiles_and_errors() -> None:
    clock = Clock()
    rec = TraceRecorder(clock=clock, monotonic=clock)
    for i, status in enumerate([200] * 97 + [404, 502, 503]):
        request(rec, f"t-{i}", window="payments", status=status, ms=float(i + 1))
    stats = rec.window_stats()["payments"]
    assert stats["requests"] == 100 and stats["client_errors"] == 1 and stats["server_errors"] == 2
    assert (stats["p50_ms"], stats["p99_ms"]) == (50.0, 99.0)
    assert stats["rate_per_s"] == pytest.approx(100 / 60, abs=0.01)
    assert percentile([], 50) is None


def test_the_feed_reads_from_a_sequence_number_by_kind() -> None:
    rec = TraceRecorder()
    request(rec, "a")
    rec.delivered(Binding(), [message("a", "e")], set(), None, 1.0)
    request(rec, "b")
    assert [e["kind"] for e in rec.since(0, ["request"])] == ["request", "request"]
    assert [e["correlation_id"] for e in rec.since(2)] == ["b"]


# -- the log buffer -----------------------------------------------------------------------------------


def test_log_lines_are_parsed_by_source_level_and_correlation_id() -> None:
    line = '[passport#1] {"level":"WARNING","message":"slow","correlation_id":"c-9","renewal_id":"r1","service":"passport"}'
    r = parse_line(line, now=1.0)
    assert (r["window"], r["environment"], r["level"], r["message"], r["correlation_id"]) == (
        "passport", "passport#1", "WARNING", "slow", "c-9",
    )  # fmt: skip
    assert r["fields"] == {"renewal_id": "r1"}
    access = parse_line("GET /api/v1/payments 502 payments 3.10ms rid-1 cid=trace-7", now=1.0)
    assert (access["source"], access["level"], access["correlation_id"]) == ("gateway", "ERROR", "trace-7")
    assert parse_line("GET /x 200 - 1.00ms rid-2", now=1.0)["correlation_id"] == "rid-2"
    assert parse_line("[events] s: 2 message(s) -> n, 0 failed, 3 ms", now=1.0)["level"] == "INFO"
    assert parse_line("[events] s: 2 message(s) -> n, 2 failed, 3 ms", now=1.0)["level"] == "WARNING"
    assert parse_line("[payments] Traceback (most recent call last):", now=1.0)["level"] == "ERROR"


def test_emf_lines_become_per_window_metric_totals_and_filters_apply() -> None:
    seen: list[Any] = []
    logs = LogBuffer(size=3, on_record=seen.append, clock=lambda: 5.0)
    emf = {"_aws": {"CloudWatchMetrics": [{"Namespace": "HMS", "Dimensions": [["service"]],
                                           "Metrics": [{"Name": "PaymentCaptured", "Unit": "Count"}]}]},
           "service": "payments", "PaymentCaptured": [1, 1]}  # fmt: skip
    sink: list[str] = []
    log = logs.tee(sink.append)
    log("[payments] " + json.dumps(emf))
    log('[payments] {"level":"ERROR","message":"bad","correlation_id":"c-1","x":1}')
    log("[documents] plain")
    log("GET /x 200 documents 1.00ms rid")
    assert len(sink) == 4  # every line still goes out as it came
    assert logs.metrics()["payments"][0] | {"last_at": 0} == {
        "name": "PaymentCaptured", "unit": "Count", "sum": 2.0, "samples": 2, "last": 2.0, "last_at": 0,
        "dimensions": {"service": "payments"},
    }  # fmt: skip
    assert [r["message"] for r in logs.since(0)] == [
        "bad",
        "plain",
        "GET /x 200 documents 1.00ms rid",
    ]  # bounded
    assert [r["message"] for r in logs.since(0, level="ERROR")] == ["bad"]
    assert [r["message"] for r in logs.since(0, windows=["gateway"])] == ["GET /x 200 documents 1.00ms rid"]
    assert [r["message"] for r in logs.since(0, correlation_id="c-1")] == ["bad"]
    assert [r["message"] for r in seen] == ["bad"]  # records with fields go to the recorder


# -- the console API, in-process ------------------------------------------------------------------------


def call(app: Console, method: str, path: str, *, client: str = "127.0.0.1", headers: dict[str, str] | None = None,
         body: bytes = b"", query: str = "") -> tuple[int, dict[str, str], bytes]:  # fmt: skip
    sent: list[dict[str, Any]] = []
    raw = [(k.encode(), v.encode()) for k, v in {"host": "127.0.0.1:3000", **(headers or {})}.items()]
    scope = {"type": "http", "method": method, "path": path, "headers": raw, "client": (client, 5000),
             "query_string": query.encode()}  # fmt: skip

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = sent[0]
    return (
        start["status"],
        {k.decode(): v.decode() for k, v in start["headers"]},
        b"".join(m.get("body", b"") for m in sent[1:]),
    )


@pytest.fixture
def app(tmp_path: Path) -> Console:
    rec = TraceRecorder()
    request(rec, "c-1")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "openapi.json").write_text('{"openapi": "3.1.0"}')
    platform = load_platform(ROOT)
    return Console(Runtime(root=tmp_path, recorder=rec, logs=LogBuffer(), platform=lambda: platform))


def test_a_trace_is_answered_as_json_and_an_unknown_one_is_404(app: Console) -> None:
    status, headers, body = call(app, "GET", "/_hms/api/traces/c-1")
    assert status == 200 and headers["content-type"] == "application/json"
    assert json.loads(body)["entries"][0]["route"] == "POST /api/v1/renewals"
    status, headers, body = call(app, "GET", "/_hms/api/traces/nope")
    assert status == 404 and headers["content-type"] == "application/problem+json"


def test_the_console_answers_loopback_clients_with_a_loopback_host_only(app: Console) -> None:
    assert call(app, "GET", "/_hms/api/traces/c-1", client="10.0.0.8")[0] == 404
    assert call(app, "GET", "/_hms/api/traces/c-1", headers={"host": "evil.example:3000"})[0] == 404


def test_clearing_and_pausing_need_the_console_header(app: Console) -> None:
    assert call(app, "DELETE", "/_hms/api/traces")[0] == 403
    assert (
        call(
            app, "DELETE", "/_hms/api/traces", headers={"x-hms-console": "1", "sec-fetch-site": "cross-site"}
        )[0]
        == 403
    )
    assert call(app, "DELETE", "/_hms/api/traces", headers={"x-hms-console": "1"})[0] == 200
    assert call(app, "GET", "/_hms/api/traces/c-1")[0] == 404
    status, _h, body = call(
        app, "PUT", "/_hms/api/traces/recording", headers={"x-hms-console": "1"}, body=b'{"enabled": false}'
    )
    assert status == 200 and json.loads(body)["enabled"] is False
    assert app.rt.recorder.enabled is False


def test_an_event_that_breaks_its_contract_is_refused_before_the_bus(app: Console) -> None:
    status, _h, body = call(app, "POST", "/_hms/api/events", headers={"x-hms-console": "1"},
                            body=b'{"metadata": {"event_id": "e", "type": "Nope", "version": 1, "source": "x", "time": "2026-01-01T00:00:00Z"}, "data": {}}')  # fmt: skip
    assert status == 422 and "Nope" in json.loads(body)["detail"]


def test_the_overview_lists_windows_routes_and_subscriptions(app: Console) -> None:
    status, _h, body = call(app, "GET", "/_hms/api/overview")
    overview = json.loads(body)
    assert status == 200
    assert {w["name"] for w in overview["windows"]} >= {"passport", "payments"}
    assert any(r["path"] == "/api/v1/renewals" and r["scopes"] for r in overview["routes"])
    assert {s["name"] for s in overview["subscriptions"]} >= {"notifications-RenewalSubmitted"}


def test_the_openapi_document_and_the_console_pages_are_served_with_a_strict_csp(app: Console) -> None:
    status, headers, body = call(app, "GET", "/_hms/openapi.json")
    assert status == 200 and json.loads(body) == {"openapi": "3.1.0"}
    status, headers, body = call(app, "GET", "/_hms/")
    assert status == 200 and "script-src 'self'" in headers["content-security-policy"]
    assert b"make console" in body  # not built in this temporary root: it says how
    assert call(app, "GET", "/_hms/assets/../../../etc/passwd")[0] == 404


def test_the_topology_picture_names_every_window_event_type_and_consumer() -> None:
    platform = load_platform(ROOT)
    svg = topology_svg(platform)
    assert svg.startswith("<svg") and 'role="img"' in svg and "<title" in svg
    for w in platform.windows:
        assert f'id="node-window-{w.name}"' in svg
    for t in platform.topology.publishers:
        assert f'id="node-event-{t}"' in svg
    assert svg.count('class="edge subscription"') == len(platform.topology.subscriptions)
