"""template.yaml, asynchronous half: the event bus, subscriptions, outbox relay, schemas, Cloud Map, SES.

Read from the committed template (and from what the SAM transform makes of it), like
``test_template.py``: what is asserted here is what `sam deploy` creates.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_template import (
    CFN_LINT,
    ROOT,
    as_list,
    is_discovery_exception,
    namespace_name,
    referenced,
    role_statements,
    sam_transform,
)

from hms.model import Platform, Window, load_platform
from hms.template import render
from hms.topology import Subscription
from hmskit.contracts import CONTRACTS, json_schema
from hmskit.entry import event_kind

BUS = "EventBus"
STACK_NAME = {"Fn::Sub": "${AWS::StackName}"}
OUTBOX_FILTER = {"eventName": ["INSERT"], "dynamodb": {"Keys": {"pk": {"S": ["OUTBOX"]}}}}
BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
SQS_CONSUMER_ACTIONS = {
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ChangeMessageVisibility",
}
STREAM_ACTIONS = {
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
}


@pytest.fixture(scope="module")
def platform() -> Platform:
    return load_platform(ROOT)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "template.yaml").read_text())


@pytest.fixture(scope="module")
def transformed(template: dict[str, Any]) -> dict[str, Any]:
    return sam_transform(template)


@pytest.fixture(scope="module")
def email_platform(platform: Platform) -> Platform:
    """The platform with an email window: notifications declares ``window: {email: true}``; until
    its manifest does, the same platform with that one flag set."""
    if any(w.email for w in platform.windows):
        return platform
    windows = tuple(replace(w, email=True) if w.name == "notifications" else w for w in platform.windows)
    return replace(platform, windows=windows)


@pytest.fixture(scope="module")
def email_template(email_platform: Platform) -> dict[str, Any]:
    return yaml.safe_load(render(email_platform))


@pytest.fixture(scope="module")
def email_transformed(email_template: dict[str, Any]) -> dict[str, Any]:
    return sam_transform(email_template)


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def get_att(resource: str, attr: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [resource, attr]}


def queue_of(template: dict[str, Any], s: Subscription) -> tuple[str, dict[str, Any]]:
    """The subscription's queue, found by the name `hms dlq` looks for."""
    name = {"Fn::Sub": f"${{AWS::StackName}}-{s.name}"}
    (found,) = [
        (k, r)
        for k, r in of_type(template, "AWS::SQS::Queue").items()
        if r["Properties"]["QueueName"] == name
    ]
    return found


def dlq_of(template: dict[str, Any], s: Subscription) -> tuple[str, dict[str, Any]]:
    name = {"Fn::Sub": f"${{AWS::StackName}}-{s.name}-dlq"}
    (found,) = [
        (k, r)
        for k, r in of_type(template, "AWS::SQS::Queue").items()
        if r["Properties"]["QueueName"] == name
    ]
    return found


def rules_targeting(template: dict[str, Any], arn: Any) -> dict[str, dict[str, Any]]:
    return {
        k: r
        for k, r in of_type(template, "AWS::Events::Rule").items()
        if any(t["Arn"] == arn for t in r["Properties"]["Targets"])
    }


def mappings_from(template: dict[str, Any], source_arn: Any) -> list[dict[str, Any]]:
    return [
        r["Properties"]
        for r in of_type(template, "AWS::Lambda::EventSourceMapping").values()
        if r["Properties"]["EventSourceArn"] == source_arn
    ]


def publishers(platform: Platform) -> list[Window]:
    return [w for w in platform.windows if platform.topology.publishes(w.name)]


def statements_with(transformed: dict[str, Any], w: Window, prefix: str) -> list[dict[str, Any]]:
    """The window's statements that grant any action of a service (``sqs:``, ``events:``, ...)."""
    return [
        s
        for s in role_statements(transformed, w.function_id)
        if any(a.startswith(prefix) for a in as_list(s["Action"]))
    ]


# -- the bus, its archive, the schema registry -------------------------------------------------------
def test_one_event_bus_named_after_the_stack_with_an_archive_for_replay(template: dict[str, Any]) -> None:
    buses = of_type(template, "AWS::Events::EventBus")
    assert list(buses) == [BUS]
    assert buses[BUS]["Properties"]["Name"] == {"Fn::Sub": "${AWS::StackName}-bus"}
    (archive,) = of_type(template, "AWS::Events::Archive").values()
    assert archive["Properties"]["SourceArn"] == get_att(BUS, "Arn")
    assert archive["Properties"]["RetentionDays"] == {"Ref": "EventArchiveRetentionDays"}
    assert template["Parameters"]["EventArchiveRetentionDays"]["Default"] == 30


