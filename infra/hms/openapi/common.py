"""The platform's common parts of ``docs/openapi.json``: problem+json errors (``hmskit.problems``),
the JWT scheme, ``Idempotency-Key`` (``hmskit.idempotency``), the rate-limit headers
(``hmskit.ratelimit``), the servers and the document's description. Static data."""

from __future__ import annotations

from typing import Any

from hmskit.idempotency import HEADER as IDEMPOTENCY_HEADER
from hmskit.idempotency import MAX_ROUNDS as IDEMPOTENCY_ROUNDS
from hmskit.problems import PROBLEM_CONTENT_TYPE, TYPE_BASE
from hmskit.settings import DEFAULT_IDEMPOTENCY_TTL_SECONDS

OPENAPI_FILE = "docs/openapi.json"
SCHEME = "HmsJwt"  # the template's authorizer has the same name
ANY_METHOD = "x-amazon-apigateway-any-method"  # API Gateway's own OpenAPI key for an ANY route
LOCAL_URL = "http://127.0.0.1:3000"
AWS_URL = "https://{api-id}.execute-api.{region}.amazonaws.com"
GATEWAY_MAX_BODY_MB = 10
SCHEMAS = "#/components/schemas/"


def ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


PLATFORM_SCHEMAS: dict[str, dict[str, Any]] = {
    "Problem": {
        "title": "Problem",
        "type": "object",
        "description": (
            "RFC 9457 problem details: every error a window (or the local gateway) answers. The "
            "extensions the platform uses are listed; a client ignores members it does not know."
        ),
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {
                "type": "string",
                "format": "uri",
                "description": f"`{TYPE_BASE}<slug>`, e.g. `validation-error`, `rate-limited`, "
                "`storage-unavailable`, `renewal-not-eligible`",
            },
            "title": {"type": "string", "description": "the status's reason phrase"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string", "description": "what went wrong, for a human"},
            "instance": {"type": "string", "format": "uri-reference", "description": "the request's path"},
            "errors": {
                "type": "array",
                "items": ref("schemas", "ProblemFieldError"),
                "description": "422: every invalid field",
            },
            "reasons": {
                "type": "array",
                "items": ref("schemas", "ProblemReason"),
                "description": "403 `renewal-not-eligible`: every rule the application fails",
            },
            "limit": {"type": "integer", "description": "429: requests allowed per rate-limit window"},
            "window": {"type": "integer", "description": "429: the rate-limit window, in seconds"},
            "upstream_window": {"type": "string", "description": "the window called on the caller's behalf"},
            "upstream_status": {"type": "integer", "description": "what that window answered"},
            "upstream_detail": {"type": "string", "description": "its problem's `detail`"},
            "upstream_type": {"type": "string", "description": "its problem's `type`"},
            "requiredScopes": {
                "type": "array",
                "items": {"type": "string"},
                "description": "403 from the local gateway: the route's scopes (any-of)",
            },
            "errorType": {
                "type": "string",
                "description": "502 from the local gateway: what the window raised",
            },
            "requestId": {"type": "string", "description": "the local gateway's request id"},
        },
    },
    "ProblemFieldError": {
        "title": "ProblemFieldError",
        "type": "object",
        "required": ["field", "reason"],
        "properties": {
            "field": {
                "type": "string",
                "description": "dotted path of the field, e.g. `mailing_address.country`",
            },
            "reason": {"type": "string"},
        },
    },
    "ProblemReason": {
        "title": "ProblemReason",
        "type": "object",
        "required": ["code", "message"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
    },
    "GatewayMessage": {
        "title": "GatewayMessage",
        "type": "object",
        "description": (
            'API Gateway\'s own error answer in AWS, e.g. `{"message": "Unauthorized"}`: its JWT '
            "authorizer, its throttle, its payload limit, or a function that failed or timed out."
        ),
        "required": ["message"],
        "properties": {"message": {"type": "string"}},
    },
}

HEADERS: dict[str, dict[str, Any]] = {
    "Retry-After": {
        "description": "seconds to wait before retrying",
        "schema": {"type": "integer", "minimum": 0},
    },
    "X-RateLimit-Limit": {
        "description": "requests allowed per rate-limit window, per citizen",
        "schema": {"type": "integer", "minimum": 1},
    },
    "X-RateLimit-Remaining": {
        "description": "requests left in the current window",
        "schema": {"type": "integer", "minimum": 0},
    },
    "X-RateLimit-Reset": {
        "description": "seconds until the current window ends",
        "schema": {"type": "integer", "minimum": 0},
    },
    "WWW-Authenticate": {
        "description": 'the bearer challenge, e.g. `Bearer error="invalid_token"` or `error="insufficient_scope"`',
        "schema": {"type": "string"},
    },
    "Allow": {"description": "the methods the path has", "schema": {"type": "string"}},
}
RATE_LIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def error_response(
    description: str, *, gateway: bool = False, problem: bool = True, headers: tuple[str, ...] = ()
) -> dict[str, Any]:
    content: dict[str, Any] = {}
    if problem:
        content[PROBLEM_CONTENT_TYPE] = {"schema": ref("schemas", "Problem")}
    if gateway:
        content["application/json"] = {"schema": ref("schemas", "GatewayMessage")}
    out: dict[str, Any] = {"description": description, "content": content}
    if headers:
        out["headers"] = {h: ref("headers", h) for h in headers}
    return out


# status -> the shared response an operation refers to
ERROR_RESPONSES: dict[int, str] = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    413: "ContentTooLarge",
    415: "UnsupportedMediaType",
    422: "UnprocessableContent",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}

