"""template.yaml: the identity provider (Cognito, or an external OIDC issuer) and the portal behind
CloudFront: scopes that match the routes, a private bucket, same-origin /api/*, security headers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from hms.model import Platform, load_platform

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "template.yaml").read_text())


@pytest.fixture(scope="module")
def platform() -> Platform:
    return load_platform(ROOT)


def resources_of(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def test_cognito_is_the_issuer_unless_an_external_one_is_named(template: dict[str, Any]) -> None:
    assert template["Conditions"]["UseCognito"] == {"Fn::Equals": [{"Ref": "JwtIssuer"}, ""]}
    assert template["Parameters"]["JwtIssuer"]["Default"] == ""
    for kind in (
        "AWS::Cognito::UserPool",
        "AWS::Cognito::UserPoolClient",
        "AWS::Cognito::UserPoolResourceServer",
    ):
        (resource,) = resources_of(template, kind).values()
        assert resource["Condition"] == "UseCognito"
    jwt = template["Resources"]["HttpApi"]["Properties"]["Auth"]["Authorizers"]["HmsJwt"]["JwtConfiguration"]
    assert jwt["issuer"]["Fn::If"][2] == {"Ref": "JwtIssuer"}
    assert jwt["audience"]["Fn::If"][1] == [{"Ref": "PortalUserPoolClient"}]


def test_the_app_client_is_public_code_only_and_asks_for_every_route_scope(
    template: dict[str, Any], platform: Platform
) -> None:
    client = template["Resources"]["PortalUserPoolClient"]["Properties"]
    assert client["GenerateSecret"] is False
    assert client["AllowedOAuthFlows"] == ["code"]
    server = template["Resources"]["UserPoolResourceServer"]["Properties"]
    cognito_scopes = {f"{server['Identifier']}/{s['ScopeName']}" for s in server["Scopes"]}
    assert set(client["AllowedOAuthScopes"]) == {"openid", "profile", "email", *cognito_scopes}
    # every route's scope, as the authorizer compares it under Cognito, is one the client can get
    for fn in resources_of(template, "AWS::Serverless::Function").values():
        for event in fn["Properties"].get("Events", {}).values():
            for scope in event["Properties"].get("Auth", {}).get("AuthorizationScopes", []):
                _, cognito, external = scope["Fn::If"]
                assert cognito in cognito_scopes and cognito == f"hms/{external}"
    route_scopes = {s for w in platform.windows for r in w.routes for s in r.scopes}
    assert {s["ScopeName"] for s in server["Scopes"]} == route_scopes


def test_the_portal_bucket_is_private_and_read_only_by_its_distribution(template: dict[str, Any]) -> None:
    bucket = template["Resources"]["PortalBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    (allow, deny) = template["Resources"]["PortalBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"} and allow["Action"] == "s3:GetObject"
    assert "PortalDistribution" in allow["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    oac = template["Resources"]["PortalOriginAccessControl"]["Properties"]["OriginAccessControlConfig"]
    assert oac["SigningBehavior"] == "always" and oac["OriginAccessControlOriginType"] == "s3"


def test_the_distribution_serves_the_portal_and_routes_api_to_the_http_api(template: dict[str, Any]) -> None:
    config = template["Resources"]["PortalDistribution"]["Properties"]["DistributionConfig"]
    origins = {o["Id"]: o for o in config["Origins"]}
    assert origins["portal"]["OriginAccessControlId"] == {"Fn::GetAtt": ["PortalOriginAccessControl", "Id"]}
    assert "${HttpApi}.execute-api" in origins["api"]["DomainName"]["Fn::Sub"]
    (api,) = config["CacheBehaviors"]
    assert (
        api["PathPattern"] == "/api/*" and api["TargetOriginId"] == "api" and "POST" in api["AllowedMethods"]
    )
    cache = template["Resources"]["PortalApiCachePolicy"]["Properties"]["CachePolicyConfig"]
    assert cache["DefaultTTL"] == 0
    assert cache["ParametersInCacheKeyAndForwardedToOrigin"]["HeadersConfig"]["Headers"] == ["Authorization"]
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"


def test_every_answer_carries_a_strict_csp_hsts_and_no_framing(template: dict[str, Any]) -> None:
    policy = template["Resources"]["PortalResponseHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]
    headers = policy["SecurityHeadersConfig"]
    csp = "".join(
        p if isinstance(p, str) else ""
        for p in headers["ContentSecurityPolicy"]["ContentSecurityPolicy"]["Fn::Join"][1]
    )
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert headers["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31536000
    assert headers["FrameOptions"]["FrameOption"] == "DENY"
    config = template["Resources"]["PortalDistribution"]["Properties"]["DistributionConfig"]
    assert config["DefaultCacheBehavior"]["ResponseHeadersPolicyId"] == {"Ref": "PortalResponseHeadersPolicy"}


def test_the_outputs_name_the_portal_and_the_issuer(template: dict[str, Any]) -> None:
    for name in (
        "PortalUrl",
        "PortalBucketName",
        "PortalDistributionId",
        "Issuer",
        "PortalClientId",
        "AuthorizationEndpoint",
        "TokenEndpoint",
        "ScopePrefix",
        "ApiUrl",
    ):
        assert name in template["Outputs"], name
