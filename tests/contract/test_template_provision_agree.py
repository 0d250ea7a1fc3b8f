"""What `sam deploy` creates and what `hms up` provisions agree: the project's template and a local
provisioning of the same project (against moto in process, no sockets) hold the same tables, buckets,
queues, dead-letter queues, redrives, queue policies, rules, sender and Cloud Map services.

Each side is reduced to plain names (a queue by its name without the stack's or `hms-` prefix, a rule
by the queue it targets) so the two compare as dicts. The one intended difference is the subscription
queues' visibility timeout, which `hms up --visibility-timeout` sets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from hms.local.provision import EVENT_BUS, NAMESPACE, Provisioned, provision
from hms.model import Platform, load_platform
from hms.resources import STACK_PREFIX
from hms.template import build

ROOT = Path(__file__).resolve().parents[2]
LOCAL_PREFIX = "hms-"
VISIBILITY = 7  # the local override: every subscription queue gets it
GATEWAY = "http://127.0.0.1:3999"
Resources = dict[str, dict[str, Any]]


class InProcessClients:
    """boto3 clients that moto's `mock_aws` answers in process."""

    def __init__(self) -> None:
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = boto3.client(service, region_name="us-east-1")
        return self._clients[service]


@pytest.fixture(scope="module")
def platform() -> Platform:
    return load_platform(ROOT)


@pytest.fixture(scope="module")
def deployed(platform: Platform) -> dict[str, Any]:
    return build(platform)


@pytest.fixture(scope="module")
def local(platform: Platform) -> Iterator[tuple[Provisioned, InProcessClients]]:
    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
            env.delenv(name, raising=False)
        with mock_aws():
            clients = InProcessClients()
            provisioned = provision(
                platform,
                "http://in-process.invalid",
                base_url=GATEWAY,
                visibility_timeout=VISIBILITY,
                clients=clients,
            )
            yield provisioned, clients


def of_type(template: dict[str, Any], kind: str) -> Resources:
    return {k: v["Properties"] for k, v in template["Resources"].items() if v["Type"] == kind}


def tag(props: dict[str, Any], key: str) -> str:
    return next(str(t["Value"]) for t in props["Tags"] if t["Key"] == key)


# -- the template, reduced to names ---------------------------------------------------------------------
def deployed_queue_names(template: dict[str, Any]) -> dict[str, str]:
    """Logical id -> the queue's name without the stack's prefix."""
    prefix = f"{STACK_PREFIX}-"
    names = {}
    for logical_id, props in of_type(template, "AWS::SQS::Queue").items():
        name = props["QueueName"]["Fn::Sub"]
        assert name.startswith(prefix)
        names[logical_id] = name.removeprefix(prefix)
    return names


def deployed_symbols(template: dict[str, Any]) -> dict[str, str]:
    """Logical id of a queue or subscription rule -> its symbol (``queue:<name>``, ``rule:<name>``)."""
    queues = deployed_queue_names(template)
    symbols = {logical_id: f"queue:{name}" for logical_id, name in queues.items()}
    for logical_id, props in of_type(template, "AWS::Events::Rule").items():
        if "EventPattern" in props:
            (target,) = props["Targets"]
            symbols[logical_id] = f"rule:{queues[target['Arn']['Fn::GetAtt'][0]]}"
    return symbols


def resolve(node: Any, symbols: dict[str, str]) -> Any:
    """Replace ``{"Fn::GetAtt": [id, "Arn"]}`` and ``{"Ref": id}`` by the resource's symbol."""
    if isinstance(node, dict):
        if set(node) == {"Fn::GetAtt"} and node["Fn::GetAtt"][1] == "Arn":
            return symbols[node["Fn::GetAtt"][0]]
        if set(node) == {"Ref"} and node["Ref"] in symbols:
            return symbols[node["Ref"]]
        return {k: resolve(v, symbols) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(v, symbols) for v in node]
    return node


