"""The event side: the bus, its archive and schema registry, and per subscription
rule -> queue (+ DLQ) -> the consumer's function; per publisher its outbox relay."""

from __future__ import annotations

import json

from hms.resources import (
    OUTBOX_STREAM_BATCH_SIZE,
    OUTBOX_STREAM_RETRIES,
    OUTBOX_SWEEP_SCHEDULE,
    RULE_TARGET_ID,
    EventBus,
    OutboxRelay,
    Queue,
    QueueMapping,
    QueuePolicy,
    Rule,
    outbox_filter_pattern,
)
from hms.template.intrinsics import REGISTRY_ID, Resource, get_att, ref, sub
from hmskit.contracts import EventData, json_schema

SCHEMA_TYPE = "JSONSchemaDraft4"


def schema_id(event_type: str, version: int) -> str:
    return f"{event_type}V{version}Schema"


def schema_name(event_type: str, version: int) -> str:
    """The schema's name in the registry: ``hms@RenewalSubmittedV1`` (EventBridge's source@type)."""
    return f"hms@{event_type}V{version}"


def event_bus(_bus: EventBus) -> Resource:
    return {"Type": "AWS::Events::EventBus", "Properties": {"Name": sub("${AWS::StackName}-bus")}}


def event_archive(bus: EventBus) -> Resource:
    return {
        "Type": "AWS::Events::Archive",
        "Properties": {
            "Description": "Every event on the HMS bus, for replay",
            "SourceArn": get_att(bus.logical_id, "Arn"),
            "RetentionDays": ref("EventArchiveRetentionDays"),
        },
    }


def schema_registry() -> Resource:
    return {
        "Type": "AWS::EventSchemas::Registry",
        "Properties": {
            "RegistryName": sub("${AWS::StackName}-events"),
            "Description": "The HMS event contracts (hmskit.contracts), one schema per type and version",
        },
    }


def event_schema(model: type[EventData]) -> Resource:
    """The contract's JSON Schema: exactly the document ``events/schemas/`` holds."""
    return {
        "Type": "AWS::EventSchemas::Schema",
        "Properties": {
            "RegistryName": get_att(REGISTRY_ID, "RegistryName"),
            "SchemaName": schema_name(model.TYPE, model.VERSION),
            "Type": SCHEMA_TYPE,
            "Description": " ".join(model.DESCRIPTION.split())[:256],
            "Content": json.dumps(json_schema(model), sort_keys=True),
        },
    }


def queue(q: Queue) -> Resource:
    """A subscription queue or its DLQ; ``hms dlq`` finds them by these names."""
    props: Resource = {"QueueName": sub(q.stack_name)}
    if q.retention_seconds is not None:
        props["MessageRetentionPeriod"] = q.retention_seconds
    if q.visibility_timeout is not None:
        props["VisibilityTimeout"] = q.visibility_timeout
    props["SqsManagedSseEnabled"] = True
    if q.redrive is not None:
        props["RedrivePolicy"] = q.redrive.policy(get_att(q.redrive.dead_letter.logical_id, "Arn"))
    props["Tags"] = [{"Key": "hms:subscription", "Value": q.subscription}]
    return {"Type": "AWS::SQS::Queue", "Properties": props}


def queue_policy(p: QueuePolicy) -> Resource:
    return {
        "Type": "AWS::SQS::QueuePolicy",
        "Properties": {
            "Queues": [ref(p.queue.logical_id)],
            "PolicyDocument": p.document(
                get_att(p.queue.logical_id, "Arn"), get_att(p.rule.logical_id, "Arn")
            ),
        },
    }


def subscription_rule(r: Rule, bus: EventBus) -> Resource:
    return {
        "Type": "AWS::Events::Rule",
        "Properties": {
            "Description": r.description,
            "EventBusName": ref(bus.logical_id),
            "EventPattern": r.pattern(),
            "State": "ENABLED",
            "Targets": [{"Id": RULE_TARGET_ID, "Arn": get_att(r.target.logical_id, "Arn")}],
        },
    }


def queue_mapping(m: QueueMapping) -> Resource:
    return {
        "Type": "AWS::Lambda::EventSourceMapping",
        "Properties": {
            "EventSourceArn": get_att(m.queue.logical_id, "Arn"),
            "FunctionName": ref(m.function_id),
            "BatchSize": m.batch_size,
            "MaximumBatchingWindowInSeconds": m.batching_window_seconds,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "ScalingConfig": {"MaximumConcurrency": m.maximum_concurrency},
            "Enabled": True,
        },
    }


def outbox_stream_mapping(o: OutboxRelay) -> Resource:
    return {
        "Type": "AWS::Lambda::EventSourceMapping",
        "Properties": {
            "EventSourceArn": get_att(o.table.logical_id, "StreamArn"),
            "FunctionName": ref(o.function_id),
            "StartingPosition": "TRIM_HORIZON",
            "BatchSize": OUTBOX_STREAM_BATCH_SIZE,
            "FilterCriteria": {"Filters": [{"Pattern": outbox_filter_pattern()}]},
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "BisectBatchOnFunctionError": True,
            "MaximumRetryAttempts": OUTBOX_STREAM_RETRIES,
            "Enabled": True,
        },
    }


def outbox_sweep_rule(o: OutboxRelay) -> Resource:
    """A schedule on the default bus: the window's ``dispatch`` sends it to ``relay_pending``."""
    return {
        "Type": "AWS::Events::Rule",
        "Properties": {
            "Description": f"Republishes what the {o.window} outbox stream left behind",
            "ScheduleExpression": OUTBOX_SWEEP_SCHEDULE,
            "State": "ENABLED",
            "Targets": [{"Id": "outbox-sweep", "Arn": get_att(o.function_id, "Arn")}],
        },
    }


def outbox_sweep_permission(o: OutboxRelay) -> Resource:
    return {
        "Type": "AWS::Lambda::Permission",
        "Properties": {
            "Action": "lambda:InvokeFunction",
            "FunctionName": get_att(o.function_id, "Arn"),
            "Principal": "events.amazonaws.com",
            "SourceArn": get_att(o.sweep_id, "Arn"),
        },
    }
