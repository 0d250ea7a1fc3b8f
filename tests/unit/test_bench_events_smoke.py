"""The events bench's pure helpers, its project copy and its benchsink window; never timings, never a
server (the whole bench against a real `hms up` is tests/e2e/test_bench_events_run.py)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"hms_bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


ev = load("events")
runner = load("run")


def test_percentiles_and_the_sample() -> None:
    values = [float(v) for v in range(1, 11)]

    assert ev.percentile(values, 0) == 1.0
    assert ev.percentile(values, 50) == pytest.approx(5.5)
    assert ev.percentile(values, 99) == pytest.approx(9.91)
    assert ev.percentile(values, 100) == 10.0
    assert ev.percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        ev.percentile([], 50)
    with pytest.raises(ValueError):
        ev.percentile([1.0], 101)
    d = ev.Dist.of([3.0, 1.0, 2.0], expected=5)
    assert (d.n, d.missing, d.max, d.p(50)) == (3, 2, 3.0, 2.0)
    assert ev.ratio(20.0, 10.0) == "2.00x"
    assert ev.ratio(7.4, 148.0) == "0.050x"
    assert ev.ratio(1.0, 0.0) == "-"


def test_chunks_and_the_pacer_send_everything_in_order() -> None:
    assert ev.chunks(120, 50) == [50, 50, 20]
    assert ev.chunks(50, 50) == [50]
    assert ev.chunks(0, 50) == []
    calls: list[int] = []

    achieved = ev.paced(5, 1e6, calls.append)

    assert calls == [0, 1, 2, 3, 4]
    assert achieved > 0


def test_latencies_count_only_what_arrived_and_its_first_arrival() -> None:
    rows = [
        {"t": 10.020, "event_id": "a"},
        {"t": 10.500, "event_id": "a"},  # a redelivery: the first start counts
        {"t": 10.050, "event_id": "b"},
        {"t": 10.060, "event_id": None},
    ]
    arrived = ev.first_arrivals(rows, "event_id")

    assert arrived == {"a": 10.020, "b": 10.050}
    assert ev.latencies({"a": 10.0, "b": 10.0, "c": 10.0}, arrived) == pytest.approx([20.0, 50.0])


def test_the_sink_reader_skips_a_line_being_written_and_junk() -> None:
    text = '{"t": 1.0, "event_id": "a"}\nnot json\n\n{"t": 2.0, "event_id": "b"}\n{"t": 3.0, "ev'

    assert [r["event_id"] for r in ev.parse_sink(text)] == ["a", "b"]


def test_consumer_times_read_the_pumps_delivery_lines() -> None:
    # the exact shape of hms.local.pump.EventPump.deliver's log line
    log = "\n".join(
        [
            "[events] notifications-PaymentCaptured: 4 message(s) -> notifications, 0 failed, 200 ms",
            "[outbox] payments: 1 event(s) published",
            "[events] notifications-PaymentCaptured: 2 message(s) -> notifications, 0 failed, 100 ms",
            "[events] benchsink-PaymentCaptured: 1 message(s) -> benchsink, 0 failed, 1 ms",
        ]
    )

    assert ev.consumer_times(log) == {
        "notifications-PaymentCaptured": (2, 6, 150.0),
        "benchsink-PaymentCaptured": (1, 1, 1.0),
    }


def test_the_copy_adds_benchsink_beside_the_real_consumers(tmp_path: Path) -> None:
    from hms.model import load_platform

    root = ev.copy_project(tmp_path)
    platform = load_platform(root)

    sink = platform.window("benchsink")
    assert [r.key for r in sink.routes] == ["GET /api/v1/benchsink/health"]
    assert not sink.routes[0].authorized
    names = {s.name for s in platform.topology.subscriptions}
    assert {"benchsink-PaymentCaptured", "passport-PaymentCaptured", "notifications-PaymentCaptured"} <= names
    assert "benchsink" not in {
        s.consumer for s in platform.topology.subscriptions if s.event_type != "PaymentCaptured"
    }
    assert not (ev.ROOT / "functions" / "benchsink").exists()  # the working tree is untouched


def test_the_sink_handler_records_each_record_and_answers_its_health(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hms.local.pump import sqs_event

    sink = tmp_path / "sink.jsonl"
    monkeypatch.setenv(ev.SINK_ENV, str(sink))
    handler_file = tmp_path / "handler.py"
    handler_file.write_text(ev.SINK_HANDLER)
    spec = importlib.util.spec_from_file_location("hms_bench_sink_handler", handler_file)
    assert spec is not None and spec.loader is not None
    handler = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(handler)
    event_id, detail = ev.payment_detail(7, "t")
    messages = [
        {
            "MessageId": f"m{i}",
            "ReceiptHandle": f"r{i}",
            "Body": json.dumps({"detail-type": "PaymentCaptured", "detail": json.loads(body)}),
            "Attributes": {"SentTimestamp": "1700000000123", "ApproximateReceiveCount": "1"},
        }
        for i, body in enumerate([detail, "{}"])
    ]

    answer = handler.lambda_handler(sqs_event(messages, "arn:aws:sqs:us-east-1:000000000000:q"), None)

    assert answer == {"batchItemFailures": []}
    rows = ev.parse_sink(sink.read_text())
    assert len(rows) == 2
    assert rows[0]["event_id"] == rows[0]["payment_id"] == event_id
    assert (rows[0]["type"], rows[0]["sent_ms"], rows[0]["receives"], rows[0]["batch"]) == (
        "PaymentCaptured",
        1700000000123,
        1,
        2,
    )
    assert rows[1]["event_id"] is None  # an unparseable body is recorded, never a failure
    health = handler.lambda_handler({"rawPath": "/api/v1/benchsink/health", "version": "2.0"}, None)
    assert health["statusCode"] == 200


def test_published_details_are_valid_contracts() -> None:
    from hmskit.contracts import parse_detail

    event_id, detail = ev.payment_detail(3, "x")
    event = parse_detail(detail)

    assert (event.type, event.id, event.metadata.source) == ("PaymentCaptured", event_id, "payments")
    assert ev.payment_detail(3, "x")[0] != event_id  # unique per call


def test_the_runner_knows_events_and_its_options() -> None:
    names = runner.bench_names(BENCH)
    assert "events" in names
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", action="append")
    for m in runner.load(names):
        add = getattr(m, "add_arguments", None)
        if add is not None:
            add(parser)  # no option clashes across the bench modules
    args = parser.parse_args(["--only", "events", "--events-count", "20", "--events-renewals", "2"])
    assert (args.only, args.events_count, args.events_renewals, args.events_rate) == (["events"], 20, 2, 50.0)
    with pytest.raises(SystemExit):
        ev.run(argparse.Namespace(**{**vars(args), "events_rate": 0.0}), None)
