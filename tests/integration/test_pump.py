"""The event pump: subscription queues pumped into a real consumer worker, as Lambda's SQS event
source mapping does it (batches, ``batchItemFailures``, visibility timeouts, the DLQ).

The consumer is a throwaway window in a temporary project; what it does with each message is in
the message itself (``detail.mode``): ok, fail (listed in batchItemFailures), raise, crash (the
worker process exits), bogus (answers an id that is not in the batch). Each test pumps its own
subscription, so retries in one never reach another.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pytest
from helpers import EMULATORS, aws_environment

from hms.local.provision import Provisioned, provision
from hms.local.pump import (
    EventPump,
    InvalidBatchResponseError,
    QueueBinding,
    batch_failures,
    bindings_of,
    sqs_event,
)
from hms.local.workers import WorkerPool
from hms.model import Platform, Window, load_platform

pytestmark = pytest.mark.integration

T = TypeVar("T")
VISIBILITY = 1  # seconds: a failed message comes back after this
MAX_RECEIVES = 2

CONSUMER = """
import json, os, time

def lambda_handler(event, context):
    with open(os.environ["PUMP_LOG"], "a") as f:
        f.write(json.dumps(event) + "\\n")
    failures = []
    slow = False
    for r in event["Records"]:
        mode = json.loads(r["body"])["detail"].get("mode", "ok")
        if mode == "raise":
            raise RuntimeError("the consumer failed")
        if mode == "crash":
            os._exit(3)
        if mode == "bogus":
            return {"batchItemFailures": [{"itemIdentifier": "not-a-message-of-this-batch"}]}
        if mode == "fail":
            failures.append({"itemIdentifier": r["messageId"]})
        slow = slow or mode == "slow"
    if slow:  # longer than the queue's visibility timeout, within the function's timeout
        time.sleep(2.5)
    with open(os.environ["PUMP_LOG"], "a") as f:
        f.write(json.dumps({"pid": os.getpid(), "done": [r["body"] for r in event["Records"]]}) + "\\n")
    return {"batchItemFailures": failures}
"""


class LoopThread:
    """An event loop in a background thread: one worker pool for every test of the module."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="pump-test-loop", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


class Logs(list[str]):
    def __call__(self, line: str) -> None:
        self.append(line)

    def having(self, text: str) -> list[str]:
        return [line for line in list(self) if text in line]


class Rig:
    """The project, its provisioned queues, the consumer's worker pool and what the consumer saw."""

    def __init__(self, root: Path, endpoint: str, loop: LoopThread) -> None:
        self.pub, self.con = f"pub{uuid.uuid4().hex[:8]}", f"con{uuid.uuid4().hex[:8]}"
        for name, code in (
            (self.pub, "def lambda_handler(event, context):\n    return {}\n"),
            (self.con, CONSUMER),
        ):
            pkg = root / "functions" / name / name
            pkg.mkdir(parents=True)
            (pkg / "__init__.py").write_text("")
            (pkg / "handler.py").write_text(code.lstrip())
            (root / "routes").mkdir(exist_ok=True)
            (root / "routes" / f"{name}.yaml").write_text(
                f"uri: /api/v1/{name}/**\nupstream: {name}\nwindow: {{timeout: 3}}\n"
            )
        types = ["RenewalSubmitted", "PaymentCaptured", "DocumentUploaded", "RenewalReadyForReview"]
        (root / "events").mkdir()
        (root / "events" / "topology.yaml").write_text(
            "events:\n"
            + "".join(f"  {t}:\n    publisher: {self.pub}\n    consumers: [{self.con}]\n" for t in types)
            + f"delivery:\n  max_receive_count: {MAX_RECEIVES}\n  batch_size: 10\n"
        )
        self.root = root
        self.platform: Platform = load_platform(root)
        self.endpoint = endpoint
        self.provisioned: Provisioned = provision(self.platform, endpoint, visibility_timeout=VISIBILITY)
        self.seen_file = root / "seen.jsonl"
        self.loop = loop
        self.logs = Logs()
        self.pool = WorkerPool(self.platform, self.env_for, root, log=self.logs)
        self.sqs = boto3.client("sqs")
        self.events = boto3.client("events")

    def env_for(self, window: Window) -> dict[str, str]:
        return {**self.provisioned.environment_for(window), "PUMP_LOG": str(self.seen_file)}

    def binding(self, event_type: str) -> QueueBinding:
        (b,) = [b for b in bindings_of(self.provisioned.subscriptions.values()) if b.event_type == event_type]
        return b

    def pump(self, event_type: str, invoker: Any = None, **options: Any) -> EventPump:
        return EventPump(
            [self.binding(event_type)],
            invoker or self.pool,
            self.sqs,
            batch_size=self.platform.topology.batch_size,
            timeout_of=lambda consumer: self.platform.window(consumer).timeout,
            dlq_refresh_seconds=0.2,
            log=self.logs,
            **options,
        )

    def done_by(self, marker: str) -> list[int]:
        """The pid of the environment that finished each batch carrying ``marker``."""
        if not self.seen_file.exists():
            return []
        out = []
        for line in self.seen_file.read_text().splitlines():
            entry = json.loads(line)
            if "done" in entry and any(marker in body for body in entry["done"]):
                out.append(entry["pid"])
        return out

    def publish(self, event_type: str, *details: dict[str, Any]) -> None:
        resp = self.events.put_events(
            Entries=[
                {
                    "Source": f"hms.{self.pub}",
                    "DetailType": event_type,
                    "Detail": json.dumps(d),
                    "EventBusName": "hms",
                }
                for d in details
            ]
        )
        assert resp["FailedEntryCount"] == 0

    def batches(self, marker: str) -> list[dict[str, Any]]:
        """The SQS events the consumer received with a message carrying ``marker``."""
        if not self.seen_file.exists():
            return []
        out = []
        for line in self.seen_file.read_text().splitlines():
            event = json.loads(line)
            if "Records" in event and any(marker in r["body"] for r in event["Records"]):
                out.append(event)
        return out

    def drain(self, url: str, marker: str, timeout: float = 5.0) -> int:
        """Receive and delete the messages carrying ``marker`` until none is left (in flight included)."""
        taken = 0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and sum(self.counts(url)):
            for msg in self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                "Messages", []
            ):
                if marker in msg["Body"]:
                    self.sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
                    taken += 1
        return taken

    def counts(self, url: str) -> tuple[int, int]:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])


