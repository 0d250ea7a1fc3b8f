"""The platform's AWS resources, typed: built once from the loaded project (manifests and
``events/topology.yaml``) and read by both the template (``sam deploy``) and local provisioning
(``hms up``), so what the two create cannot drift.

Each resource carries what both sides need: its logical id (the template), its local name (the
emulator) and its settings. ``hms.template`` serialises it with CloudFormation intrinsics,
``hms.local.provision`` with the names and ARNs the emulator answers. What only AWS gets (encryption,
tags, point-in-time recovery, versioning, streams, event source mappings) is in the template's
generators; what only ``hms up`` changes is the subscription queues' visibility timeout
(``--visibility-timeout``, to watch retries quickly).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hms.model import Platform, Window
from hms.topology import Subscription

LOCAL_PREFIX = "hms"  # local resource names: hms-<window>, hms-<subscription>
STACK_PREFIX = "${AWS::StackName}"  # the same names in AWS, one set per stack

TTL_ATTRIBUTE = "expires_at"
BILLING_MODE = "PAY_PER_REQUEST"
KEYS = (("pk", "HASH"), ("sk", "RANGE"))  # every window table: single-table design, string keys
PUBLIC_ACCESS_BLOCK: dict[str, bool] = {
    "BlockPublicAcls": True,
    "BlockPublicPolicy": True,
    "IgnorePublicAcls": True,
    "RestrictPublicBuckets": True,
}
DLQ_RETENTION_SECONDS = 14 * 24 * 3600  # the SQS maximum: a dead letter waits for a human
SQS_BATCHING_WINDOW_SECONDS = 1  # a back office: one second of batching is no one's latency
VISIBILITY_PER_TIMEOUT = 6  # AWS: visibility >= 6 x the function timeout for an SQS event source
RULE_TARGET_ID = "queue"
OUTBOX_FILTER = {"eventName": ["INSERT"], "dynamodb": {"Keys": {"pk": {"S": ["OUTBOX"]}}}}
OUTBOX_STREAM_BATCH_SIZE = 10  # one PutEvents call (at most 10 entries) per invocation
OUTBOX_STREAM_RETRIES = 10  # then the record is dropped; the sweep republishes its outbox row
OUTBOX_SWEEP_SCHEDULE = "rate(5 minutes)"


def local_name(name: str) -> str:
    """A resource's name in the emulator: ``hms-payments``, ``hms-notifications-PaymentCaptured``."""
    return f"{LOCAL_PREFIX}-{name}"


def key_schema() -> list[dict[str, str]]:
    return [{"AttributeName": name, "KeyType": kind} for name, kind in KEYS]


def attribute_definitions() -> list[dict[str, str]]:
    return [{"AttributeName": name, "AttributeType": "S"} for name, _kind in KEYS]


@dataclass(frozen=True)
class Table:
    window: str
    logical_id: str
    local_name: str
    stream: bool  # a publisher's: the outbox relay reads new outbox rows from it (NEW_IMAGE)


@dataclass(frozen=True)
class Bucket:
    window: str
    logical_id: str
    local_name: str


@dataclass(frozen=True)
class Queue:
    logical_id: str
    name: str  # <consumer>-<EventType>[-dlq]: hms-<name> locally, <stack>-<name> in AWS
    subscription: str
    retention_seconds: int | None = None  # None: SQS's default
    visibility_timeout: int | None = None
    redrive: Redrive | None = None

    @property
    def local_name(self) -> str:
        return local_name(self.name)

    @property
    def stack_name(self) -> str:
        return f"{STACK_PREFIX}-{self.name}"


@dataclass(frozen=True)
class Redrive:
    dead_letter: Queue
    max_receive_count: int

    def policy(self, dead_letter_arn: Any) -> dict[str, Any]:
        return {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": self.max_receive_count}


@dataclass(frozen=True)
class Rule:
    """A subscription's rule on the bus; its one target is the queue (never a Lambda, as in AWS)."""

    logical_id: str
    local_name: str
    subscription: Subscription
    target: Queue

    @property
    def description(self) -> str:
        s = self.subscription
        return f"{s.event_type} from {s.publisher} -> {s.consumer}"

    def pattern(self) -> dict[str, Any]:
        return self.subscription.pattern()


@dataclass(frozen=True)
class QueuePolicy:
    """Only EventBridge, and only on behalf of the subscription's rule, may send to the queue."""

    logical_id: str
    queue: Queue
    rule: Rule

    def document(self, queue_arn: Any, rule_arn: Any) -> dict[str, Any]:
        return {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "EventBridgeRuleOnly",
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
                }
            ],
        }


@dataclass(frozen=True)
class QueueMapping:
    """The consumer's event source mapping (AWS); the local event pump polls with the same limits."""

    logical_id: str
    queue: Queue
    function_id: str
    batch_size: int
    maximum_concurrency: int
    batching_window_seconds: int = SQS_BATCHING_WINDOW_SECONDS


