"""A worker counts its AWS calls per invocation, whatever client made them (built before or after)."""

from __future__ import annotations

import boto3
from botocore.stub import Stubber

from hms.local.worker_main import _AwsCalls


def test_every_api_call_is_counted_by_service_and_operation_and_taken_once() -> None:
    from botocore.client import BaseClient

    shipped = BaseClient._make_api_call
    early = boto3.client("sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    calls = _AwsCalls()
    try:
        calls.install()
        calls.install()  # once only: a second install does not count twice
        late = boto3.client("sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
        for client in (early, late):
            with Stubber(client) as stub:
                stub.add_response("list_queues", {"QueueUrls": []})
                stub.add_response("list_queues", {"QueueUrls": []})
                client.list_queues()
                client.list_queues()
        assert calls.take() == {"sqs.ListQueues": 4}
        assert calls.take() == {}
    finally:
        BaseClient._make_api_call = shipped  # type: ignore[method-assign]
