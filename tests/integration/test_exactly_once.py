"""Crash injection: a retried request never repeats an effect.

Each window runs in a worker process of its own (the real composition root, on moto and on ministack,
the default emulator of ``hms up``), fed one request at a time, as a Lambda execution environment is. The crash is a real SIGKILL (no cleanup,
no ``finally``) injected at the moment that matters: right after the effect's transaction committed,
before the answer left the process. The client then does what clients do: it retries with the same
``Idempotency-Key`` until it gets an answer, while a fresh worker takes the dead one's place.

Before the fix the effect's transaction and the idempotency record were two writes: such a retry
got 409 while the record stayed "in progress", then ran the effect again (the audit: 8 kills during
97 keyed POSTs left 102 payments). Proven here
for payments, documents (inline upload, presigned start and completion) and renewals: exactly one
resource per key, one outbox event per resource, one downstream effect per event, the first answer
replayed on every later retry, and the same key with another body still 422.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from helpers import ROOT, body_of, example_body, http_event

from hmskit.consumer import EventConsumer, EventDeduplicator
from hmskit.context import LocalContext
from hmskit.outbox import OUTBOX_PK, EventPublisher, OutboxRelay
from hmskit.store import TableStore

pytestmark = pytest.mark.integration

AFTER_COMMIT = "after_commit"  # the transaction committed; the answer is never sent
BEFORE_COMMIT = "before_commit"  # everything up to the transaction ran; nothing of it committed

WORKER = r"""
import json, os, signal, sys

import boto3

from hmskit.context import LocalContext
from hmskit.settings import WindowSettings
from hmskit.store import TableStore

plan = {"die": None}
_transact = TableStore.transact


def transact(self, ops):  # the crash hook: around the effect's one transaction
    ops = list(ops)
    if plan["die"] == "before_commit":
        os.kill(os.getpid(), signal.SIGKILL)
    _transact(self, ops)
    if plan["die"] == "after_commit":
        os.kill(os.getpid(), signal.SIGKILL)


TableStore.transact = transact
window = sys.argv[1]
settings = WindowSettings.from_env(os.environ)
dynamodb = boto3.client("dynamodb")
if window == "payments":
    from payments import bootstrap, handler

    deps = bootstrap.build(settings, dynamodb=dynamodb)
elif window == "documents":
    from documents import bootstrap, handler

    deps = bootstrap.build(settings, dynamodb=dynamodb, s3=bootstrap.s3_client())
else:
    from hmskit.a2a import A2AResponse
    from passport import bootstrap, handler

    class Allowing:
        def call(self, window, method, path, **kw):
            return A2AResponse(200, {}, {"allowed": True, "reasons": [], "checked_on": "2027-01-15"})

    deps = bootstrap.build(settings, dynamodb=dynamodb, a2a=Allowing())

print("ready", flush=True)
for line in sys.stdin:
    message = json.loads(line)
    plan["die"] = message.get("die")
    result = handler.handle(message["event"], LocalContext(), deps)
    print(json.dumps(result), flush=True)
"""


class Worker:
    """One window's execution environment in a process of its own; replaced when it is killed."""

    def __init__(self, window: str, env: dict[str, str]) -> None:
        self.window = window
        self.env = env
        self.kills = 0
        self.requests = 0
        self.emulator = "moto"
        self._proc = self._spawn()

    def _spawn(self) -> subprocess.Popen[str]:
        code_dirs = [ROOT / "layers", ROOT / "infra", ROOT / "functions" / self.window]
        env = {**os.environ, **self.env, "PYTHONPATH": os.pathsep.join(map(str, code_dirs))}
        proc = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(WORKER), self.window],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        return proc

    def ask(self, event: dict[str, Any], die: str | None = None) -> dict[str, Any] | None:
        """The window's answer, or ``None`` when the worker died before answering."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self.requests += 1
        self._proc.stdin.write(json.dumps({"event": event, "die": die}) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if line:
            return dict(json.loads(line))
        assert self._proc.wait(timeout=30) == -signal.SIGKILL
        self.kills += 1
        self._proc = self._spawn()
        return None

    def until_answered(self, event: dict[str, Any], die: str | None = None) -> dict[str, Any]:
        """What a client does: send, and on a lost answer retry the same request (same key)."""
        answer = self.ask(event, die)
        while answer is None:
            answer = self.ask(event)
        return answer

    def close(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        self._proc.wait(timeout=30)


@pytest.fixture(scope="module")
def ministack() -> Iterator[str]:
    from helpers import free_port

    from hms.local.emulator import EmulatorError, start_ministack

    try:
        emulator = start_ministack(free_port())
    except EmulatorError as exc:
        pytest.skip(f"ministack is not available here: {exc}")
    with emulator:
        yield emulator.endpoint


@pytest.fixture(params=["moto", "ministack"])
def aws(request: pytest.FixtureRequest, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The emulator every client of the test (and the worker, through its environment) talks to:
    moto, and ministack, which stores numbers and runs transactions as the default ``hms up`` does."""
    endpoint = moto_endpoint if request.param == "moto" else request.getfixturevalue("ministack")
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    return endpoint


