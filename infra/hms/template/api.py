"""The front door: the template's parameters and the HTTP API with its JWT authorizer."""

from __future__ import annotations

from typing import Any

from hms import portal_template
from hms.model import Platform, Route
from hms.template.intrinsics import AUTHORIZER, EMAIL_SENDER, Resource, ref

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


def parameters(platform: Platform) -> dict[str, Any]:
    params: dict[str, Any] = {
        "JwtIssuer": {
            "Type": "String",
            "Description": "Issuer (iss) of citizen tokens from an external OpenID Connect provider "
            "(e.g. Login.gov); empty: the stack's own Cognito user pool",
            "Default": "",
            "AllowedPattern": "^(https://.+)?$",
            "ConstraintDescription": "an https URL, or empty",
        },
        "JwtAudience": {
            "Type": "CommaDelimitedList",
            "Description": "With an external JwtIssuer: accepted audiences (aud) of citizen tokens "
            "(its client id)",
            "Default": "",
        },
        "StageThrottlingRateLimit": {
            "Type": "Number",
            "Default": 500,
            "MinValue": 1,
            "Description": "Aggregate steady-state requests per second for the whole API (all callers together)",
        },
        "StageThrottlingBurstLimit": {
            "Type": "Number",
            "Default": 1000,
            "MinValue": 1,
            "Description": "Aggregate burst for the whole API (all callers together)",
        },
        "LogRetentionDays": {
            "Type": "Number",
            "Default": 90,
            "AllowedValues": [30, 60, 90, 180, 365, 731, 1827, 3653],
            "Description": "How long function logs are kept",
        },
        "EventArchiveRetentionDays": {
            "Type": "Number",
            "Default": 30,
            "MinValue": 1,
            "Description": "How long the event bus archive keeps events for replay",
        },
    }
    params.update(portal_template.parameters())
    if any(w.email for w in platform.windows):
        params[EMAIL_SENDER] = {
            "Type": "String",
            "Default": "no-reply@example.gov",
            "AllowedPattern": EMAIL_PATTERN,
            "ConstraintDescription": "an email address (a verified SES identity, or one of a verified domain)",
            "Description": "The From address of every email the platform sends (HMS_EMAIL_SENDER)",
        }
    return params


def http_api(platform: Platform) -> Resource:
    route_settings: dict[str, Any] = {}
    for w in platform.windows:
        if w.throttle:
            for r in w.routes:
                route_settings[route_key(r)] = {
                    "ThrottlingRateLimit": w.throttle.rate,
                    "ThrottlingBurstLimit": w.throttle.burst,
                }
    props: dict[str, Any] = {
        "Description": "HMS front door: every window's routes, JWT-authorised",
        "Auth": {
            "Authorizers": {
                AUTHORIZER: {
                    "IdentitySource": "$request.header.Authorization",
                    "JwtConfiguration": portal_template.jwt_configuration(),
                }
            },
            "DefaultAuthorizer": AUTHORIZER,
        },
        "DefaultRouteSettings": {
            "ThrottlingRateLimit": ref("StageThrottlingRateLimit"),
            "ThrottlingBurstLimit": ref("StageThrottlingBurstLimit"),
        },
    }
    if route_settings:
        props["RouteSettings"] = route_settings
    return {"Type": "AWS::Serverless::HttpApi", "Properties": props}


def route_key(r: Route) -> str:
    return f"{r.method if r.method != 'ANY' else 'ANY'} {r.path}"
