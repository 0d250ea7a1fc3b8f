"""Cloud Map: the stack's namespace and one service + instance per window."""

from __future__ import annotations

from hms.resources import Registration
from hms.template.intrinsics import API_URL, NAMESPACE_ID, NAMESPACE_NAME, Resource, get_att, ref, sub


def namespace() -> Resource:
    return {
        "Type": "AWS::ServiceDiscovery::HttpNamespace",
        "Properties": {
            "Name": sub(NAMESPACE_NAME),
            "Description": "HMS windows: one service per window (HMS_NAMESPACE)",
        },
    }


def discovery_service(r: Registration) -> Resource:
    return {
        "Type": "AWS::ServiceDiscovery::Service",
        "Properties": {
            "Name": r.window,
            "NamespaceId": get_att(NAMESPACE_ID, "Id"),
            "Description": f"The {r.window} window",
        },
    }


def discovery_instance(r: Registration) -> Resource:
    return {
        "Type": "AWS::ServiceDiscovery::Instance",
        "Properties": {
            "InstanceId": r.window,
            "ServiceId": ref(r.service_id),
            "InstanceAttributes": {"base_url": sub(API_URL), "function_name": ref(r.function_id)},
        },
    }