@pytest.fixture
def table(aws: str) -> str:
    from hms.local.provision import ensure_table

    name = f"t-{uuid.uuid4().hex[:12]}"
    ensure_table(boto3.client("dynamodb"), name)
    return name


@pytest.fixture
def bus_to_queue(aws: str) -> tuple[str, str]:
    """A bus whose events from the three windows land in one queue (as a subscription does)."""
    events, sqs = boto3.client("events"), boto3.client("sqs")
    bus = f"bus-{uuid.uuid4().hex[:8]}"
    events.create_event_bus(Name=bus)
    url = sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": ["hms.payments", "hms.documents", "hms.passport"]}
    events.put_rule(Name="all", EventBusName=bus, EventPattern=json.dumps(pattern))
    events.put_targets(Rule="all", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    return bus, url


@pytest.fixture
def worker(request: pytest.FixtureRequest, table: str, bus_to_queue: tuple[str, str]) -> Iterator[Worker]:
    window = request.param
    env = {"HMS_WINDOW": window, "HMS_TABLE_NAME": table, "HMS_EVENT_BUS": bus_to_queue[0]}
    if window == "documents":
        bucket = f"docs-{uuid.uuid4().hex[:12]}"
        boto3.client("s3").create_bucket(Bucket=bucket)
        env["HMS_BUCKET_NAME"] = bucket
    started = Worker(window, env)
    started.emulator = request.node.callspec.params.get("aws", "moto")
    yield started
    started.close()


def items(table: str, pk: str, prefix: str) -> list[dict[str, Any]]:
    store = TableStore(boto3.client("dynamodb"), table)
    out: list[dict[str, Any]] = []
    after = None
    while True:
        page, after = store.query_page(pk, sk_prefix=prefix, limit=100, after_sk=after, newest_first=False)
        out.extend(page)
        if after is None:
            return out


def outbox(table: str) -> list[dict[str, Any]]:
    return [json.loads(str(row["detail"])) for row in items(table, OUTBOX_PK, "EVENT#")]


def downstream_effects(table: str, bus: str, url: str) -> list[str]:
    """Relay the outbox to the bus, consume the queue once per message with the real deduplicator,
    and return the effects (one per event id that was acted on)."""
    dynamodb = boto3.client("dynamodb")
    relayed = OutboxRelay(TableStore(dynamodb, table), EventPublisher(boto3.client("events"), bus))
    assert relayed.relay_pending().failed == []
    effects: list[str] = []

    def act(event: Any, delivery: Any) -> None:
        effects.append(event.id)

    consumer = EventConsumer(
        {"PaymentCaptured": act, "DocumentUploaded": act, "RenewalSubmitted": act},
        EventDeduplicator(dynamodb, table, window="downstream"),
    )
    sqs = boto3.client("sqs")
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not got:
            return effects
        for m in got:
            batch = {
                "Records": [
                    {
                        "messageId": m["MessageId"],
                        "receiptHandle": m["ReceiptHandle"],
                        "body": m["Body"],
                        "attributes": {"ApproximateReceiveCount": "1"},
                        "messageAttributes": {},
                        "md5OfBody": m["MD5OfBody"],
                        "eventSource": "aws:sqs",
                        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
                        "awsRegion": "us-east-1",
                    }
                ]
            }
            assert consumer.handle(batch, LocalContext()) == {"batchItemFailures": []}
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def report(window: str, worker: Worker, keys: int, stored: int, events: int, effects: int) -> None:
    print(  # the figures for the issue note (pytest -s)
        f"\n[exactly-once] {window} on {worker.emulator}: {keys} keys, {worker.requests} requests, {worker.kills} SIGKILLs, "
        f"{stored} stored, {events} outbox events, {effects} downstream effects"
    )


def plan_for(i: int) -> str | None:
    """Kills at both points, and requests that run undisturbed, interleaved."""
    return (AFTER_COMMIT, None, BEFORE_COMMIT, AFTER_COMMIT, None)[i % 5]


# -- payments ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("worker", ["payments"], indirect=True)
def test_payments_killed_between_commit_and_answer_are_captured_once_per_key(
    worker: Worker, table: str, bus_to_queue: tuple[str, str]
) -> None:
    keys = 20
    answers: dict[str, dict[str, Any]] = {}
    for i in range(keys):
        body = {"amount": f"{10 + i}.50", "purpose": f"fee {i}"}
        event = http_event("POST", "/api/v1/payments", body=body, headers={"Idempotency-Key": f"pay-{i}"})
        answers[f"pay-{i}"] = worker.until_answered(event, plan_for(i))

    assert worker.kills == 12  # 8 after the commit, 4 before it
    assert {a["statusCode"] for a in answers.values()} == {201}
    ids = {body_of(a)["id"] for a in answers.values()}
    stored = items(table, "OWNER#alice", "PAYMENT#")
    assert len(ids) == keys and {p["id"] for p in stored} == ids  # one payment per key, no more
    events = outbox(table)
    assert sorted(e["data"]["payment_id"] for e in events) == sorted(ids)  # one event per payment

    # every later retry replays the first answer, byte for byte
    for i in (0, 1, 3):
        body = {"amount": f"{10 + i}.50", "purpose": f"fee {i}"}
        event = http_event("POST", "/api/v1/payments", body=body, headers={"Idempotency-Key": f"pay-{i}"})
        again = worker.until_answered(event)
        assert (again["statusCode"], again["body"]) == (
            answers[f"pay-{i}"]["statusCode"],
            answers[f"pay-{i}"]["body"],
        )
        assert again["headers"]["Location"] == answers[f"pay-{i}"]["headers"]["Location"]
    other = http_event(
        "POST",
        "/api/v1/payments",
        body={"amount": "99.00", "purpose": "x"},
        headers={"Idempotency-Key": "pay-0"},
    )
    assert worker.until_answered(other)["statusCode"] == 422  # the same key with another body
    assert len(items(table, "OWNER#alice", "PAYMENT#")) == keys

    effects = downstream_effects(table, *bus_to_queue)
    assert sorted(effects) == sorted(e["metadata"]["event_id"] for e in events)
    report("payments", worker, keys, len(stored), len(events), len(effects))


# -- documents: inline upload ------------------------------------------------------------------------

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
BOUNDARY = "hms-exactly-once"


def upload(i: int, key: str) -> dict[str, Any]:
    data = PDF + f"% copy {i}\n".encode()
    body = (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="kind"\r\n\r\nproof_of_identity\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="id-{i}.pdf"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    return http_event(
        "POST",
        "/api/v1/docs",
        body=body,
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
        headers={"Idempotency-Key": key},
    )


def objects(bucket: str, prefix: str) -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))


