"""A window's compute: its function (routes as ``HttpApi`` events), its least-privilege policy, its
log group, and the platform layer every function shares.

Least privilege is the rule for every role: event source mappings are raw
``AWS::Lambda::EventSourceMapping`` resources, never SAM ``SQS``/``DynamoDB`` events, because those
attach AWS managed policies whose ``Resource`` is ``"*"`` (every queue, every stream). Each window
instead gets inline statements on its own table, bucket, stream, queues, the bus and its sender.
"""

from __future__ import annotations

from typing import Any

from hms import portal_template
from hms.model import Platform, Route, Window
from hms.resources import Resources
from hms.template.intrinsics import (
    API_ID,
    ARCH,
    AUTHORIZER,
    EMAIL_SENDER,
    LAYER_ID,
    NAMESPACE_NAME,
    RUNTIME,
    Resource,
    get_att,
    ref,
    sub,
)


def layer() -> Resource:
    return {
        "Type": "AWS::Serverless::LayerVersion",
        "Properties": {
            "Description": "hmskit: the platform code every window shares",
            "ContentUri": "layers/",
            "CompatibleRuntimes": [RUNTIME],
            "CompatibleArchitectures": [ARCH],
            "RetentionPolicy": "Delete",
        },
        "Metadata": {"BuildMethod": RUNTIME, "BuildArchitecture": ARCH},
    }


def log_group(w: Window) -> Resource:
    return {
        "Type": "AWS::Logs::LogGroup",
        "Properties": {
            # named by stack and window, not by function: a Ref to the function would be circular
            "LogGroupName": sub(f"/hms/${{AWS::StackName}}/{w.name}"),
            "RetentionInDays": ref("LogRetentionDays"),
        },
    }


def function(platform: Platform, resources: Resources, w: Window) -> Resource:
    bucket = resources.bucket(w.name)
    env = w.environment(
        table_name=ref(resources.table(w.name).logical_id),
        bucket_name=ref(bucket.logical_id) if bucket else None,
        event_bus=ref(resources.bus.logical_id) if platform.topology.publishes(w.name) else None,
        namespace=sub(NAMESPACE_NAME),
        email_sender=ref(EMAIL_SENDER) if w.email else None,
    )
    env["POWERTOOLS_LOG_LEVEL"] = "INFO"
    events: dict[str, Any] = {}
    for r in w.routes:
        event: dict[str, Any] = {
            "ApiId": ref(API_ID),
            "Method": r.method.lower() if r.method != "ANY" else "ANY",
            "Path": r.path,
            "PayloadFormatVersion": w.payload_version,
            "TimeoutInMillis": (w.timeout + 1) * 1000,
        }
        if r.authorized:
            auth: dict[str, Any] = {"Authorizer": AUTHORIZER}
            if r.scopes:
                auth["AuthorizationScopes"] = portal_template.route_scopes(r)
            event["Auth"] = auth
        else:
            event["Auth"] = {"Authorizer": "NONE"}
        events[_event_id(r)] = {"Type": "HttpApi", "Properties": event}
    resource: Resource = {
        "Type": "AWS::Serverless::Function",
        "Properties": {
            "Description": f"The {w.name} window",
            "CodeUri": f"{w.code_dir}/",
            "Handler": w.handler,
            "Runtime": RUNTIME,
            "Architectures": [ARCH],
            "MemorySize": w.memory,
            "Timeout": w.timeout,
            "ReservedConcurrentExecutions": w.concurrency,
            "Layers": [ref(LAYER_ID)],
            "LoggingConfig": {"LogGroup": ref(f"{w.function_id}LogGroup"), "LogFormat": "JSON"},
            "Environment": {"Variables": env},
            "Policies": policies(platform, resources, w),
            "Events": events,
        },
    }
    if w.framework == "chalice":
        # functions/<w>/Makefile: the code plus chalice.app only, without Chalice's CLI
        # dependencies (its own botocore would shadow the runtime's under the runtime's boto3)
        resource["Metadata"] = {"BuildMethod": "makefile"}
    return resource


