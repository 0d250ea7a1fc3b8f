"""Provision the local resources of every window (tables, buckets) from the platform model.

Idempotent: running it twice against the same endpoint changes nothing the second time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from hms.local.emulator import DEFAULT_REGION, aws_env
from hms.model import Platform, Window

TTL_ATTRIBUTE = "expires_at"
_NOT_SUPPORTED = {"NotImplemented", "NotImplementedError", "InternalFailure", "UnknownOperationException"}


class ProvisionError(Exception):
    """A local resource could not be created."""


@dataclass(frozen=True)
class WindowResources:
    table_name: str
    bucket_name: str | None


@dataclass(frozen=True)
class Provisioned:
    endpoint: str
    resources: dict[str, WindowResources]
    created: tuple[str, ...] = field(default=())  # "table hms-payments", ... (empty on a re-run)

    def table_name(self, window: Window | str) -> str:
        return self.resources[_name(window)].table_name

    def bucket_name(self, window: Window | str) -> str | None:
        return self.resources[_name(window)].bucket_name

    def environment_for(self, window: Window) -> dict[str, str]:
        """The window's own environment plus the AWS variables that point it at the endpoint."""
        res = self.resources[window.name]
        env = window.environment(table_name=res.table_name, bucket_name=res.bucket_name)
        env.update(aws_env(self.endpoint))
        return env


def _name(window: Window | str) -> str:
    return window if isinstance(window, str) else window.name


def _client(service: str, endpoint: str) -> Any:
    env = aws_env(endpoint)
    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint,
        region_name=DEFAULT_REGION,
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        config=Config(retries={"max_attempts": 3, "mode": "standard"}, inject_host_prefix=False),
    )


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def ensure_table(ddb: Any, name: str) -> bool:
    """Create the window table (pk/sk, on-demand, TTL on ``expires_at``) unless it exists.

    Returns True when it was created. The TTL setting is (re)applied either way.
    """
    created = False
    try:
        ddb.create_table(
            TableName=name,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
        )
        created = True
    except ClientError as exc:
        if _code(exc) != "ResourceInUseException":
            raise ProvisionError(f"table {name}: {exc}") from exc
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})
    ttl = ddb.describe_time_to_live(TableName=name).get("TimeToLiveDescription", {})
    if not (
        ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") and ttl.get("AttributeName") == TTL_ATTRIBUTE
    ):
        try:
            ddb.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
            )
        except ClientError as exc:
            if _code(exc) not in _NOT_SUPPORTED:
                raise ProvisionError(f"table {name}: TTL: {exc}") from exc
    return created


def ensure_bucket(s3: Any, name: str) -> bool:
    """Create a private bucket unless it exists; returns True when it was created."""
    created = False
    try:
        s3.head_bucket(Bucket=name)
    except ClientError as exc:
        if _code(exc) not in ("404", "NoSuchBucket", "NotFound"):
            raise ProvisionError(f"bucket {name}: {exc}") from exc
        try:
            s3.create_bucket(Bucket=name)  # us-east-1: no location constraint
            created = True
        except ClientError as exc2:  # lost a race, or us-east-1's "already yours"
            if _code(exc2) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise ProvisionError(f"bucket {name}: {exc2}") from exc2
    try:
        s3.put_public_access_block(
            Bucket=name,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
    except ClientError as exc:
        if _code(exc) not in _NOT_SUPPORTED:
            raise ProvisionError(f"bucket {name}: public access block: {exc}") from exc
    return created


def provision(platform: Platform, endpoint: str) -> Provisioned:
    """Create (idempotently) each window's table, and its bucket when the window has one."""
    ddb = _client("dynamodb", endpoint)
    s3 = _client("s3", endpoint) if any(w.bucket for w in platform.windows) else None
    resources: dict[str, WindowResources] = {}
    created: list[str] = []
    for w in platform.windows:
        table = w.local_table_name()
        if ensure_table(ddb, table):
            created.append(f"table {table}")
        bucket: str | None = None
        if w.bucket and s3 is not None:
            bucket = w.local_bucket_name()
            if ensure_bucket(s3, bucket):
                created.append(f"bucket {bucket}")
        resources[w.name] = WindowResources(table_name=table, bucket_name=bucket)
    return Provisioned(endpoint=endpoint, resources=resources, created=tuple(created))