@pytest.mark.parametrize("worker", ["documents"], indirect=True)
def test_inline_uploads_killed_after_their_commit_store_one_document_per_key(
    worker: Worker, table: str, bus_to_queue: tuple[str, str]
) -> None:
    keys = 8
    answers = [
        worker.until_answered(upload(i, f"doc-{i}"), AFTER_COMMIT if i % 2 == 0 else None)
        for i in range(keys)
    ]

    assert worker.kills == 4
    assert {a["statusCode"] for a in answers} == {201}
    ids = {body_of(a)["id"] for a in answers}
    stored = items(table, "OWNER#alice", "DOC#")
    assert len(ids) == keys and {d["id"] for d in stored} == ids
    assert objects(worker.env["HMS_BUCKET_NAME"], "docs/") == sorted(f"docs/{i}" for i in ids)  # no orphan
    events = outbox(table)
    assert sorted(e["data"]["document_id"] for e in events) == sorted(ids)

    again = worker.until_answered(upload(0, "doc-0"))
    assert (again["statusCode"], again["body"]) == (answers[0]["statusCode"], answers[0]["body"])
    assert worker.until_answered(upload(99, "doc-0"))["statusCode"] == 422

    effects = downstream_effects(table, *bus_to_queue)
    assert sorted(effects) == sorted(e["metadata"]["event_id"] for e in events)
    report("documents (inline)", worker, keys, len(stored), len(events), len(effects))


