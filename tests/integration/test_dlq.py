"""``hms dlq``: dead letters counted, peeked without losing them, moved back only once sent."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from helpers import both_emulators

from hms.local import dlq
from hms.local.cli import cmd_dlq
from hms.local.provision import provision
from hms.model import Platform, load_platform
from hms.topology import Topology

pytestmark = [pytest.mark.integration, both_emulators]


def project(root: Path) -> Platform:
    pub, con = f"pub{uuid.uuid4().hex[:8]}", f"con{uuid.uuid4().hex[:8]}"
    (root / "routes").mkdir()
    for name in (pub, con):
        pkg = root / "functions" / name / name
        pkg.mkdir(parents=True)
        (pkg / "handler.py").write_text("def lambda_handler(event, context):\n    return {}\n")
        (root / "routes" / f"{name}.yaml").write_text(f"uri: /api/v1/{name}/**\nupstream: {name}\n")
    (root / "events").mkdir()
    (root / "events" / "topology.yaml").write_text(
        f"events:\n  PaymentCaptured:\n    publisher: {pub}\n    consumers: [{con}]\n"
        f"  RenewalSubmitted:\n    publisher: {pub}\n    consumers: [{con}]\n"
    )
    return load_platform(root)


@pytest.fixture
def platform(tmp_path: Path, aws_endpoint: str) -> Platform:
    p = project(tmp_path)
    provision(p, aws_endpoint)
    return p


def dead(target: dlq.Target, n: int, *, event_type: str = "PaymentCaptured") -> list[str]:
    """``n`` EventBridge-shaped messages put straight into the target's DLQ; their event ids."""
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=target.dlq_name)["QueueUrl"]
    ids = []
    for i in range(n):
        event_id = uuid.uuid4().hex
        body = {
            "version": "0",
            "detail-type": event_type,
            "source": "hms.pub",
            "detail": {"metadata": {"event_id": event_id, "type": event_type}, "data": {"n": i}},
        }
        sqs.send_message(
            QueueUrl=url,
            MessageBody=json.dumps(body),
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "test"}},
        )
        ids.append(event_id)
    return ids


def count(name: str) -> int:
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    attrs = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def test_a_subscription_is_named_by_its_name_its_queue_or_its_dlq(platform: Platform) -> None:
    topology = platform.topology
    (sub,) = [s for s in topology.subscriptions if s.event_type == "PaymentCaptured"]
    for name in (sub.name, f"hms-{sub.name}", f"hms-{sub.name}-dlq", sub.name.upper()):
        assert dlq.resolve(topology, name).subscription == sub
    stack = dlq.resolve(topology, f"mystack-{sub.name}-dlq", prefix="mystack-")
    assert (stack.queue_name, stack.dlq_name) == (f"mystack-{sub.name}", f"mystack-{sub.name}-dlq")
    with pytest.raises(dlq.UnknownSubscriptionError) as err:
        dlq.resolve(topology, "notifications-Nothing")
    assert err.value.known == sorted(s.name for s in topology.subscriptions)
    assert sub.name in str(err.value)


def test_every_dlq_is_counted_and_a_missing_one_is_reported(platform: Platform) -> None:
    sqs = boto3.client("sqs")
    pay, renew = (dlq.resolve(platform.topology, s.name) for s in platform.topology.subscriptions)
    dead(pay, 2)
    counts = {c.target.name: c for c in dlq.dlq_counts(sqs, platform.topology)}
    assert counts[pay.name].exists and counts[pay.name].messages == 2
    assert counts[renew.name].exists and counts[renew.name].messages == 0
    elsewhere = {c.target.name: c for c in dlq.dlq_counts(sqs, platform.topology, prefix="nostack-")}
    assert not any(c.exists for c in elsewhere.values())


def test_peeking_shows_each_dead_letter_and_leaves_it_in_place(platform: Platform) -> None:
    target = dlq.resolve(platform.topology, platform.topology.subscriptions[0].name)
    ids = dead(target, 3)
    letters = dlq.peek(boto3.client("sqs"), target)
    assert sorted(m.event_id for m in letters if m.event_id) == sorted(ids)
    assert {m.event_type for m in letters} == {"PaymentCaptured"}
    assert all(m.receive_count >= 1 and m.sent_at is not None for m in letters)
    assert letters[0].excerpt.startswith('{"n":')
    assert count(target.dlq_name) == 3
    assert len(dlq.peek(boto3.client("sqs"), target)) == 3  # visible again at once: peek again


def test_redrive_moves_messages_back_with_their_attributes_up_to_max(platform: Platform) -> None:
    target = dlq.resolve(platform.topology, platform.topology.subscriptions[0].name)
    dead(target, 3)
    sqs = boto3.client("sqs")
    first = dlq.redrive(sqs, target, limit=2)
    assert (first.moved, first.failed) == (2, 0)
    assert (count(target.queue_name), count(target.dlq_name)) == (2, 1)
    rest = dlq.redrive(sqs, target)
    assert rest.moved == 1 and count(target.dlq_name) == 0
    url = sqs.get_queue_url(QueueName=target.queue_name)["QueueUrl"]
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])["Messages"]
    assert {m["MessageAttributes"]["kind"]["StringValue"] for m in got} == {"test"}


class SendFails:
    """The real client, except that the source queue refuses every message."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.deleted = 0

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> Any:
        return {
            "Successful": [],
            "Failed": [{"Id": e["Id"], "Code": "KMS.AccessDenied", "Message": "no"} for e in Entries],
        }

    def delete_message_batch(self, **kwargs: Any) -> Any:
        self.deleted += len(kwargs["Entries"])
        return self._inner.delete_message_batch(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_a_message_whose_send_failed_is_never_deleted_from_the_dlq(platform: Platform) -> None:
    target = dlq.resolve(platform.topology, platform.topology.subscriptions[0].name)
    dead(target, 2)
    sqs = SendFails(boto3.client("sqs"))
    result = dlq.redrive(sqs, target)
    assert (result.moved, result.failed, sqs.deleted) == (0, 2, 0)
    assert any("KMS.AccessDenied" in e for e in result.errors)
    assert count(target.dlq_name) == 2
    assert len(dlq.peek(boto3.client("sqs"), target)) == 2  # and visible again at once


def test_a_missing_queue_is_a_clear_error(platform: Platform) -> None:
    target = dlq.resolve(platform.topology, platform.topology.subscriptions[0].name, prefix="nostack-")
    with pytest.raises(dlq.DlqError, match="does not exist at this endpoint"):
        dlq.redrive(boto3.client("sqs"), target)


def test_the_command_exits_2_naming_the_known_subscriptions(
    platform: Platform, aws_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    args = argparse.Namespace(
        root=str(platform.root),
        endpoint=aws_endpoint,
        prefix="hms-",
        dlq_command="redrive",
        subscription="nobody-Nothing",
        max=None,
    )
    assert cmd_dlq(args) == 2
    err = capsys.readouterr().err
    assert "unknown subscription 'nobody-Nothing'" in err
    assert all(s.name in err for s in platform.topology.subscriptions)


def test_no_topology_means_no_dlqs() -> None:
    assert dlq.targets(Topology.empty()) == []
    with pytest.raises(dlq.UnknownSubscriptionError, match="declares no subscription"):
        dlq.resolve(Topology.empty(), "x")
