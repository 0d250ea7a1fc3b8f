"""Dead letters: what is in each subscription's DLQ, and moving it back (``hms dlq``).

A subscription ``<consumer>-<EventType>`` has the queue ``<prefix><subscription>`` and the DLQ
``<prefix><subscription>-dlq``: the prefix is ``hms-`` under ``hms up`` and ``<stack>-`` in AWS.

* ``dlq_counts``: every subscription's DLQ with its approximate message count;
* ``peek``: the messages of one DLQ, received with a short visibility timeout and made visible
  again at once (nothing is lost, even if we die: they reappear after that timeout anyway);
* ``redrive``: each message sent back to the source queue and deleted from the DLQ only once the
  send succeeded; a message that comes back to the DLQ during the redrive is not sent again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from hms.topology import Subscription, Topology

DEFAULT_PREFIX = "hms-"
DLQ_SUFFIX = "-dlq"
PEEK_HOLD_SECONDS = 20  # visibility while peeking/moving; restored to 0 (peek) right after
SQS_BATCH = 10
EXCERPT = 80


class DlqError(Exception):
    """``hms dlq`` cannot do what was asked; the message says why and what to do."""


class UnknownSubscriptionError(DlqError):
    def __init__(self, name: str, known: Iterable[str]) -> None:
        names = sorted(known)
        listed = ", ".join(names) if names else "none (events/topology.yaml declares no subscription)"
        super().__init__(f"unknown subscription {name!r}; known: {listed}")
        self.known = names


@dataclass(frozen=True)
class Target:
    """A subscription's queue and DLQ names under a prefix."""

    subscription: Subscription
    prefix: str

    @property
    def name(self) -> str:
        return self.subscription.name

    @property
    def queue_name(self) -> str:
        return f"{self.prefix}{self.subscription.name}"

    @property
    def dlq_name(self) -> str:
        return f"{self.queue_name}{DLQ_SUFFIX}"


def targets(topology: Topology, prefix: str = DEFAULT_PREFIX) -> list[Target]:
    return [Target(s, prefix) for s in topology.subscriptions]


def resolve(topology: Topology, name: str, prefix: str = DEFAULT_PREFIX) -> Target:
    """The subscription named ``name``: ``notifications-RenewalSubmitted``, or its queue or DLQ name
    (with this prefix), case-insensitively. ``UnknownSubscriptionError`` lists the known ones."""
    wanted = name.strip().lower()
    for t in targets(topology, prefix):
        if wanted in (t.name.lower(), t.queue_name.lower(), t.dlq_name.lower()):
            return t
    raise UnknownSubscriptionError(name, (t.name for t in targets(topology, prefix)))


def queue_url(sqs: Any, name: str) -> str | None:
    try:
        return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            return None
        raise


def _require(sqs: Any, name: str) -> str:
    url = queue_url(sqs, name)
    if url is None:
        raise DlqError(
            f"queue {name} does not exist at this endpoint (is `hms up` running? "
            f"in AWS pass --endpoint aws --prefix <stack>-)"
        )
    return url


@dataclass(frozen=True)
class DlqCount:
    target: Target
    exists: bool
    messages: int = 0  # approximate, visible
    in_flight: int = 0  # approximate, being peeked or moved right now


def dlq_counts(sqs: Any, topology: Topology, prefix: str = DEFAULT_PREFIX) -> list[DlqCount]:
    out = []
    for t in targets(topology, prefix):
        url = queue_url(sqs, t.dlq_name)
        if url is None:
            out.append(DlqCount(t, exists=False))
            continue
        attrs = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        out.append(
            DlqCount(
                t,
                exists=True,
                messages=int(attrs.get("ApproximateNumberOfMessages", 0)),
                in_flight=int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
            )
        )
    return out


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    event_type: str | None  # the EventBridge detail-type
    event_id: str | None  # detail.metadata.event_id (the contract's id; consumers dedupe on it)
    receive_count: int
    sent_at: datetime | None
    body: str

    @property
    def excerpt(self) -> str:
        """The start of what matters: the event's ``detail.data`` (else its detail, else the body)."""
        text = self.body
        try:
            detail = json.loads(self.body).get("detail")
            if isinstance(detail, dict):
                data = detail.get("data")
                text = json.dumps(data if isinstance(data, dict) else detail, separators=(",", ":"))
        except (ValueError, AttributeError):
            pass
        flat = " ".join(text.split())
        return flat if len(flat) <= EXCERPT else flat[: EXCERPT - 1] + "…"


def dead_letter(message: Mapping[str, Any]) -> DeadLetter:
    body = str(message.get("Body", ""))
    attrs = message.get("Attributes") or {}
    event_type = event_id = None
    try:
        envelope = json.loads(body)
        event_type = envelope.get("detail-type")
        event_id = ((envelope.get("detail") or {}).get("metadata") or {}).get("event_id")
    except (ValueError, AttributeError):
        pass
    sent = attrs.get("SentTimestamp")
    return DeadLetter(
        message_id=str(message.get("MessageId", "")),
        event_type=str(event_type) if event_type is not None else None,
        event_id=str(event_id) if event_id is not None else None,
        receive_count=int(attrs.get("ApproximateReceiveCount", 0) or 0),
        sent_at=datetime.fromtimestamp(int(sent) / 1000, UTC) if sent else None,
        body=body,
    )


