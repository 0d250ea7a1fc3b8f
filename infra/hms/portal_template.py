"""The identity provider and the citizen portal in ``template.yaml`` (called by ``hms.template``).

Identity: unless ``JwtIssuer`` names an external OpenID Connect provider (e.g. Login.gov), the stack
creates a Cognito user pool with its managed login, a resource server ``hms`` holding every scope the
manifests use, and a public app client (authorization code + PKCE, no secret). Cognito names those
scopes ``hms/<scope>``, so with Cognito each route's ``AuthorizationScopes`` carry that prefix
(``route_scopes``); with an external issuer they are the manifests' names unchanged.

Portal: a private S3 bucket read only by one CloudFront distribution (origin access control), whose
``/api/*`` behaviour forwards to the HTTP API, so page and API share an origin; every answer carries
the security headers policy (CSP without inline scripts, HSTS, frame-ancestors none).
"""

from __future__ import annotations

from typing import Any

from hms.model import Platform, Route

USE_COGNITO = "UseCognito"
USER_POOL_ID = "UserPool"
USER_POOL_DOMAIN_ID = "UserPoolDomain"
RESOURCE_SERVER_ID = "UserPoolResourceServer"
CLIENT_ID = "PortalUserPoolClient"
PORTAL_BUCKET_ID = "PortalBucket"
PORTAL_BUCKET_POLICY_ID = "PortalBucketPolicy"
PORTAL_OAC_ID = "PortalOriginAccessControl"
PORTAL_HEADERS_ID = "PortalResponseHeadersPolicy"
PORTAL_API_CACHE_ID = "PortalApiCachePolicy"
PORTAL_DISTRIBUTION_ID = "PortalDistribution"
SCOPE_SERVER = "hms"  # Cognito's resource server identifier: scopes become "hms/<scope>"
IDENTITY_SCOPES = ("openid", "profile", "email")

# AWS managed CloudFront policies
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"

COGNITO_ISSUER = "https://cognito-idp.${AWS::Region}.amazonaws.com/${UserPool}"
COGNITO_DOMAIN = "https://${UserPoolDomain}.auth.${AWS::Region}.amazoncognito.com"
PORTAL_URL = "https://${PortalDistribution.DomainName}/"


def _ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def _sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def _if(yes: Any, no: Any) -> dict[str, list[Any]]:
    return {"Fn::If": [USE_COGNITO, yes, no]}


def api_scopes(platform: Platform) -> list[str]:
    return sorted({s for w in platform.windows for r in w.routes for s in r.scopes})


def route_scopes(r: Route) -> list[Any]:
    """A route's scopes as the authorizer compares them: ``hms/<scope>`` with Cognito, else as is."""
    return [_if(f"{SCOPE_SERVER}/{s}", s) for s in r.scopes]


def parameters() -> dict[str, Any]:
    return {
        "CognitoDomainPrefix": {
            "Type": "String",
            "Default": "",
            "AllowedPattern": "^([a-z0-9](-*[a-z0-9])*)?$",
            "Description": "Prefix of the Cognito managed login domain (<prefix>.auth.<region>.amazoncognito.com); "
            "empty: <stack name>-<account id>. Unused with an external JwtIssuer",
        },
        "OidcAuthorizationEndpoint": {
            "Type": "String",
            "Default": "",
            "AllowedPattern": "^(https://.+)?$",
            "Description": "With an external JwtIssuer: its authorization endpoint (for the portal)",
        },
        "OidcTokenEndpoint": {
            "Type": "String",
            "Default": "",
            "AllowedPattern": "^(https://.+)?$",
            "Description": "With an external JwtIssuer: its token endpoint (the portal's CSP allows its origin)",
        },
        "PortalUrl": {
            "Type": "String",
            "Default": "",
            "AllowedPattern": "^(https://.+/)?$",
            "Description": "The portal's URL once known (the PortalUrl output, or a custom domain): the app "
            "client's sign-in callback. Empty: `make portal-deploy` sets the callback after deploying",
        },
        "PortalPriceClass": {
            "Type": "String",
            "Default": "PriceClass_100",
            "AllowedValues": ["PriceClass_100", "PriceClass_200", "PriceClass_All"],
            "Description": "CloudFront price class of the portal",
        },
    }