# -- documents: presigned start and completion -------------------------------------------------------


@pytest.mark.parametrize("worker", ["documents"], indirect=True)
def test_presigned_uploads_killed_at_start_and_at_completion_make_one_document_and_one_event(
    worker: Worker, table: str, bus_to_queue: tuple[str, str]
) -> None:
    bucket = worker.env["HMS_BUCKET_NAME"]
    s3 = boto3.client("s3")
    keys = 6
    ids = []
    for i in range(keys):
        data = PDF + f"% presigned {i}\n".encode()
        body = {
            "content_type": "application/pdf",
            "size": len(data),
            "filename": f"p{i}.pdf",
            "kind": "other",
        }
        start = http_event("POST", "/api/v1/docs/uploads", body=body, headers={"Idempotency-Key": f"up-{i}"})
        ticket = worker.until_answered(start, AFTER_COMMIT if i % 2 == 0 else None)
        assert ticket["statusCode"] == 201, ticket
        doc_id = body_of(ticket)["id"]
        ids.append(doc_id)
        s3.put_object(Bucket=bucket, Key=f"uploads/{doc_id}", Body=data, ContentType="application/pdf")
        complete = http_event("POST", f"/api/v1/docs/uploads/{doc_id}/complete")
        # a completion killed after its commit, one killed after promoting the upload but before
        # recording it (the staged copy is gone then), and undisturbed ones
        done = worker.until_answered(complete, (AFTER_COMMIT, BEFORE_COMMIT, None)[i % 3])
        assert done["statusCode"] == 200, done
        assert body_of(done)["status"] == "available" and body_of(done)["id"] == doc_id

    assert worker.kills == 3 + 4  # 3 starts; 2 completions after the commit, 2 before it
    stored = items(table, "OWNER#alice", "DOC#")
    assert sorted(d["id"] for d in stored) == sorted(ids)  # one document per key
    assert {d["status"] for d in stored} == {"available"}
    assert objects(bucket, "docs/") == sorted(f"docs/{i}" for i in ids) and objects(bucket, "uploads/") == []
    events = outbox(table)
    assert sorted(e["data"]["document_id"] for e in events) == sorted(ids)  # one DocumentUploaded each

    effects = downstream_effects(table, *bus_to_queue)
    assert sorted(effects) == sorted(e["metadata"]["event_id"] for e in events)
    report("documents (presigned)", worker, keys, len(stored), len(events), len(effects))


# -- renewals ----------------------------------------------------------------------------------------

RENEWAL: dict[str, Any] = example_body("passport", "POST", "/api/v1/renewals")


@pytest.mark.parametrize("worker", ["passport"], indirect=True)
def test_renewals_killed_between_commit_and_answer_are_submitted_once_per_key(
    worker: Worker, table: str, bus_to_queue: tuple[str, str]
) -> None:
    keys = 10
    answers = []
    for i in range(keys):
        submit = http_event(
            "POST", "/api/v1/renewals", body=RENEWAL, headers={"Idempotency-Key": f"renew-{i}"}
        )
        answers.append(worker.until_answered(submit, plan_for(i)))

    assert worker.kills == 6
    assert {a["statusCode"] for a in answers} == {202}
    ids = {body_of(a)["id"] for a in answers}
    stored = items(table, "OWNER#alice", "RENEWAL#")
    assert len(ids) == keys and {r["id"] for r in stored} == ids
    events = outbox(table)
    assert sorted(e["data"]["renewal_id"] for e in events) == sorted(ids)

    again = worker.until_answered(
        http_event("POST", "/api/v1/renewals", body=RENEWAL, headers={"Idempotency-Key": "renew-0"})
    )
    assert (again["statusCode"], again["body"]) == (answers[0]["statusCode"], answers[0]["body"])
    other = http_event(
        "POST",
        "/api/v1/renewals",
        body={**RENEWAL, "full_name": "Bob"},
        headers={"Idempotency-Key": "renew-0"},
    )
    assert worker.until_answered(other)["statusCode"] == 422

    effects = downstream_effects(table, *bus_to_queue)
    assert sorted(effects) == sorted(e["metadata"]["event_id"] for e in events)
    report("renewals", worker, keys, len(stored), len(events), len(effects))