def _receive(sqs: Any, url: str, n: int, wait: int) -> list[dict[str, Any]]:
    resp = sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=max(1, min(SQS_BATCH, n)),
        VisibilityTimeout=PEEK_HOLD_SECONDS,
        WaitTimeSeconds=wait,
        MessageSystemAttributeNames=["All"],
        MessageAttributeNames=["All"],
    )
    return list(resp.get("Messages") or [])


def _release(sqs: Any, url: str, messages: list[dict[str, Any]]) -> None:
    """Make received messages visible again at once."""
    for start in range(0, len(messages), SQS_BATCH):
        chunk = messages[start : start + SQS_BATCH]
        sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(chunk)
            ],
        )


def peek(sqs: Any, target: Target, *, limit: int = 50, wait: int = 1) -> list[DeadLetter]:
    """Up to ``limit`` messages of the target's DLQ, left in it (visible again when we return)."""
    url = _require(sqs, target.dlq_name)
    return [dead_letter(m) for m in peek_url(sqs, url, limit=limit, wait=wait)]


def peek_url(sqs: Any, url: str, *, limit: int = 50, wait: int = 1) -> list[dict[str, Any]]:
    """Up to ``limit`` raw messages of the queue at ``url``, left in it (visible again when we return)."""
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    expected = int(attrs["Attributes"].get("ApproximateNumberOfMessages", 0))
    held: list[dict[str, Any]] = []
    seen: set[str] = set()
    try:
        # until the approximate count is reached (no trailing empty long poll), or a poll is empty
        while len(held) < limit and (not held or len(held) < expected):
            batch = [m for m in _receive(sqs, url, limit - len(held), wait) if m["MessageId"] not in seen]
            if not batch:
                break
            held.extend(batch)
            seen.update(m["MessageId"] for m in batch)
    finally:
        if held:
            _release(sqs, url, held)
    return held


@dataclass
class RedriveResult:
    moved: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def _copy_attributes(message: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        attr = {k: v for k, v in value.items() if k in ("DataType", "StringValue", "BinaryValue")}
        out[name] = attr
    return out


def redrive(sqs: Any, target: Target, *, limit: int | None = None, wait: int = 1) -> RedriveResult:
    """Move up to ``limit`` (default: all) messages from the DLQ back to the source queue.

    Each is sent first and deleted from the DLQ only if the send succeeded; one whose send failed is
    made visible again in the DLQ and the redrive stops (``failed``, ``errors``).
    """
    source = _require(sqs, target.queue_name)
    dlq = _require(sqs, target.dlq_name)
    result = RedriveResult()
    sent_ids: set[str] = set()  # ids of the copies we sent: back in the DLQ already, they stay there
    while limit is None or result.moved < limit:
        want = SQS_BATCH if limit is None else min(SQS_BATCH, limit - result.moved)
        messages = _receive(sqs, dlq, want, wait)
        returning = [m for m in messages if m["MessageId"] in sent_ids]
        messages = [m for m in messages if m["MessageId"] not in sent_ids]
        if returning:
            _release(sqs, dlq, returning)
        if not messages:
            break
        entries = [{"Id": str(i), "MessageBody": m["Body"], **_attrs(m)} for i, m in enumerate(messages)]
        resp = sqs.send_message_batch(QueueUrl=source, Entries=entries)
        ok = {e["Id"]: e["MessageId"] for e in resp.get("Successful") or []}
        failed = [
            (messages[int(f["Id"])], f"{f.get('Code', '')}: {f.get('Message', '')}".strip(": "))
            for f in resp.get("Failed") or []
        ]
        sent = [m for i, m in enumerate(messages) if str(i) in ok]
        sent_ids.update(ok.values())
        for start in range(0, len(sent), SQS_BATCH):
            chunk = sent[start : start + SQS_BATCH]
            deleted = sqs.delete_message_batch(
                QueueUrl=dlq,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
            for f in deleted.get("Failed") or []:  # sent but still in the DLQ: it would be sent twice
                result.errors.append(f"{chunk[int(f['Id'])]['MessageId']}: sent but not deleted: {f}")
        result.moved += len(sent)
        if failed:
            _release(sqs, dlq, [m for m, _why in failed])
            result.failed += len(failed)
            result.errors.extend(f"{m['MessageId']}: {why}" for m, why in failed)
            break
    return result


def _attrs(message: Mapping[str, Any]) -> dict[str, Any]:
    attrs = _copy_attributes(message)
    return {"MessageAttributes": attrs} if attrs else {}