def conditions() -> dict[str, Any]:
    return {
        USE_COGNITO: {"Fn::Equals": [_ref("JwtIssuer"), ""]},
        "DefaultCognitoDomain": {"Fn::Equals": [_ref("CognitoDomainPrefix"), ""]},
        "HasPortalUrl": {"Fn::Not": [{"Fn::Equals": [_ref("PortalUrl"), ""]}]},
    }


def jwt_configuration() -> dict[str, Any]:
    """The authorizer trusts the stack's user pool (its app client is the audience), or the issuer named."""
    return {
        "issuer": _if(_sub(COGNITO_ISSUER), _ref("JwtIssuer")),
        "audience": _if([_ref(CLIENT_ID)], _ref("JwtAudience")),
    }


def resources(platform: Platform, api_id: str) -> dict[str, Any]:
    return {
        USER_POOL_ID: user_pool(),
        USER_POOL_DOMAIN_ID: user_pool_domain(),
        RESOURCE_SERVER_ID: resource_server(platform),
        CLIENT_ID: user_pool_client(platform),
        PORTAL_BUCKET_ID: portal_bucket(),
        PORTAL_BUCKET_POLICY_ID: portal_bucket_policy(),
        PORTAL_OAC_ID: origin_access_control(),
        PORTAL_HEADERS_ID: response_headers_policy(),
        PORTAL_API_CACHE_ID: api_cache_policy(),
        PORTAL_DISTRIBUTION_ID: distribution(api_id),
    }


def user_pool() -> dict[str, Any]:
    return {
        "Type": "AWS::Cognito::UserPool",
        "Condition": USE_COGNITO,
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "UserPoolName": _sub("${AWS::StackName}-citizens"),
            "UsernameAttributes": ["email"],
            "AutoVerifiedAttributes": ["email"],
            "AccountRecoverySetting": {"RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]},
            "Policies": {
                "PasswordPolicy": {
                    "MinimumLength": 12,
                    "RequireLowercase": True,
                    "RequireUppercase": True,
                    "RequireNumbers": True,
                    "RequireSymbols": False,
                }
            },
            "MfaConfiguration": "OPTIONAL",
            "EnabledMfas": ["SOFTWARE_TOKEN_MFA"],
            "Schema": [
                {"Name": "email", "AttributeDataType": "String", "Required": True, "Mutable": True},
                {"Name": "name", "AttributeDataType": "String", "Required": True, "Mutable": True},
            ],
        },
    }


def user_pool_domain() -> dict[str, Any]:
    return {
        "Type": "AWS::Cognito::UserPoolDomain",
        "Condition": USE_COGNITO,
        "Properties": {
            "UserPoolId": _ref(USER_POOL_ID),
            "Domain": {
                "Fn::If": [
                    "DefaultCognitoDomain",
                    _sub("${AWS::StackName}-${AWS::AccountId}"),
                    _ref("CognitoDomainPrefix"),
                ]
            },
        },
    }


def resource_server(platform: Platform) -> dict[str, Any]:
    return {
        "Type": "AWS::Cognito::UserPoolResourceServer",
        "Condition": USE_COGNITO,
        "Properties": {
            "UserPoolId": _ref(USER_POOL_ID),
            "Identifier": SCOPE_SERVER,
            "Name": "HMS service windows",
            "Scopes": [
                {"ScopeName": s, "ScopeDescription": f"the {s.split('.')[0]} window: {s}"}
                for s in api_scopes(platform)
            ],
        },
    }


def user_pool_client(platform: Platform) -> dict[str, Any]:
    """A public client: no secret, authorization code only (the portal sends PKCE S256)."""
    return {
        "Type": "AWS::Cognito::UserPoolClient",
        "Condition": USE_COGNITO,
        "DependsOn": [RESOURCE_SERVER_ID],
        "Properties": {
            "UserPoolId": _ref(USER_POOL_ID),
            "ClientName": _sub("${AWS::StackName}-portal"),
            "GenerateSecret": False,
            "AllowedOAuthFlowsUserPoolClient": True,
            "AllowedOAuthFlows": ["code"],
            "AllowedOAuthScopes": [*IDENTITY_SCOPES, *(f"{SCOPE_SERVER}/{s}" for s in api_scopes(platform))],
            # the distribution's own domain would close a cycle (API -> authorizer audience -> client ->
            # distribution -> API): PortalUrl, else `make portal-deploy` sets it after the first deploy
            "CallbackURLs": [{"Fn::If": ["HasPortalUrl", _ref("PortalUrl"), "http://localhost:3000/"]}],
            "LogoutURLs": [{"Fn::If": ["HasPortalUrl", _ref("PortalUrl"), "http://localhost:3000/"]}],
            "SupportedIdentityProviders": ["COGNITO"],
            "ExplicitAuthFlows": ["ALLOW_REFRESH_TOKEN_AUTH"],
            "PreventUserExistenceErrors": "ENABLED",
            "EnableTokenRevocation": True,
            "AccessTokenValidity": 60,
            "IdTokenValidity": 60,
            "RefreshTokenValidity": 1,
            "TokenValidityUnits": {"AccessToken": "minutes", "IdToken": "minutes", "RefreshToken": "days"},
        },
    }