RESPONSES: dict[str, dict[str, Any]] = {
    "BadRequest": error_response("Bad request."),
    "Unauthorized": error_response(
        "No bearer token, or one that is not valid.", gateway=True, headers=("WWW-Authenticate",)
    ),
    "Forbidden": error_response("Forbidden.", gateway=True, headers=("WWW-Authenticate",)),
    "NotFound": error_response("Not found."),
    "NoRoute": error_response("No route has this path (any operation).", gateway=True),
    "MethodNotAllowed": error_response(
        "The path exists but not with this method (any operation).", headers=("Allow",)
    ),
    "Conflict": error_response("Conflict.", headers=("Retry-After",)),
    "ContentTooLarge": error_response(
        f"The body is too large (API Gateway's limit is {GATEWAY_MAX_BODY_MB} MB).", gateway=True
    ),
    "UnsupportedMediaType": error_response("Unsupported media type."),
    "UnprocessableContent": error_response("The body is well-formed but invalid."),
    "TooManyRequests": error_response(
        "Too many requests.",
        gateway=True,
        headers=("Retry-After", *RATE_LIMIT_HEADERS),
    ),
    "Throttled": error_response(
        "API Gateway's aggregate throttle (all callers together) is exceeded.", gateway=True, problem=False
    ),
    "InternalServerError": error_response("An unexpected error; it has been logged.", gateway=True),
    "BadGateway": error_response("The window (or a window it called) failed."),
    "ServiceUnavailable": error_response(
        "Unavailable for now; retry shortly.", gateway=True, headers=("Retry-After",)
    ),
    "GatewayTimeout": error_response("No answer in time.", gateway=True),
}

PARAMETERS: dict[str, dict[str, Any]] = {
    "IdempotencyKey": {
        "name": "-".join(part.capitalize() for part in IDEMPOTENCY_HEADER.split("-")),
        "in": "header",
        "required": False,
        "description": (
            "Makes a retry safe: the same key and body (per citizen and route) replay the first "
            f"answer for {DEFAULT_IDEMPOTENCY_TTL_SECONDS // 3600} h by default, and nothing happens "
            "twice: a retry of a committed request replays its answer (or, if that answer was lost, "
            "answers from the stored effect). The same key with another body is 422. Attempts racing "
            "with one key: the first to commit wins and the others answer with its result; 409 (with "
            f"`Retry-After`) only when that result is still not readable after {IDEMPOTENCY_ROUNDS} "
            "rounds of contention."
        ),
        "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7e]{1,255}$"},
    }
}

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    SCHEME: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": (
            "A JWT verified by API Gateway's JWT authorizer (`iss` and `aud` are the deployment's "
            "`JwtIssuer` and `JwtAudience`; `exp`, `nbf`). Locally, `hms token --sub alice --scope "
            "payments.read` mints one. Scopes come from the token's `scope` claim (space-separated) "
            "or `scp`. **Any-of:** an operation lists one security requirement per scope it accepts; "
            "a token with any one of them is let through. An empty scope list means any valid token."
        ),
    }
}

INFO_DESCRIPTION = """\
The HTTP API of the HMS service windows: one API Gateway HTTP API in front of one Lambda function \
per window. Generated by `hms template` from `routes/*.yaml` (paths, methods, scopes, rate limits) \
and each window's `api_contract.py` (bodies, statuses, headers); a test fails when this file drifts \
from them. Do not edit it by hand.

**Authorization.** A route with scopes needs `Authorization: Bearer <JWT>` carrying **any one** of \
them (one security requirement per scope); a route with an empty list needs any valid token; a route \
with no security requirement is public. Identity is the token's `sub` and nothing else (client-sent \
`x-hms-*` headers are ignored): a citizen sees only their own data, and another citizen's is 404.

**Errors.** Every error a window answers is `application/problem+json` (RFC 9457, schema `Problem`) \
with `type`, `title`, `status`, `detail` and `instance`, and where they apply the extensions \
`errors` (422: each invalid field), `reasons` (403: why a renewal is not eligible), `limit` and \
`window` (429) and `upstream_*` (a window called on the caller's behalf failed). Bad input is never \
a 500. In AWS, what API Gateway answers itself (its JWT authorizer's 401/403, its throttle's 429, \
its 10 MB body limit, a function that failed or timed out) is `application/json` \
`{"message": ...}` (schema `GatewayMessage`); the local gateway answers those as problem+json. A \
path no route has is 404 (responses `NoRoute`); locally a path with another method is 405 with \
`Allow` (`MethodNotAllowed`), while API Gateway answers both as 404 `{"message": "Not Found"}`.

**Rate limits.** Per citizen (the token's `sub`, else the client IP), in fixed windows, counted by \
the window itself: each counted operation gives its limit in `x-hms-rate-limit`. Its successful answers carry \
`X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`; past the limit it is 429 with \
`Retry-After`. Health checks are not counted.

**Idempotency.** A POST with the `Idempotency-Key` parameter can be retried safely: the same key and \
body replay the first answer.

**Money** is a decimal string (`"12.50"`) in every answer, never a JSON number.
"""

SERVERS: list[dict[str, Any]] = [
    {
        "url": AWS_URL,
        "description": "The deployed HTTP API (its `$default` stage; `sam deploy` prints the API id)",
        "variables": {
            "api-id": {"default": "abcdef1234", "description": "the HTTP API's id"},
            "region": {"default": "us-east-1", "description": "the AWS region it is deployed in"},
        },
    },
    {"url": LOCAL_URL, "description": "The whole platform on one machine: `make up`"},
]