def eventually[R](check: Callable[[], R], timeout: float = 5.0, what: str = "condition") -> R:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def loop() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.close()


@pytest.fixture(scope="module", params=EMULATORS)
def rig(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest, loop: LoopThread
) -> Iterator[Rig]:
    """The pump on both emulators: receives, visibility, redrive and the DLQ are queue adapter behaviour."""
    with aws_environment(request.getfixturevalue(f"{request.param}_server")) as endpoint:
        r = Rig(tmp_path_factory.mktemp("pumped"), endpoint, loop)
        loop.run(r.pool.start())
        try:
            yield r
        finally:
            loop.run(r.pool.stop())


def marker() -> str:
    return uuid.uuid4().hex


def test_events_put_on_the_bus_reach_the_consumer_as_one_lambda_sqs_batch(rig: Rig) -> None:
    m, binding = marker(), rig.binding("RenewalSubmitted")
    pump = rig.pump("RenewalSubmitted")
    rig.loop.run(pump.start())
    try:
        rig.publish("RenewalSubmitted", *({"marker": m, "n": n} for n in range(3)))
        eventually(lambda: sum(len(b["Records"]) for b in rig.batches(m)) == 3, what="3 records delivered")
        eventually(lambda: pump.stats()[0].delivered == 3, what="3 deleted")
    finally:
        rig.loop.run(pump.stop())

    record = rig.batches(m)[0]["Records"][0]
    assert set(record) == {
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfBody",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    }
    assert record["eventSource"] == "aws:sqs" and record["awsRegion"] == "us-east-1"
    assert record["eventSourceARN"] == binding.queue_arn
    assert set(record["attributes"]) == {
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    }
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert all(isinstance(v, str) for v in record["attributes"].values())
    assert record["messageAttributes"] == {}
    envelope = json.loads(record["body"])
    assert envelope["detail-type"] == "RenewalSubmitted" and envelope["source"] == f"hms.{rig.pub}"
    assert envelope["detail"]["marker"] == m
    assert rig.counts(binding.queue_url) == (0, 0)  # every message was deleted
    stats = pump.stats()[0]
    assert (stats.delivered, stats.failed) == (3, 0) and stats.invocations >= 1
    assert rig.logs.having(f"[events] {binding.name}: ")


def test_a_partial_failure_deletes_only_the_successes_and_the_failure_ends_in_the_dlq(rig: Rig) -> None:
    m, binding = marker(), rig.binding("PaymentCaptured")
    pump = rig.pump("PaymentCaptured")
    rig.publish("PaymentCaptured", {"marker": m, "mode": "ok"}, {"marker": m, "mode": "fail"})
    eventually(lambda: rig.counts(binding.queue_url)[0] == 2, what="both messages queued")
    started = time.monotonic()
    rig.loop.run(pump.start())
    try:
        # received MAX_RECEIVES times (once per visibility timeout), then SQS moves it to the DLQ
        eventually(lambda: rig.counts(binding.dlq_url)[0] == 1, timeout=8, what="the failure dead-lettered")
        elapsed = time.monotonic() - started
        eventually(lambda: pump.stats()[0].in_dlq == 1, what="the DLQ counted")
    finally:
        rig.loop.run(pump.stop())

    deliveries = [r for b in rig.batches(m) for r in b["Records"]]
    ok = [r for r in deliveries if '"ok"' in r["body"]]
    failed = [r for r in deliveries if '"fail"' in r["body"]]
    assert len(ok) == 1  # deleted after its first, successful delivery
    assert [r["attributes"]["ApproximateReceiveCount"] for r in failed] == [
        str(n + 1) for n in range(MAX_RECEIVES)
    ]
    assert elapsed >= VISIBILITY * (MAX_RECEIVES - 1)  # the retries waited for the visibility timeout
    assert rig.counts(binding.queue_url) == (0, 0)
    stats = pump.stats()[0]
    assert (stats.delivered, stats.failed) == (1, MAX_RECEIVES)
    assert rig.logs.having(f"{binding.name}: 1 message(s) moved to the DLQ")


@pytest.mark.parametrize("mode", ["raise", "crash", "bogus"])
def test_a_failed_invocation_or_an_invalid_answer_deletes_nothing(rig: Rig, mode: str) -> None:
    m, binding = marker(), rig.binding("DocumentUploaded")
    pump = rig.pump("DocumentUploaded")
    rig.publish("DocumentUploaded", {"marker": m, "mode": "ok"}, {"marker": m, "mode": mode})
    eventually(lambda: rig.counts(binding.queue_url)[0] == 2, what="both messages queued")  # one batch
    rig.loop.run(pump.start())
    try:
        eventually(lambda: pump.stats()[0].failed >= 1, what="a failed batch")
    finally:
        rig.loop.run(pump.stop())
    stats = pump.stats()[0]
    assert stats.delivered == 0 and stats.last_error
    # nothing deleted: both messages are still in the queue (in flight until the visibility timeout), or
    # in its DLQ when a long poll still running at the stop received them once more (the second receive)
    assert sum(rig.counts(binding.queue_url)) + sum(rig.counts(binding.dlq_url)) == 2
    assert any(
        "the batch comes back after the visibility timeout" in line for line in rig.logs.having(binding.name)
    )
    # and both come back after the visibility timeout (taken here, so the next case starts clean)
    assert rig.drain(binding.queue_url, m) + rig.drain(binding.dlq_url, m) == 2


class Failing:
    """An invoker whose invocations fail (the worker pool unavailable, say)."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    async def invoke(self, window_name: str, event: Any, *, timeout: float | None = None, **_: Any) -> Any:
        self.events.append(event)
        raise RuntimeError("no worker")


def test_hms_dlq_lists_and_redrives_a_dead_letter_and_the_pump_then_delivers_it(rig: Rig) -> None:
    m, binding = marker(), rig.binding("RenewalReadyForReview")
    failing = Failing()
    pump = rig.pump("RenewalReadyForReview", invoker=failing)
    rig.publish("RenewalReadyForReview", {"marker": m, "mode": "ok"})
    rig.loop.run(pump.start())
    try:  # every invocation fails: after MAX_RECEIVES receives the message is dead-lettered
        eventually(lambda: rig.counts(binding.dlq_url)[0] == 1, timeout=8, what="dead-lettered")
    finally:
        rig.loop.run(pump.stop())
    assert len(failing.events) == MAX_RECEIVES

    def hms(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "hms.cli",
                "--root",
                str(rig.root),
                "dlq",
                *args,
                "--endpoint",
                rig.endpoint,
            ],
            capture_output=True,
            text=True,
            timeout=30,
            env={"PATH": "/usr/bin:/bin", "COLUMNS": "250"},
        )

    listed = hms("list")
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if binding.name in line)
    assert binding.dlq_name in row and " 1 " in row
    peeked = hms("list", binding.name)
    assert peeked.returncode == 0, peeked.stderr
    assert "RenewalReadyForReview" in peeked.stdout and m[:10] in peeked.stdout
    assert rig.counts(binding.dlq_url)[0] == 1  # peeking left it there

    moved = hms("redrive", binding.dlq_name)  # the DLQ's name works as well as the subscription's
    assert moved.returncode == 0, moved.stderr
    assert f"moved 1 message(s) from {binding.dlq_name} back to {binding.queue_name}" in moved.stdout
    assert rig.counts(binding.dlq_url) == (0, 0)

    pump = rig.pump("RenewalReadyForReview")  # now with the real consumer
    rig.loop.run(pump.start())
    try:
        eventually(lambda: pump.stats()[0].delivered == 1, what="delivered after the redrive")
    finally:
        rig.loop.run(pump.stop())
    (batch,) = rig.batches(m)
    assert batch["Records"][0]["attributes"]["ApproximateReceiveCount"] == "1"  # a fresh message
    assert rig.counts(binding.queue_url) == (0, 0)

    unknown = hms("redrive", "nobody-Nothing")
    assert unknown.returncode == 2 and binding.name in unknown.stderr


# -- the Lambda rules, without a queue -------------------------------------------------------------

IDS = ["m1", "m2", "m3"]


@pytest.mark.parametrize(
    ("answer", "failed"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": None}, set()),
        ({"batchItemFailures": []}, set()),
        ({"statusCode": 200}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "m2"}]}, {"m2"}),
        ({"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m3"}]}, {"m1", "m3"}),
    ],
)
def test_batch_item_failures_name_the_messages_to_keep(answer: Any, failed: set[str]) -> None:
    assert batch_failures(answer, IDS) == failed


@pytest.mark.parametrize(
    "answer",
    [
        "ok",
        ["m1"],
        {"batchItemFailures": "m1"},
        {"batchItemFailures": [{"itemIdentifier": "elsewhere"}]},
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"itemIdentifier": None}]},
        {"batchItemFailures": [{"id": "m1"}]},
    ],
)
def test_an_invalid_batch_answer_fails_the_whole_batch(answer: Any) -> None:
    with pytest.raises(InvalidBatchResponseError):
        batch_failures(answer, IDS)


def test_message_attributes_take_the_lambda_spelling() -> None:
    message = {
        "MessageId": "m1",
        "ReceiptHandle": "rh",
        "Body": "{}",
        "MD5OfBody": "99914b932bd37a50b983c5e7c90ae93b",
        "MD5OfMessageAttributes": "abc",
        "Attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1", "Other": "x"},
        "MessageAttributes": {
            "kind": {"DataType": "String", "StringValue": "photo"},
            "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    }
    (record,) = sqs_event([message], "arn:aws:sqs:us-east-1:123456789012:q")["Records"]
    assert record["attributes"] == {"ApproximateReceiveCount": "2", "SentTimestamp": "1"}
    assert record["messageAttributes"] == {
        "kind": {
            "stringValue": "photo",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        },
        "raw": {"binaryValue": "AAE=", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"},
    }
    assert record["md5OfMessageAttributes"] == "abc" and record["md5OfBody"] == message["MD5OfBody"]


def test_a_batch_slower_than_the_visibility_timeout_is_delivered_once_and_never_dead_lettered(
    rig: Rig,
) -> None:
    m, binding = marker(), rig.binding("RenewalSubmitted")
    # the batch is held invisible (extended every second) while it waits and runs: without that, the
    # 2.5 s batch would come back after the 1 s visibility timeout and reach the DLQ after 2 receives
    pump = rig.pump("RenewalSubmitted", hold_seconds=2)
    rig.loop.run(pump.start())
    try:
        rig.publish("RenewalSubmitted", {"marker": m, "mode": "slow"})
        eventually(lambda: pump.stats()[0].delivered == 1, timeout=15, what="the slow message processed")
    finally:
        rig.loop.run(pump.stop())
    deliveries = [r for b in rig.batches(m) for r in b["Records"]]
    assert [r["attributes"]["ApproximateReceiveCount"] for r in deliveries] == ["1"]
    assert pump.stats()[0].failed == 0
    assert rig.counts(binding.queue_url) == (0, 0) and rig.counts(binding.dlq_url) == (0, 0)


def test_a_backlog_is_handled_several_batches_at_once_up_to_the_subscription_concurrency(rig: Rig) -> None:
    m, binding = marker(), rig.binding("DocumentUploaded")
    rig.publish("DocumentUploaded", *({"marker": m, "mode": "slow", "n": n} for n in range(10)))
    rig.publish("DocumentUploaded", *({"marker": m, "mode": "slow", "n": n} for n in range(10, 20)))
    rig.publish("DocumentUploaded", *({"marker": m, "mode": "slow", "n": n} for n in range(20, 30)))
    eventually(lambda: rig.counts(binding.queue_url)[0] == 30, what="the backlog queued")
    pump = rig.pump("DocumentUploaded", concurrency_of=lambda _b: 2, hold_seconds=4)
    rig.loop.run(pump.start())
    try:
        eventually(lambda: pump.stats()[0].delivered == 30, timeout=30, what="the backlog processed")
    finally:
        rig.loop.run(pump.stop())
    stats = pump.stats()[0]
    assert stats.peak_in_flight == 2  # two batches at once, never more than the concurrency
    assert len(set(rig.done_by(m))) >= 2  # in two execution environments
    assert stats.failed == 0 and rig.counts(binding.dlq_url) == (0, 0)