def deployed_queues(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    symbols = deployed_symbols(template)
    out: dict[str, dict[str, Any]] = {}
    for logical_id, props in of_type(template, "AWS::SQS::Queue").items():
        queue: dict[str, Any] = {
            key: props[key] for key in ("MessageRetentionPeriod", "VisibilityTimeout") if key in props
        }
        if "RedrivePolicy" in props:
            queue["RedrivePolicy"] = resolve(props["RedrivePolicy"], symbols)
        out[symbols[logical_id].removeprefix("queue:")] = queue
    for props in of_type(template, "AWS::SQS::QueuePolicy").values():
        (queue_ref,) = props["Queues"]
        out[symbols[queue_ref["Ref"]].removeprefix("queue:")]["Policy"] = resolve(
            props["PolicyDocument"], symbols
        )
    return out


def deployed_rules(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    symbols = deployed_symbols(template)
    return {
        symbols[logical_id].removeprefix("rule:"): {
            "EventPattern": props["EventPattern"],
            "State": props["State"],
            "Description": props["Description"],
            "Targets": resolve(props["Targets"], symbols),
        }
        for logical_id, props in of_type(template, "AWS::Events::Rule").items()
        if "EventPattern" in props
    }


# -- the emulator, reduced to the same names ------------------------------------------------------------
def local_name(name: str) -> str:
    assert name.startswith(LOCAL_PREFIX), name
    return name.removeprefix(LOCAL_PREFIX)


def local_symbols(clients: InProcessClients) -> dict[str, str]:
    """ARN of a queue or rule -> its symbol."""
    sqs, events = clients.client("sqs"), clients.client("events")
    symbols: dict[str, str] = {}
    for url in sqs.list_queues().get("QueueUrls", []):
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        symbols[arn] = f"queue:{local_name(arn.rsplit(':', 1)[1])}"
    for rule in events.list_rules(EventBusName=EVENT_BUS)["Rules"]:
        (target,) = events.list_targets_by_rule(Rule=rule["Name"], EventBusName=EVENT_BUS)["Targets"]
        symbols[rule["Arn"]] = f"rule:{symbols[target['Arn']].removeprefix('queue:')}"
    return symbols


def resolve_arns(node: Any, symbols: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {k: resolve_arns(v, symbols) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve_arns(v, symbols) for v in node]
    if isinstance(node, str) and node in symbols:
        return symbols[node]
    return node


def local_queues(clients: InProcessClients) -> dict[str, dict[str, Any]]:
    sqs = clients.client("sqs")
    symbols = local_symbols(clients)
    out: dict[str, dict[str, Any]] = {}
    for url in sqs.list_queues().get("QueueUrls", []):
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        queue: dict[str, Any] = {"VisibilityTimeout": int(attrs["VisibilityTimeout"])}
        if "RedrivePolicy" in attrs:
            queue["RedrivePolicy"] = resolve_arns(json.loads(attrs["RedrivePolicy"]), symbols)
            queue["Policy"] = resolve_arns(json.loads(attrs["Policy"]), symbols)
        else:
            queue["MessageRetentionPeriod"] = int(attrs["MessageRetentionPeriod"])
        out[symbols[attrs["QueueArn"]].removeprefix("queue:")] = queue
    return out


# -- the agreement -------------------------------------------------------------------------------------
def test_every_queue_and_dlq_has_the_same_retention_redrive_and_policy(
    deployed: dict[str, Any], local: tuple[Provisioned, InProcessClients]
) -> None:
    want, got = deployed_queues(deployed), local_queues(local[1])
    assert want and set(got) == set(want)
    for name, queue in want.items():
        if "VisibilityTimeout" in queue:  # a subscription queue: hms up sets its own visibility
            assert got[name]["VisibilityTimeout"] == VISIBILITY
            queue = {**queue, "VisibilityTimeout": VISIBILITY}
        else:
            del got[name]["VisibilityTimeout"]
        assert got[name] == queue, name


def test_every_subscription_rule_matches_the_same_events_into_the_same_queue(
    deployed: dict[str, Any], local: tuple[Provisioned, InProcessClients]
) -> None:
    events = local[1].client("events")
    symbols = local_symbols(local[1])
    got = {}
    for rule in events.list_rules(EventBusName=EVENT_BUS)["Rules"]:
        targets = events.list_targets_by_rule(Rule=rule["Name"], EventBusName=EVENT_BUS)["Targets"]
        got[symbols[rule["Arn"]].removeprefix("rule:")] = {
            "EventPattern": json.loads(rule["EventPattern"]),
            "State": rule["State"],
            "Description": rule["Description"],
            "Targets": [{"Id": t["Id"], "Arn": symbols[t["Arn"]]} for t in targets],
        }
    want = deployed_rules(deployed)
    assert want and got == want


def test_every_window_table_has_the_same_keys_billing_and_ttl(
    deployed: dict[str, Any], local: tuple[Provisioned, InProcessClients]
) -> None:
    provisioned, clients = local
    ddb = clients.client("dynamodb")
    want = {
        tag(props, "hms:window"): {
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": props["BillingMode"],
            "TimeToLive": props["TimeToLiveSpecification"]["AttributeName"],
        }
        for props in of_type(deployed, "AWS::DynamoDB::Table").values()
    }
    got = {}
    for window in provisioned.resources:
        name = provisioned.table_name(window)
        table = ddb.describe_table(TableName=name)["Table"]
        got[window] = {
            "KeySchema": table["KeySchema"],
            "AttributeDefinitions": table["AttributeDefinitions"],
            "BillingMode": table["BillingModeSummary"]["BillingMode"],
            "TimeToLive": ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]["AttributeName"],
        }
    assert want and got == want


def test_every_bucket_blocks_public_access_the_same_way(
    deployed: dict[str, Any], local: tuple[Provisioned, InProcessClients]
) -> None:
    provisioned, clients = local
    s3 = clients.client("s3")
    want = {
        tag(props, "hms:window"): props["PublicAccessBlockConfiguration"]
        for props in of_type(deployed, "AWS::S3::Bucket").values()
        if any(t["Key"] == "hms:window" for t in props.get("Tags", []))
    }
    got = {
        window: s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        for window in provisioned.resources
        if (bucket := provisioned.bucket_name(window)) is not None
    }
    assert want and got == want
    assert {b["Name"] for b in s3.list_buckets()["Buckets"]} == {provisioned.bucket_name(w) for w in got}


def test_the_bus_sender_and_cloud_map_services_exist_on_both_sides(
    platform: Platform, deployed: dict[str, Any], local: tuple[Provisioned, InProcessClients]
) -> None:
    provisioned, clients = local
    assert of_type(deployed, "AWS::Events::EventBus") and provisioned.event_bus == EVENT_BUS
    assert ("EmailSender" in deployed["Parameters"]) == (provisioned.email_sender is not None)
    identities = clients.client("ses").list_identities(IdentityType="EmailAddress")["Identities"]
    assert identities == [provisioned.email_sender]

    want = {
        props["Name"]: set(instance["InstanceAttributes"])
        for props in of_type(deployed, "AWS::ServiceDiscovery::Service").values()
        for instance in of_type(deployed, "AWS::ServiceDiscovery::Instance").values()
        if instance["InstanceId"] == props["Name"]
    }
    sd = clients.client("servicediscovery")
    assert provisioned.namespace == NAMESPACE
    got = {}
    for service in sd.list_services()["Services"]:
        (instance,) = sd.list_instances(ServiceId=service["Id"])["Instances"]
        got[service["Name"]] = set(instance["Attributes"])
    assert got == want == {w.name: {"base_url", "function_name"} for w in platform.windows}
