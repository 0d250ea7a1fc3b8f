"""The event topology (``events/topology.yaml``): publishers, consumers, and their subscriptions.

One subscription per (event type, consumer) pair: in AWS a rule -> SQS queue (+ DLQ) -> the
consumer's function; under ``hms up`` the same queues in the emulator, pumped into the worker.
Errors name the file, the field and the reason, like manifest errors, and all are reported at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hms.manifest import ManifestError

TOPOLOGY_FILE = "events/topology.yaml"
DEFAULT_MAX_RECEIVE_COUNT = 3
DEFAULT_BATCH_SIZE = 10


@dataclass(frozen=True)
class Subscription:
    event_type: str
    publisher: str
    consumer: str

    @property
    def name(self) -> str:
        """``<consumer>-<EventType>``: the subscription's name in logs, ``hms dlq`` and queues."""
        return f"{self.consumer}-{self.event_type}"

    @property
    def logical_id(self) -> str:
        """CloudFormation id stem: ``NotificationsRenewalSubmitted``."""
        return self.consumer[0].upper() + self.consumer[1:] + self.event_type

    def local_queue_name(self) -> str:
        return f"hms-{self.name}"

    def local_dlq_name(self) -> str:
        return f"hms-{self.name}-dlq"

    @property
    def source(self) -> str:
        """The EventBridge ``source`` the rule matches."""
        return f"hms.{self.publisher}"

    def pattern(self) -> dict[str, Any]:
        return {"source": [self.source], "detail-type": [self.event_type]}


@dataclass(frozen=True)
class Topology:
    file: str
    publishers: dict[str, str]  # event type -> window
    subscriptions: tuple[Subscription, ...]
    max_receive_count: int = DEFAULT_MAX_RECEIVE_COUNT
    batch_size: int = DEFAULT_BATCH_SIZE

    @classmethod
    def empty(cls) -> Topology:
        return cls(file=TOPOLOGY_FILE, publishers={}, subscriptions=())

    def publishes(self, window: str) -> tuple[str, ...]:
        return tuple(sorted(t for t, w in self.publishers.items() if w == window))

    def consumes(self, window: str) -> tuple[Subscription, ...]:
        return tuple(s for s in self.subscriptions if s.consumer == window)

    def subscription(self, name: str) -> Subscription:
        for s in self.subscriptions:
            if name in (s.name, s.local_queue_name(), s.local_dlq_name()):
                return s
        raise KeyError(name)


def _positive(errors: list[ManifestError], file: str, field: str, value: Any, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        errors.append(ManifestError(file, field, f"must be a whole number greater than 0, got {value!r}"))
        return default
    return value


def load_topology(root: Path, windows: set[str], event_types: set[str] | None = None) -> Topology:
    """Read and check ``events/topology.yaml``; a project without one has no events.

    ``event_types`` defaults to the contracts in ``hmskit.contracts``. Raises ``ManifestError`` (one)
    or returns the topology; use ``topology_errors`` to collect them all.
    """
    topology, errors = topology_and_errors(root, windows, event_types)
    if errors:
        from hms.manifest import ManifestErrors

        raise ManifestErrors(errors)
    return topology


def topology_and_errors(
    root: Path, windows: set[str], event_types: set[str] | None
) -> tuple[Topology, list[ManifestError]]:
    path = root / TOPOLOGY_FILE
    file = TOPOLOGY_FILE
    if not path.is_file():
        return Topology.empty(), []
    if event_types is None:
        from hmskit.contracts import event_types as known

        event_types = set(known())
    errors: list[ManifestError] = []
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        return Topology.empty(), [ManifestError(file, "(document)", f"invalid YAML: {exc}")]
    if not isinstance(doc, dict):
        return Topology.empty(), [ManifestError(file, "(document)", "must be a mapping")]
    unknown = set(doc) - {"events", "delivery"}
    for key in sorted(unknown):
        errors.append(ManifestError(file, key, "unknown field (allowed: events, delivery)"))
    events = doc.get("events") or {}
    if not isinstance(events, dict):
        errors.append(ManifestError(file, "events", "must map event types to {publisher, consumers}"))
        events = {}
    publishers: dict[str, str] = {}
    subs: list[Subscription] = []
    for event_type, decl in events.items():
        where = f"events.{event_type}"
        if event_type not in event_types:
            errors.append(
                ManifestError(
                    file,
                    where,
                    f"no contract named {event_type!r} in hmskit.contracts "
                    f"(known: {', '.join(sorted(event_types))})",
                )
            )
            continue
        if not isinstance(decl, dict):
            errors.append(ManifestError(file, where, "must be a mapping with publisher and consumers"))
            continue
        for key in sorted(set(decl) - {"publisher", "consumers"}):
            errors.append(
                ManifestError(file, f"{where}.{key}", "unknown field (allowed: publisher, consumers)")
            )
        publisher = decl.get("publisher")
        if not isinstance(publisher, str) or publisher not in windows:
            errors.append(
                ManifestError(file, f"{where}.publisher", f"{publisher!r} is not a window (routes/*.yaml)")
            )
            continue
        publishers[event_type] = publisher
        consumers = decl.get("consumers") or []
        if not isinstance(consumers, list):
            errors.append(ManifestError(file, f"{where}.consumers", "must be a list of window names"))
            continue
        seen: set[str] = set()
        for i, consumer in enumerate(consumers):
            field = f"{where}.consumers[{i}]"
            if not isinstance(consumer, str) or consumer not in windows:
                errors.append(ManifestError(file, field, f"{consumer!r} is not a window (routes/*.yaml)"))
            elif consumer in seen:
                errors.append(ManifestError(file, field, f"{consumer!r} is listed twice"))
            else:
                seen.add(consumer)
                subs.append(Subscription(event_type, publisher, consumer))
    delivery = doc.get("delivery") or {}
    if not isinstance(delivery, dict):
        errors.append(ManifestError(file, "delivery", "must be a mapping"))
        delivery = {}
    for key in sorted(set(delivery) - {"max_receive_count", "batch_size"}):
        errors.append(ManifestError(file, f"delivery.{key}", "unknown field"))
    max_receive = _positive(
        errors,
        file,
        "delivery.max_receive_count",
        delivery.get("max_receive_count"),
        DEFAULT_MAX_RECEIVE_COUNT,
    )
    if max_receive > 1000:
        errors.append(ManifestError(file, "delivery.max_receive_count", "SQS allows at most 1000"))
    batch = _positive(errors, file, "delivery.batch_size", delivery.get("batch_size"), DEFAULT_BATCH_SIZE)
    if batch > 10:
        errors.append(ManifestError(file, "delivery.batch_size", "an SQS batch holds at most 10 messages"))
    topo = Topology(
        file=file,
        publishers=publishers,
        subscriptions=tuple(sorted(subs, key=lambda s: s.name)),
        max_receive_count=max_receive,
        batch_size=batch,
    )
    return topo, errors