def portal_bucket() -> dict[str, Any]:
    return {
        "Type": "AWS::S3::Bucket",
        "Properties": {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "VersioningConfiguration": {"Status": "Enabled"},
        },
    }


def portal_bucket_policy() -> dict[str, Any]:
    """Only this distribution reads the bucket (origin access control), and only over TLS."""
    bucket_arn = {"Fn::GetAtt": [PORTAL_BUCKET_ID, "Arn"]}
    objects = _sub(f"${{{PORTAL_BUCKET_ID}.Arn}}/*")
    return {
        "Type": "AWS::S3::BucketPolicy",
        "Properties": {
            "Bucket": _ref(PORTAL_BUCKET_ID),
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "CloudFrontReadsThePortal",
                        "Effect": "Allow",
                        "Principal": {"Service": "cloudfront.amazonaws.com"},
                        "Action": "s3:GetObject",
                        "Resource": objects,
                        "Condition": {
                            "StringEquals": {
                                "AWS:SourceArn": _sub(
                                    f"arn:${{AWS::Partition}}:cloudfront::${{AWS::AccountId}}:distribution/${{{PORTAL_DISTRIBUTION_ID}}}"
                                )
                            }
                        },
                    },
                    {
                        "Sid": "TlsOnly",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [bucket_arn, objects],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    },
                ],
            },
        },
    }


def origin_access_control() -> dict[str, Any]:
    return {
        "Type": "AWS::CloudFront::OriginAccessControl",
        "Properties": {
            "OriginAccessControlConfig": {
                "Name": _sub("${AWS::StackName}-portal"),
                "OriginAccessControlOriginType": "s3",
                "SigningBehavior": "always",
                "SigningProtocol": "sigv4",
            }
        },
    }


def content_security_policy() -> dict[str, Any]:
    """The portal's CSP: scripts and styles from the portal only (no inline scripts), API calls on the
    same origin, plus the identity provider's token endpoint and the documents bucket (presigned
    uploads)."""
    token_origin = _if(_sub(COGNITO_DOMAIN), _ref("OidcTokenEndpoint"))
    return {
        "Fn::Join": [
            "",
            [
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
                "font-src 'self'; connect-src 'self' ",
                token_origin,
                _sub(" https://*.s3.${AWS::Region}.amazonaws.com; "),
                "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
            ],
        ]
    }


def response_headers_policy() -> dict[str, Any]:
    return {
        "Type": "AWS::CloudFront::ResponseHeadersPolicy",
        "Properties": {
            "ResponseHeadersPolicyConfig": {
                "Name": _sub("${AWS::StackName}-portal-security"),
                "SecurityHeadersConfig": {
                    "ContentSecurityPolicy": {
                        "ContentSecurityPolicy": content_security_policy(),
                        "Override": True,
                    },
                    "StrictTransportSecurity": {
                        "AccessControlMaxAgeSec": 63072000,
                        "IncludeSubdomains": True,
                        "Override": True,
                    },
                    "FrameOptions": {"FrameOption": "DENY", "Override": True},
                    "ContentTypeOptions": {"Override": True},
                    "ReferrerPolicy": {"ReferrerPolicy": "no-referrer", "Override": True},
                },
            }
        },
    }