def policies(platform: Platform, resources: Resources, w: Window) -> list[dict[str, Any]]:
    """Least privilege: each statement names the window's own resources, never another's.

    Own table (items only), own bucket (objects only); a publisher: its own table's stream and
    ``PutEvents`` on the bus with its own source and declared types only; a consumer: its own
    subscription queues; an email window: SES with its sender as the From address. Everyone:
    ``DiscoverInstances`` in the stack's namespace (the one ``"*"``, see ``discovery_statement``).
    """
    table_id = resources.table(w.name).logical_id
    statements: list[dict[str, Any]] = [
        {
            "Sid": "OwnTableItems",
            "Effect": "Allow",
            "Action": [
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
                "dynamodb:Query",
                "dynamodb:ConditionCheckItem",
            ],
            "Resource": [get_att(table_id, "Arn")],
        }
    ]
    bucket = resources.bucket(w.name)
    if bucket:
        statements.append(
            {
                "Sid": "OwnBucketObjects",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": [sub(f"${{{bucket.logical_id}.Arn}}/*")],
            }
        )
    published = platform.topology.publishes(w.name)
    if published:
        statements += [
            {
                "Sid": "OwnTableStreamRead",
                "Effect": "Allow",
                "Action": ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"],
                "Resource": [get_att(table_id, "StreamArn")],
            },
            {
                # ListStreams is authorised on the table's stream ARNs (SAM's DynamoDBStreamReadPolicy)
                "Sid": "OwnTableStreamList",
                "Effect": "Allow",
                "Action": ["dynamodb:ListStreams"],
                "Resource": [sub(f"${{{table_id}.Arn}}/stream/*")],
            },
            {
                # the relay clears what it published from the outbox, 25 rows a call
                "Sid": "OwnOutboxBatchDelete",
                "Effect": "Allow",
                "Action": ["dynamodb:BatchWriteItem"],
                "Resource": [get_att(table_id, "Arn")],
            },
            {
                # EventBridge authorises each entry: only this window's source and declared types
                "Sid": "PublishOwnEvents",
                "Effect": "Allow",
                "Action": ["events:PutEvents"],
                "Resource": [get_att(resources.bus.logical_id, "Arn")],
                "Condition": {
                    "StringEquals": {
                        "events:source": f"hms.{w.name}",
                        "events:detail-type": list(published),
                    }
                },
            },
        ]
    consumed = resources.consumed(w.name)
    if consumed:
        statements.append(
            {
                "Sid": "OwnSubscriptionQueues",
                "Effect": "Allow",
                "Action": [
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:ChangeMessageVisibility",
                ],
                "Resource": [get_att(d.queue.logical_id, "Arn") for d in consumed],
            }
        )
    if w.email:
        statements.append(email_statement())
    statements.append(discovery_statement())
    return [{"Statement": statements}]


def discovery_statement() -> dict[str, Any]:
    """``DiscoverInstances`` has no resource type, so its Resource must be ``"*"``; the
    ``servicediscovery:NamespaceName`` condition confines it to this stack's namespace."""
    return {
        "Sid": "DiscoverWindowsInOwnNamespace",
        "Effect": "Allow",
        "Action": ["servicediscovery:DiscoverInstances"],
        "Resource": "*",
        "Condition": {"StringEquals": {"servicediscovery:NamespaceName": sub(NAMESPACE_NAME)}},
    }


def email_statement() -> dict[str, Any]:
    """Send as the configured sender only.

    SES authorises a send against the identity that covers the From address: the address itself
    when it is verified as an email identity, else its domain identity (and, in the SES sandbox,
    the recipients' identities too). Which of these exists is an operator's choice made outside
    this stack, so the resource is the account's identities in this region, and the
    ``ses:FromAddress`` condition pins what the role can send as to the ``EmailSender`` parameter.
    """
    return {
        "Sid": "SendEmailAsSender",
        "Effect": "Allow",
        "Action": ["ses:SendEmail", "ses:SendRawEmail"],
        "Resource": [sub("arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/*")],
        "Condition": {"StringEquals": {"ses:FromAddress": ref(EMAIL_SENDER)}},
    }


def _event_id(r: Route) -> str:
    words = [r.method.title()]
    for seg in r.path.strip("/").split("/"):
        clean = "".join(ch for ch in seg if ch.isalnum())
        if seg.startswith("{"):
            clean = "By" + clean[:1].upper() + clean[1:]
        words.append(clean[:1].upper() + clean[1:])
    return "".join(words)
