"""``template.yaml`` from the platform model: typed resources (``hms.resources``) -> one generator
per resource kind (a module per AWS area) -> YAML (``serializer``).

Long-form intrinsics only (``{"Ref": ...}``, ``{"Fn::GetAtt": [...]}``), so ``yaml.safe_load``
reads the file back. The file is generated, committed, and drift-checked (``hms template --check``).
Local provisioning (``hms.local.provision``) reads the same resources, so the two cannot drift.
"""

from __future__ import annotations

from typing import Any

from hms import portal_template
from hms.model import Platform
from hms.resources import Resources, build_resources
from hms.template import api, discovery, events, functions, storage
from hms.template.intrinsics import (
    API_ID,
    API_URL,
    ARCHIVE_ID,
    LAYER_ID,
    NAMESPACE_ID,
    NAMESPACE_NAME,
    REGISTRY_ID,
    get_att,
    ref,
    sub,
)
from hms.template.serializer import HEADER, dump
from hmskit.contracts import CONTRACTS

__all__ = ["HEADER", "build", "render"]

DESCRIPTION = (
    "HMS service windows: one HTTP API, one function and one table per window, "
    "an event bus with a queue per subscription, Cloud Map discovery"
)


def build(platform: Platform, model: Resources | None = None) -> dict[str, Any]:
    """The template as plain dicts (``model`` defaults to the platform's own resources)."""
    res = model or build_resources(platform)
    bus = res.bus
    resources: dict[str, Any] = {
        API_ID: api.http_api(platform),
        LAYER_ID: functions.layer(),
        bus.logical_id: events.event_bus(bus),
        ARCHIVE_ID: events.event_archive(bus),
        REGISTRY_ID: events.schema_registry(),
    }
    for (event_type, version), contract in sorted(CONTRACTS.items()):
        resources[events.schema_id(event_type, version)] = events.event_schema(contract)
    resources[NAMESPACE_ID] = discovery.namespace()
    resources.update(portal_template.resources(platform, API_ID))  # identity and the portal
    outputs: dict[str, Any] = {
        "ApiUrl": {"Description": "Base URL of the HMS API", "Value": sub(API_URL)},
        "EventBusName": {"Description": "The HMS event bus", "Value": ref(bus.logical_id)},
        "EventBusArn": {"Description": "ARN of the HMS event bus", "Value": get_att(bus.logical_id, "Arn")},
        "SchemaRegistryName": {
            "Description": "EventBridge schema registry of the event contracts",
            "Value": get_att(REGISTRY_ID, "RegistryName"),
        },
        "NamespaceId": {
            "Description": "Cloud Map namespace in which every window is registered",
            "Value": get_att(NAMESPACE_ID, "Id"),
        },
        "NamespaceName": {
            "Description": "Cloud Map namespace name (HMS_NAMESPACE)",
            "Value": sub(NAMESPACE_NAME),
        },
    }
    for w in platform.windows:
        table, bucket = res.table(w.name), res.bucket(w.name)
        resources[table.logical_id] = storage.table(table)
        if bucket:
            resources[bucket.logical_id] = storage.bucket(bucket)
            resources[f"{bucket.logical_id}Policy"] = storage.bucket_policy(bucket)
        resources[w.function_id] = functions.function(platform, res, w)
        resources[f"{w.function_id}LogGroup"] = functions.log_group(w)
        registration = res.registration(w.name)
        resources[registration.service_id] = discovery.discovery_service(registration)
        resources[registration.instance_id] = discovery.discovery_instance(registration)
        relay = res.outbox_relay(w.name)
        if relay:
            resources[relay.mapping_id] = events.outbox_stream_mapping(relay)
            resources[relay.sweep_id] = events.outbox_sweep_rule(relay)
            resources[relay.permission_id] = events.outbox_sweep_permission(relay)
        outputs[f"{w.title}TableName"] = {
            "Description": f"DynamoDB table of the {w.name} window",
            "Value": ref(table.logical_id),
        }
        if bucket:
            outputs[f"{w.title}BucketName"] = {
                "Description": f"S3 bucket of the {w.name} window",
                "Value": ref(bucket.logical_id),
            }
    for d in res.deliveries:
        resources[d.dead_letter.logical_id] = events.queue(d.dead_letter)
        resources[d.queue.logical_id] = events.queue(d.queue)
        resources[d.policy.logical_id] = events.queue_policy(d.policy)
        resources[d.rule.logical_id] = events.subscription_rule(d.rule, bus)
        resources[d.mapping.logical_id] = events.queue_mapping(d.mapping)
        outputs[f"{d.queue.logical_id}Url"] = {
            "Description": f"SQS queue of the subscription {d.name}",
            "Value": ref(d.queue.logical_id),
        }
        outputs[f"{d.dead_letter.logical_id}Url"] = {
            "Description": f"Dead-letter queue of the subscription {d.name} (`hms dlq`)",
            "Value": ref(d.dead_letter.logical_id),
        }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Description": DESCRIPTION,
        "Parameters": api.parameters(platform),
        "Conditions": portal_template.conditions(),
        "Resources": resources,
        "Outputs": {**outputs, **portal_template.outputs()},
    }


def render(platform: Platform) -> str:
    return dump(build(platform))
