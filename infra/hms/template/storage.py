"""A window's storage: its DynamoDB table and, where it keeps files, its S3 bucket."""

from __future__ import annotations

from hms.resources import (
    BILLING_MODE,
    PUBLIC_ACCESS_BLOCK,
    TTL_ATTRIBUTE,
    Bucket,
    Table,
    attribute_definitions,
    key_schema,
)
from hms.template.intrinsics import Resource, get_att, ref, sub


def table(t: Table) -> Resource:
    resource: Resource = {
        "Type": "AWS::DynamoDB::Table",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "BillingMode": BILLING_MODE,
            "AttributeDefinitions": attribute_definitions(),
            "KeySchema": key_schema(),
            "TimeToLiveSpecification": {"AttributeName": TTL_ATTRIBUTE, "Enabled": True},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True},
            "Tags": [{"Key": "hms:window", "Value": t.window}],
        },
    }
    if t.stream:
        resource["Properties"]["StreamSpecification"] = {"StreamViewType": "NEW_IMAGE"}
    return resource


def bucket(b: Bucket) -> Resource:
    return {
        "Type": "AWS::S3::Bucket",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {
                        "ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                        "BucketKeyEnabled": True,
                    }
                ]
            },
            "PublicAccessBlockConfiguration": dict(PUBLIC_ACCESS_BLOCK),
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "VersioningConfiguration": {"Status": "Enabled"},
            "LifecycleConfiguration": {
                "Rules": [
                    {
                        "Id": "abort-incomplete-uploads",
                        "Status": "Enabled",
                        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                    },
                    {
                        "Id": "expire-abandoned-presigned-uploads",
                        "Status": "Enabled",
                        "Prefix": "uploads/",
                        "ExpirationInDays": 1,
                    },
                    {
                        "Id": "expire-old-versions",
                        "Status": "Enabled",
                        "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
                    },
                ]
            },
            "Tags": [{"Key": "hms:window", "Value": b.window}],
        },
    }


def bucket_policy(b: Bucket) -> Resource:
    return {
        "Type": "AWS::S3::BucketPolicy",
        "Properties": {
            "Bucket": ref(b.logical_id),
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "DenyInsecureTransport",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [get_att(b.logical_id, "Arn"), sub(f"${{{b.logical_id}.Arn}}/*")],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    }
                ],
            },
        },
    }