def api_cache_policy() -> dict[str, Any]:
    """``/api/*`` is never cached (TTL 0) and keeps the Authorization header: CloudFront forwards it
    only when a cache policy names it."""
    return {
        "Type": "AWS::CloudFront::CachePolicy",
        "Properties": {
            "CachePolicyConfig": {
                "Name": _sub("${AWS::StackName}-api"),
                "MinTTL": 0,
                "DefaultTTL": 0,
                "MaxTTL": 1,
                "ParametersInCacheKeyAndForwardedToOrigin": {
                    "EnableAcceptEncodingGzip": True,
                    "EnableAcceptEncodingBrotli": True,
                    "HeadersConfig": {"HeaderBehavior": "whitelist", "Headers": ["Authorization"]},
                    "CookiesConfig": {"CookieBehavior": "none"},
                    "QueryStringsConfig": {"QueryStringBehavior": "all"},
                },
            }
        },
    }


def distribution(api_id: str) -> dict[str, Any]:
    return {
        "Type": "AWS::CloudFront::Distribution",
        "Properties": {
            "DistributionConfig": {
                "Comment": _sub("${AWS::StackName} citizen portal"),
                "Enabled": True,
                "HttpVersion": "http2and3",
                "IPV6Enabled": True,
                "PriceClass": _ref("PortalPriceClass"),
                "DefaultRootObject": "index.html",
                "Origins": [
                    {
                        "Id": "portal",
                        "DomainName": {"Fn::GetAtt": [PORTAL_BUCKET_ID, "RegionalDomainName"]},
                        "S3OriginConfig": {"OriginAccessIdentity": ""},
                        "OriginAccessControlId": {"Fn::GetAtt": [PORTAL_OAC_ID, "Id"]},
                    },
                    {
                        "Id": "api",
                        "DomainName": _sub(f"${{{api_id}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}"),
                        "CustomOriginConfig": {
                            "OriginProtocolPolicy": "https-only",
                            "OriginSSLProtocols": ["TLSv1.2"],
                        },
                    },
                ],
                "DefaultCacheBehavior": {
                    "TargetOriginId": "portal",
                    "ViewerProtocolPolicy": "redirect-to-https",
                    "AllowedMethods": ["GET", "HEAD"],
                    "Compress": True,
                    "CachePolicyId": CACHING_OPTIMIZED,
                    "ResponseHeadersPolicyId": _ref(PORTAL_HEADERS_ID),
                },
                "CacheBehaviors": [
                    {
                        "PathPattern": "/api/*",
                        "TargetOriginId": "api",
                        "ViewerProtocolPolicy": "https-only",
                        "AllowedMethods": ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"],
                        "Compress": True,
                        "CachePolicyId": _ref(PORTAL_API_CACHE_ID),
                        "OriginRequestPolicyId": ALL_VIEWER_EXCEPT_HOST,
                        "ResponseHeadersPolicyId": _ref(PORTAL_HEADERS_ID),
                    }
                ],
            }
        },
    }


def outputs() -> dict[str, Any]:
    cognito_only = {"Condition": USE_COGNITO}
    return {
        "PortalUrl": {"Description": "The citizen portal (CloudFront)", "Value": _sub(PORTAL_URL)},
        "PortalBucketName": {
            "Description": "Where `make portal-deploy` uploads the portal",
            "Value": _ref(PORTAL_BUCKET_ID),
        },
        "PortalDistributionId": {
            "Description": "The portal's CloudFront distribution",
            "Value": _ref(PORTAL_DISTRIBUTION_ID),
        },
        "Issuer": {
            "Description": "Issuer the API's JWT authorizer trusts",
            "Value": jwt_configuration()["issuer"],
        },
        "ScopePrefix": {
            "Description": "Prefix of the API scopes in tokens (hms/ with Cognito)",
            "Value": _if(f"{SCOPE_SERVER}/", "none"),
        },
        "AuthorizationEndpoint": {
            "Description": "OpenID Connect authorization endpoint the portal signs in with",
            "Value": _if(_sub(f"{COGNITO_DOMAIN}/oauth2/authorize"), _ref("OidcAuthorizationEndpoint")),
        },
        "TokenEndpoint": {
            "Description": "OpenID Connect token endpoint the portal redeems codes at",
            "Value": _if(_sub(f"{COGNITO_DOMAIN}/oauth2/token"), _ref("OidcTokenEndpoint")),
        },
        "PortalClientId": {
            "Description": "The portal's public app client (the JWT audience)",
            "Value": _if(_ref(CLIENT_ID), {"Fn::Join": [",", _ref("JwtAudience")]}),
        },
        "UserPoolId": {
            **cognito_only,
            "Description": "The citizens' Cognito user pool",
            "Value": _ref(USER_POOL_ID),
        },
    }