def test_every_contract_is_registered_as_exactly_its_json_schema(template: dict[str, Any]) -> None:
    (registry_id,) = of_type(template, "AWS::EventSchemas::Registry")
    schemas = {
        r["Properties"]["SchemaName"]: r["Properties"]
        for r in of_type(template, "AWS::EventSchemas::Schema").values()
    }
    expected = {f"hms@{t}V{v}": model for (t, v), model in CONTRACTS.items()}
    assert set(schemas) == set(expected)
    for name, model in expected.items():
        props = schemas[name]
        assert props["Type"] == "JSONSchemaDraft4"
        assert props["RegistryName"] == get_att(registry_id, "RegistryName")
        assert props["Content"] == json.dumps(json_schema(model), sort_keys=True), name
        assert len(props["Description"]) <= 256  # the registry's limit


def test_registered_schemas_are_the_documents_committed_under_events_schemas(
    template: dict[str, Any],
) -> None:
    committed = [json.loads(p.read_text()) for p in sorted((ROOT / "events" / "schemas").glob("*.json"))]
    assert committed, "events/schemas/ holds the generated schemas"
    for schema in of_type(template, "AWS::EventSchemas::Schema").values():
        document = json.loads(schema["Properties"]["Content"])
        assert document in committed, f"{schema['Properties']['SchemaName']} is not a committed schema"


# -- one subscription: rule -> queue (+ DLQ) -> consumer -------------------------------------------------
def test_each_subscription_is_one_rule_on_the_bus_matching_its_publisher_and_type(
    platform: Platform, template: dict[str, Any]
) -> None:
    subscriptions = platform.topology.subscriptions
    assert subscriptions, "events/topology.yaml declares subscriptions"
    on_bus = {
        k for k, r in of_type(template, "AWS::Events::Rule").items() if "EventBusName" in r["Properties"]
    }
    matched = set()
    for s in subscriptions:
        queue_id, _queue = queue_of(template, s)
        rules = rules_targeting(template, get_att(queue_id, "Arn"))
        assert len(rules) == 1, f"{s.name}: {sorted(rules)}"
        ((rule_id, rule),) = rules.items()
        assert rule["Properties"]["EventBusName"] == {"Ref": BUS}
        assert rule["Properties"]["EventPattern"] == {
            "source": [f"hms.{s.publisher}"],
            "detail-type": [s.event_type],
        }
        assert rule["Properties"]["State"] == "ENABLED"
        matched.add(rule_id)
    assert on_bus == matched, "every rule on the bus belongs to exactly one subscription"