@dataclass(frozen=True)
class Delivery:
    """One subscription: rule -> queue (redriving to its DLQ) -> the consumer's function."""

    subscription: Subscription
    dead_letter: Queue
    queue: Queue
    policy: QueuePolicy
    rule: Rule
    mapping: QueueMapping

    @property
    def name(self) -> str:
        return self.subscription.name


@dataclass(frozen=True)
class OutboxRelay:
    """A publisher's relay in AWS: its table stream, and a scheduled sweep for what it left behind."""

    window: str
    function_id: str
    table: Table
    mapping_id: str
    sweep_id: str
    permission_id: str


@dataclass(frozen=True)
class Registration:
    """A window in Cloud Map: its service and one instance carrying its base URL and function."""

    window: str
    service_id: str
    instance_id: str
    function_id: str


@dataclass(frozen=True)
class EventBus:
    logical_id: str
    carries_events: bool  # False: no publisher and no subscription (nothing to provision locally)


@dataclass(frozen=True)
class Resources:
    tables: tuple[Table, ...]
    buckets: tuple[Bucket, ...]
    bus: EventBus
    deliveries: tuple[Delivery, ...]
    outbox_relays: tuple[OutboxRelay, ...]
    registrations: tuple[Registration, ...]
    sends_email: bool

    def table(self, window: str) -> Table:
        return next(t for t in self.tables if t.window == window)

    def bucket(self, window: str) -> Bucket | None:
        return next((b for b in self.buckets if b.window == window), None)

    def outbox_relay(self, window: str) -> OutboxRelay | None:
        return next((r for r in self.outbox_relays if r.window == window), None)

    def registration(self, window: str) -> Registration:
        return next(r for r in self.registrations if r.window == window)

    def consumed(self, window: str) -> tuple[Delivery, ...]:
        return tuple(d for d in self.deliveries if d.subscription.consumer == window)


def build_resources(platform: Platform) -> Resources:
    """Every resource of ``platform``, in the template's order."""
    topology = platform.topology
    tables = tuple(_table(platform, w) for w in platform.windows)
    return Resources(
        tables=tables,
        buckets=tuple(
            Bucket(w.name, w.bucket_id, w.local_bucket_name()) for w in platform.windows if w.bucket
        ),
        bus=EventBus("EventBus", carries_events=bool(topology.publishers or topology.subscriptions)),
        deliveries=tuple(_delivery(platform, s) for s in topology.subscriptions),
        outbox_relays=tuple(
            OutboxRelay(
                window=t.window,
                function_id=w.function_id,
                table=t,
                mapping_id=f"{w.title}OutboxStreamMapping",
                sweep_id=f"{w.title}OutboxSweep",
                permission_id=f"{w.title}OutboxSweepPermission",
            )
            for w, t in zip(platform.windows, tables, strict=True)
            if t.stream
        ),
        registrations=tuple(
            Registration(
                window=w.name,
                service_id=f"{w.title}DiscoveryService",
                instance_id=f"{w.title}DiscoveryInstance",
                function_id=w.function_id,
            )
            for w in platform.windows
        ),
        sends_email=any(w.email for w in platform.windows),
    )


def _table(platform: Platform, w: Window) -> Table:
    return Table(w.name, w.table_id, w.local_table_name(), stream=bool(platform.topology.publishes(w.name)))


def _delivery(platform: Platform, s: Subscription) -> Delivery:
    consumer = platform.window(s.consumer)
    stem = s.logical_id  # keep the ids stable: a new logical id replaces the resource
    dead_letter = Queue(
        f"{stem}DeadLetterQueue", f"{s.name}-dlq", s.name, retention_seconds=DLQ_RETENTION_SECONDS
    )
    queue = Queue(
        f"{stem}Queue",
        s.name,
        s.name,
        # AWS: at least 6 x the function timeout (+ the batching window) for an SQS event source
        visibility_timeout=VISIBILITY_PER_TIMEOUT * consumer.timeout + SQS_BATCHING_WINDOW_SECONDS,
        redrive=Redrive(dead_letter, platform.topology.max_receive_count),
    )
    rule = Rule(f"{stem}Rule", queue.local_name, s, queue)
    return Delivery(
        subscription=s,
        dead_letter=dead_letter,
        queue=queue,
        policy=QueuePolicy(f"{stem}QueuePolicy", queue, rule),
        rule=rule,
        mapping=QueueMapping(
            f"{stem}EventSourceMapping",
            queue,
            consumer.function_id,
            batch_size=platform.topology.batch_size,
            maximum_concurrency=platform.mapping_concurrency(s),
        ),
    )


def outbox_filter_pattern() -> str:
    """The stream filter of an outbox relay: new outbox rows only."""
    return json.dumps(OUTBOX_FILTER, separators=(",", ":"))
