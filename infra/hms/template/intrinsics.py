"""CloudFormation intrinsics (long form, so ``yaml.safe_load`` reads the template back) and the
logical ids every area of the template refers to."""

from __future__ import annotations

from typing import Any

Resource = dict[str, Any]

RUNTIME = "python3.12"
ARCH = "arm64"
API_ID = "HttpApi"
AUTHORIZER = "HmsJwt"
LAYER_ID = "PlatformLayer"
ARCHIVE_ID = "EventArchive"
REGISTRY_ID = "EventSchemaRegistry"
NAMESPACE_ID = "ServiceNamespace"
EMAIL_SENDER = "EmailSender"

API_URL = f"https://${{{API_ID}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}"
NAMESPACE_NAME = "${AWS::StackName}"  # Cloud Map namespace: one per stack


def ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def get_att(resource: str, attr: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [resource, attr]}


def sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}