def test_each_subscription_queue_is_encrypted_redrives_to_its_dlq_and_outlasts_its_consumer(
    platform: Platform, template: dict[str, Any]
) -> None:
    topology = platform.topology
    seen = set()
    for s in topology.subscriptions:
        queue_id, queue = queue_of(template, s)
        dlq_id, dlq = dlq_of(template, s)
        props = queue["Properties"]
        consumer = platform.window(s.consumer)
        assert props["VisibilityTimeout"] >= 6 * consumer.timeout, s.name
        assert props["SqsManagedSseEnabled"] is True
        assert props["RedrivePolicy"] == {
            "deadLetterTargetArn": get_att(dlq_id, "Arn"),
            "maxReceiveCount": topology.max_receive_count,
        }
        assert dlq["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
        assert dlq["Properties"]["SqsManagedSseEnabled"] is True
        assert "RedrivePolicy" not in dlq["Properties"]
        seen |= {queue_id, dlq_id}
    assert set(of_type(template, "AWS::SQS::Queue")) == seen, "no queue without a subscription"


def test_only_eventbridge_on_behalf_of_the_subscription_rule_may_send_to_its_queue(
    platform: Platform, template: dict[str, Any]
) -> None:
    policies = of_type(template, "AWS::SQS::QueuePolicy").values()
    for s in platform.topology.subscriptions:
        queue_id, _queue = queue_of(template, s)
        ((rule_id, _rule),) = rules_targeting(template, get_att(queue_id, "Arn")).items()
        (policy,) = [p["Properties"] for p in policies if p["Properties"]["Queues"] == [{"Ref": queue_id}]]
        (stmt,) = policy["PolicyDocument"]["Statement"]
        assert stmt["Effect"] == "Allow"
        assert stmt["Principal"] == {"Service": "events.amazonaws.com"}
        assert as_list(stmt["Action"]) == ["sqs:SendMessage"]
        assert stmt["Resource"] == get_att(queue_id, "Arn")
        assert stmt["Condition"] == {"ArnEquals": {"aws:SourceArn": get_att(rule_id, "Arn")}}


def test_each_subscription_queue_feeds_only_its_consumer_with_partial_batch_responses(
    platform: Platform, template: dict[str, Any]
) -> None:
    topology = platform.topology
    for s in topology.subscriptions:
        queue_id, _queue = queue_of(template, s)
        (mapping,) = mappings_from(template, get_att(queue_id, "Arn"))
        assert mapping["FunctionName"] == {"Ref": platform.window(s.consumer).function_id}
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["BatchSize"] == topology.batch_size
        assert 0 <= mapping["MaximumBatchingWindowInSeconds"] <= 1
        dlq_id, _dlq = dlq_of(template, s)
        assert mappings_from(template, get_att(dlq_id, "Arn")) == [], "a DLQ is for people, not functions"


def test_delivery_settings_come_from_the_topology(platform: Platform) -> None:
    topology = replace(platform.topology, max_receive_count=7, batch_size=4)
    generated = yaml.safe_load(render(replace(platform, topology=topology)))
    for s in topology.subscriptions:
        queue_id, queue = queue_of(generated, s)
        assert queue["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 7
        (mapping,) = mappings_from(generated, get_att(queue_id, "Arn"))
        assert mapping["BatchSize"] == 4


def test_no_function_uses_sam_sqs_or_dynamodb_events_which_attach_wildcard_managed_policies(
    platform: Platform, template: dict[str, Any]
) -> None:
    for w in platform.windows:
        events = template["Resources"][w.function_id]["Properties"].get("Events", {})
        assert {e["Type"] for e in events.values()} <= {"HttpApi"}, w.name


# -- the outbox relay of each publisher -------------------------------------------------------------
def test_every_publisher_relays_its_outbox_from_its_own_table_stream(
    platform: Platform, template: dict[str, Any]
) -> None:
    assert publishers(platform), "events/topology.yaml names publishers"
    for w in publishers(platform):
        table = template["Resources"][w.table_id]["Properties"]
        assert table["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}
        (mapping,) = mappings_from(template, get_att(w.table_id, "StreamArn"))
        assert mapping["FunctionName"] == {"Ref": w.function_id}
        (pattern,) = [json.loads(f["Pattern"]) for f in mapping["FilterCriteria"]["Filters"]]
        assert pattern == OUTBOX_FILTER
        assert mapping["StartingPosition"] == "TRIM_HORIZON"
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["BisectBatchOnFunctionError"] is True
        assert 1 <= mapping["MaximumRetryAttempts"] <= 10


def test_every_publisher_has_a_scheduled_sweep_that_its_entry_point_routes_to_the_relay(
    platform: Platform, template: dict[str, Any]
) -> None:
    for w in publishers(platform):
        fn_arn = get_att(w.function_id, "Arn")
        rules = rules_targeting(template, fn_arn)
        assert len(rules) == 1, f"{w.name}: {sorted(rules)}"
        ((rule_id, rule),) = rules.items()
        assert rule["Properties"]["ScheduleExpression"] == "rate(5 minutes)"
        assert "EventBusName" not in rule["Properties"], "schedules live on the default bus"
        (permission,) = [
            p["Properties"]
            for p in of_type(template, "AWS::Lambda::Permission").values()
            if p["Properties"]["SourceArn"] == get_att(rule_id, "Arn")
        ]
        assert permission["Principal"] == "events.amazonaws.com"
        assert permission["Action"] == "lambda:InvokeFunction"
        assert permission["FunctionName"] in (fn_arn, {"Ref": w.function_id})
    scheduled = {  # what EventBridge delivers for a schedule rule
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2024-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/sweep"],
        "detail": {},
    }
    assert event_kind(scheduled) == "schedule"


def test_non_publishers_have_no_stream_no_relay_and_no_bus(
    platform: Platform, template: dict[str, Any]
) -> None:
    quiet = [w for w in platform.windows if not platform.topology.publishes(w.name)]
    assert quiet, "some window publishes nothing (notifications)"
    for w in quiet:
        assert "StreamSpecification" not in template["Resources"][w.table_id]["Properties"], w.name
        assert mappings_from(template, get_att(w.table_id, "StreamArn")) == []
        assert rules_targeting(template, get_att(w.function_id, "Arn")) == {}
        assert (
            "HMS_EVENT_BUS"
            not in template["Resources"][w.function_id]["Properties"]["Environment"]["Variables"]
        )


def test_publishers_know_the_bus_and_every_window_its_namespace(
    platform: Platform, template: dict[str, Any]
) -> None:
    for w in platform.windows:
        env = template["Resources"][w.function_id]["Properties"]["Environment"]["Variables"]
        assert env["HMS_NAMESPACE"] == STACK_NAME
        if platform.topology.publishes(w.name):
            assert env["HMS_EVENT_BUS"] == {"Ref": BUS}


# -- Cloud Map -------------------------------------------------------------------------------------------
def test_one_namespace_and_a_service_with_one_instance_per_window(
    platform: Platform, template: dict[str, Any]
) -> None:
    ((ns_id, ns),) = of_type(template, "AWS::ServiceDiscovery::HttpNamespace").items()
    assert ns["Properties"]["Name"] == STACK_NAME
    services = {
        r["Properties"]["Name"]: (k, r["Properties"])
        for k, r in of_type(template, "AWS::ServiceDiscovery::Service").items()
    }
    assert set(services) == {w.name for w in platform.windows}
    instances = {
        r["Properties"]["ServiceId"]["Ref"]: r["Properties"]
        for r in of_type(template, "AWS::ServiceDiscovery::Instance").values()
    }
    assert len(instances) == len(platform.windows)
    for w in platform.windows:
        service_id, service = services[w.name]
        assert service["NamespaceId"] == get_att(ns_id, "Id")
        instance = instances[service_id]
        assert instance["InstanceId"] == w.name
        assert instance["InstanceAttributes"] == {
            "base_url": {"Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"},
            "function_name": {"Ref": w.function_id},
        }


def test_outputs_name_the_bus_the_namespace_and_every_subscription_queue(
    platform: Platform, template: dict[str, Any]
) -> None:
    outputs = template["Outputs"]
    (ns_id,) = of_type(template, "AWS::ServiceDiscovery::HttpNamespace")
    assert outputs["EventBusName"]["Value"] == {"Ref": BUS}
    assert outputs["EventBusArn"]["Value"] == get_att(BUS, "Arn")
    assert outputs["NamespaceId"]["Value"] == get_att(ns_id, "Id")
    assert outputs["NamespaceName"]["Value"] == STACK_NAME
    assert "ApiUrl" in outputs
    values = [o["Value"] for o in outputs.values()]
    for s in platform.topology.subscriptions:
        assert {"Ref": queue_of(template, s)[0]} in values, s.name
        assert {"Ref": dlq_of(template, s)[0]} in values, s.name


# -- email -----------------------------------------------------------------------------------------------
def test_the_email_window_gets_the_sender_parameter_and_no_other_window_does(
    email_platform: Platform, email_template: dict[str, Any]
) -> None:
    param = email_template["Parameters"]["EmailSender"]
    assert param["Default"] == "no-reply@example.gov"
    import re

    assert re.match(param["AllowedPattern"], param["Default"])
    assert not re.match(param["AllowedPattern"], "not an address")
    for w in email_platform.windows:
        env = email_template["Resources"][w.function_id]["Properties"]["Environment"]["Variables"]
        assert (env.get("HMS_EMAIL_SENDER") == {"Ref": "EmailSender"}) is w.email, w.name
        assert ("HMS_EMAIL_SENDER" in env) is w.email, w.name


def test_without_an_email_window_there_is_no_sender_parameter(platform: Platform) -> None:
    windows = tuple(replace(w, email=False) for w in platform.windows)
    generated = yaml.safe_load(render(replace(platform, windows=windows)))
    assert "EmailSender" not in generated["Parameters"]
    assert not any(
        "HMS_EMAIL_SENDER" in generated["Resources"][w.function_id]["Properties"]["Environment"]["Variables"]
        for w in windows
    )


def test_the_email_variant_is_lint_clean_before_and_after_the_sam_transform(
    email_template: dict[str, Any], email_transformed: dict[str, Any], tmp_path: Path
) -> None:
    raw = tmp_path / "email.json"
    raw.write_text(json.dumps(email_template))
    out = tmp_path / "email-transformed.json"
    out.write_text(json.dumps(email_transformed))
    result = subprocess.run([CFN_LINT, str(raw), str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# -- least privilege, read from the roles SAM creates ----------------------------------------------------
def test_only_publishers_may_put_events_only_on_the_bus_and_only_as_themselves(
    platform: Platform, transformed: dict[str, Any]
) -> None:
    for w in platform.windows:
        granted = statements_with(transformed, w, "events:")
        published = platform.topology.publishes(w.name)
        if not published:
            assert granted == [], f"{w.name} publishes nothing but may {granted}"
            continue
        (stmt,) = granted
        assert as_list(stmt["Action"]) == ["events:PutEvents"]
        assert as_list(stmt["Resource"]) == [get_att(BUS, "Arn")]
        condition = stmt["Condition"]["StringEquals"]
        assert condition["events:source"] == f"hms.{w.name}"
        assert sorted(as_list(condition["events:detail-type"])) == sorted(published)


def test_each_consumer_may_receive_only_from_its_own_subscription_queues(
    platform: Platform, transformed: dict[str, Any]
) -> None:
    topology = platform.topology
    queues = set(of_type(transformed, "AWS::SQS::Queue"))
    for w in platform.windows:
        granted = statements_with(transformed, w, "sqs:")
        own = {queue_of(transformed, s)[0] for s in topology.consumes(w.name)}
        if not own:
            assert granted == [], f"{w.name} consumes nothing but may {granted}"
            continue
        reached: set[str] = set()
        for stmt in granted:
            assert set(as_list(stmt["Action"])) <= SQS_CONSUMER_ACTIONS, stmt
            assert "*" not in as_list(stmt["Resource"]), stmt
            assert all("Fn::GetAtt" in r for r in as_list(stmt["Resource"])), f"{w.name}: queues by ARN only"
            reached |= referenced(stmt["Resource"])
        assert reached & queues == own, f"{w.name} reaches {sorted(reached & queues)}, expected {sorted(own)}"
        assert reached <= own


def test_stream_reads_reach_only_the_windows_own_table_stream(
    platform: Platform, transformed: dict[str, Any]
) -> None:
    for w in platform.windows:
        granted = [
            s
            for s in role_statements(transformed, w.function_id)
            if set(as_list(s["Action"])) & STREAM_ACTIONS
        ]
        if not platform.topology.publishes(w.name):
            assert granted == [], f"{w.name} relays nothing but may {granted}"
            continue
        actions: set[str] = set()
        for stmt in granted:
            actions |= set(as_list(stmt["Action"]))
            for resource in as_list(stmt["Resource"]):
                assert resource in (
                    get_att(w.table_id, "StreamArn"),
                    {"Fn::Sub": f"${{{w.table_id}.Arn}}/stream/*"},
                ), f"{w.name}: stream rights on {resource}"
        assert actions == STREAM_ACTIONS


def test_only_the_email_window_may_send_email_and_only_as_the_sender(
    email_platform: Platform, email_transformed: dict[str, Any]
) -> None:
    senders = [w for w in email_platform.windows if w.email]
    assert len(senders) == 1
    for w in email_platform.windows:
        granted = statements_with(email_transformed, w, "ses:")
        if not w.email:
            assert granted == [], f"{w.name} may send email: {granted}"
            continue
        (stmt,) = granted
        assert set(as_list(stmt["Action"])) == {"ses:SendEmail", "ses:SendRawEmail"}
        assert as_list(stmt["Resource"]) == [
            {"Fn::Sub": "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/*"}
        ]
        assert stmt["Condition"] == {"StringEquals": {"ses:FromAddress": {"Ref": "EmailSender"}}}


def test_discovery_is_the_only_wildcard_and_every_role_has_only_basic_execution_managed(
    email_platform: Platform, email_transformed: dict[str, Any]
) -> None:
    namespace = namespace_name(email_transformed)
    assert namespace == STACK_NAME
    for w in email_platform.windows:
        for stmt in role_statements(email_transformed, w.function_id):
            if "*" in as_list(stmt["Resource"]):
                assert is_discovery_exception(stmt, namespace), f"{w.name}: {stmt}"
        role = email_transformed["Resources"][f"{w.function_id}Role"]["Properties"]
        assert role.get("ManagedPolicyArns", []) == [BASIC_EXECUTION], w.name
    roles = of_type(email_transformed, "AWS::IAM::Role")
    assert set(roles) == {f"{w.function_id}Role" for w in email_platform.windows}
