"""Event delivery in the running local stack: `hms up` provisions the subscriptions, shows them, and
pumps an event put on the bus into every consumer's worker; `hms dlq` reads the same queues."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import pytest
from e2e_support import Stack, copy_project, start_stack, stop_stack

from hms.model import load_platform
from hmskit.contracts import PaymentCapturedV1, build

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


@pytest.fixture(scope="module")
def events_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = copy_project(tmp_path_factory.mktemp("evented"))
    s = start_stack(root, "--visibility-timeout", "1", "--no-watch")
    try:
        yield s
    finally:
        stop_stack(s)


def test_the_startup_output_and_health_list_every_subscription(events_stack: Stack) -> None:
    topology = load_platform(events_stack.root).topology
    assert topology.subscriptions  # events/topology.yaml came with the project
    subs = events_stack.subscriptions()
    assert set(subs) == {s.name for s in topology.subscriptions}
    for s in topology.subscriptions:
        entry = subs[s.name]
        assert (entry["queue"], entry["dlq"]) == (s.local_queue_name(), s.local_dlq_name())
        assert (entry["publisher"], entry["consumer"]) == (s.publisher, s.consumer)
    events = events_stack.health()["events"]
    assert (events["bus"], events["visibility_timeout"]) == ("hms", 1)
    log = events_stack.log()
    assert "Subscriptions — bus hms" in log
    for s in topology.subscriptions:
        assert s.local_dlq_name() in log and f"{s.publisher} -> {s.consumer}" in log
    assert "namespace hms" in log


def test_a_payment_captured_on_the_bus_is_pumped_into_each_consumer(events_stack: Stack) -> None:
    data = PaymentCapturedV1(
        payment_id=uuid.uuid4().hex,
        owner="alice",
        amount="25.00",
        currency="USD",
        purpose="passport renewal fee",
        captured_at=datetime.now(UTC),
    )
    event = build(
        data, event_id=uuid.uuid4().hex, source="payments", time=datetime.now(UTC), correlation_id=None
    )
    consumers = [s for s in events_stack.subscriptions() if s.endswith("-PaymentCaptured")]
    assert consumers
    before = {name: events_stack.subscriptions()[name]["invocations"] for name in consumers}
    bus = boto3.client(
        "events",
        endpoint_url=events_stack.aws_endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    sent = time.monotonic()
    resp = bus.put_events(
        Entries=[
            {
                "Source": "hms.payments",
                "DetailType": "PaymentCaptured",
                "Detail": json.dumps(event.detail()),
                "EventBusName": "hms",
            }
        ]
    )
    assert resp["FailedEntryCount"] == 0
    deadline = sent + 8
    while time.monotonic() < deadline:
        subs = events_stack.subscriptions()
        if all(subs[name]["invocations"] > before[name] for name in consumers):
            break
        time.sleep(0.05)
    else:
        raise AssertionError(
            f"not every consumer was invoked: {events_stack.subscriptions()}\n{events_stack.log()}"
        )
    for name in consumers:
        consumer = name.rsplit("-", 1)[0]
        assert f"[events] {name}: 1 message(s) -> {consumer}" in wait_for_log(
            events_stack, f"[events] {name}:"
        )


def wait_for_log(stack: Stack, text: str, timeout: float = 5) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = stack.log()
        if text in log:
            return log
        time.sleep(0.05)
    return stack.log()


def test_hms_dlq_lists_the_stack_dead_letter_queues(events_stack: Stack) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "hms.cli",
            "--root",
            str(events_stack.root),
            "dlq",
            "list",
            "--endpoint",
            events_stack.aws_endpoint,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"},
    )
    assert out.returncode == 0, out.stderr
    for name, entry in events_stack.subscriptions().items():
        row = next(line for line in out.stdout.splitlines() if name in line)
        assert entry["dlq"] in row and "missing" not in row
