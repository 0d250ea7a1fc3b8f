"""``docs/openapi.json``: the OpenAPI 3.1 document of the whole HTTP API, generated.

Three sources, so the document cannot disagree with what runs:

- the platform model (``routes/*.yaml``): every path and method, its scopes (any-of), whether it is
  public or rate limited, the window's timeout;
- each window's ``api_contract.OPERATIONS`` (``hmskit.apidoc``): request bodies (the window's own
  pydantic models), the success status, body and headers, and the errors only the route knows;
- the platform's common answers, here: problem+json errors (``hmskit.problems``), the JWT scheme,
  ``Idempotency-Key`` (``hmskit.idempotency``), the rate-limit headers (``hmskit.ratelimit``).

A pipeline on plain dicts: ``load_contracts`` (imports each window's ``api_contract``) ->
``build_document`` -> ``render_openapi`` (JSON, keys sorted, lists in manifest order), so a test can
regenerate and compare. Every problem (a route without an operation, an operation without a route,
a bad declaration) is collected and raised at once as ``ManifestErrors``: nothing is generated.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
import tomllib
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

from hms.manifest import ManifestError, ManifestErrors
from hms.model import Platform, Route, Window
from hmskit.apidoc import FORM, JSON, Operation, Schema
from hmskit.idempotency import HEADER as IDEMPOTENCY_HEADER
from hmskit.idempotency import MAX_ROUNDS as IDEMPOTENCY_ROUNDS
from hmskit.problems import PROBLEM_CONTENT_TYPE, TYPE_BASE
from hmskit.settings import DEFAULT_IDEMPOTENCY_TTL_SECONDS

OPENAPI_FILE = "docs/openapi.json"
CONTRACT = "api_contract"
SCHEME = "HmsJwt"  # the template's authorizer has the same name
ANY_METHOD = "x-amazon-apigateway-any-method"  # API Gateway's own OpenAPI key for an ANY route
LOCAL_URL = "http://127.0.0.1:3000"
AWS_URL = "https://{api-id}.execute-api.{region}.amazonaws.com"
GATEWAY_MAX_BODY_MB = 10

SCHEMAS = "#/components/schemas/"
_PARAM = re.compile(r"\{([^}]+)\}")
_OPERATION_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class WindowContract:
    """What a window's ``api_contract`` module declares."""

    operations: Mapping[Any, Any]
    description: str = ""
    file: str = ""  # relative to the project root, for error messages


# -- the platform's common parts ---------------------------------------------------------------------


def _ref(kind: str, name: str) -> dict[str, str]:
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
                "items": _ref("schemas", "ProblemFieldError"),
                "description": "422: every invalid field",
            },
            "reasons": {
                "type": "array",
                "items": _ref("schemas", "ProblemReason"),
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


def _error_response(
    description: str, *, gateway: bool = False, problem: bool = True, headers: tuple[str, ...] = ()
) -> dict[str, Any]:
    content: dict[str, Any] = {}
    if problem:
        content[PROBLEM_CONTENT_TYPE] = {"schema": _ref("schemas", "Problem")}
    if gateway:
        content["application/json"] = {"schema": _ref("schemas", "GatewayMessage")}
    out: dict[str, Any] = {"description": description, "content": content}
    if headers:
        out["headers"] = {h: _ref("headers", h) for h in headers}
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
    "BadRequest": _error_response("Bad request."),
    "Unauthorized": _error_response(
        "No bearer token, or one that is not valid.", gateway=True, headers=("WWW-Authenticate",)
    ),
    "Forbidden": _error_response("Forbidden.", gateway=True, headers=("WWW-Authenticate",)),
    "NotFound": _error_response("Not found."),
    "NoRoute": _error_response("No route has this path (any operation).", gateway=True),
    "MethodNotAllowed": _error_response(
        "The path exists but not with this method (any operation).", headers=("Allow",)
    ),
    "Conflict": _error_response("Conflict.", headers=("Retry-After",)),
    "ContentTooLarge": _error_response(
        f"The body is too large (API Gateway's limit is {GATEWAY_MAX_BODY_MB} MB).", gateway=True
    ),
    "UnsupportedMediaType": _error_response("Unsupported media type."),
    "UnprocessableContent": _error_response("The body is well-formed but invalid."),
    "TooManyRequests": _error_response(
        "Too many requests.",
        gateway=True,
        headers=("Retry-After", *RATE_LIMIT_HEADERS),
    ),
    "Throttled": _error_response(
        "API Gateway's aggregate throttle (all callers together) is exceeded.", gateway=True, problem=False
    ),
    "InternalServerError": _error_response("An unexpected error; it has been logged.", gateway=True),
    "BadGateway": _error_response("The window (or a window it called) failed."),
    "ServiceUnavailable": _error_response(
        "Unavailable for now; retry shortly.", gateway=True, headers=("Retry-After",)
    ),
    "GatewayTimeout": _error_response("No answer in time.", gateway=True),
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


# -- loading the windows' declarations ------------------------------------------------------------------


def contract_file(window: Window) -> str:
    return f"{window.code_dir}/{window.name}/{CONTRACT}.py"


def _import_contract(platform: Platform, window: Window) -> Any:
    """``<window>.api_contract`` from this project's ``functions/<window>/`` (as /var/task in Lambda)."""
    code_dir = (platform.root / window.code_dir).resolve()
    if str(code_dir) not in sys.path:
        sys.path.insert(0, str(code_dir))
    package = importlib.import_module(window.name)
    origin = Path(str(getattr(package, "__file__", "") or "")).resolve().parent
    if origin != code_dir / window.name:
        raise ImportError(f"the package {window.name!r} is already imported from {origin}, not {code_dir}")
    return importlib.import_module(f"{window.name}.{CONTRACT}")


def load_contracts(platform: Platform) -> dict[str, WindowContract]:
    """Every window's declared contract; ``ManifestErrors`` naming each window that has none."""
    errors: list[ManifestError] = []
    out: dict[str, WindowContract] = {}
    for w in platform.windows:
        file = contract_file(w)
        if not (platform.root / file).is_file():
            errors.append(
                ManifestError(
                    file,
                    "(file)",
                    f"missing: every window declares its HTTP contract, OPERATIONS = "
                    f"{{(method, path): hmskit.apidoc.Operation(...)}} for each route of {w.manifest_file}",
                )
            )
            continue
        try:
            module = _import_contract(platform, w)
        except Exception as exc:
            errors.append(ManifestError(file, "(import)", f"{type(exc).__name__}: {exc}"))
            continue
        operations = getattr(module, "OPERATIONS", None)
        if not isinstance(operations, Mapping):
            errors.append(ManifestError(file, "OPERATIONS", "expected a dict {(method, path): Operation}"))
            continue
        description = getattr(module, "DESCRIPTION", "")
        out[w.name] = WindowContract(operations, description if isinstance(description, str) else "", file)
    if errors:
        raise ManifestErrors(errors)
    return out


def project_version(root: Path) -> str:
    """``[project] version`` of the project's ``pyproject.toml`` (else the installed distribution's)."""
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        version = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {}).get("version")
        if isinstance(version, str):
            return version
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("hms-windows")
    except PackageNotFoundError:
        return "0.0.0"


# -- schemas ---------------------------------------------------------------------------------------------


def _is_model(value: Any) -> bool:
    from pydantic import BaseModel

    return isinstance(value, type) and issubclass(value, BaseModel)


def _walk_refs(node: Any, rename: Mapping[str, str]) -> Any:
    """``node`` with every ``#/components/schemas/X`` reference renamed per ``rename``."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(SCHEMAS):
                name = value[len(SCHEMAS) :]
                out[key] = SCHEMAS + rename.get(name, name)
            else:
                out[key] = _walk_refs(value, rename)
        return out
    if isinstance(node, list):
        return [_walk_refs(v, rename) for v in node]
    return node


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = set()
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(SCHEMAS):
                found.add(value[len(SCHEMAS) :])
            else:
                found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node)) if node else set()
    return set()


@dataclass
class _WindowSchemas:
    """One window's component schemas under their local names, and the reference of each body."""

    defs: dict[str, dict[str, Any]] = field(default_factory=dict)
    refs: dict[tuple[Any, str], dict[str, Any]] = field(default_factory=dict)  # _body_key -> schema


def _body_key(body: Any, mode: str) -> tuple[Any, str]:
    """A model class with its JSON Schema mode, or a hand-written ``Schema`` by its name."""
    return ("Schema", body.name) if isinstance(body, Schema) else (body, mode)


def _window_schemas(ops: list[Operation], problems: list[str]) -> _WindowSchemas:
    from pydantic.json_schema import models_json_schema

    out = _WindowSchemas()
    inputs: list[tuple[Any, Any]] = []
    for op in ops:
        for model, mode in ((op.request, "validation"), (op.response, "serialization")):
            if _is_model(model) and (model, mode) not in inputs:
                inputs.append((model, mode))
    if inputs:
        try:
            mapping, definitions = models_json_schema(inputs, ref_template=SCHEMAS + "{model}")
        except Exception as exc:
            problems.append(f"cannot describe the bodies as JSON Schema: {type(exc).__name__}: {exc}")
            return out
        out.defs.update(definitions.get("$defs", {}))
        for (model, mode), schema in mapping.items():
            out.refs[(model, mode)] = dict(schema)
    for op in ops:
        if isinstance(op.response, Schema):
            schema = dict(op.response.schema)
            known = out.defs.get(op.response.name)
            if known is not None and known != schema:
                problems.append(f"two different schemas are named {op.response.name!r}")
            out.defs[op.response.name] = schema
            out.refs[_body_key(op.response, "serialization")] = {"$ref": SCHEMAS + op.response.name}
    return out


def _signature(window: str, name: str, local: Mapping[str, Mapping[str, dict[str, Any]]]) -> str:
    """The schema named ``name`` with everything it references, as comparable text."""
    seen: dict[str, Any] = {}
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        schema = local[window].get(current)
        seen[current] = schema
        todo.extend(sorted(_refs(schema)))
    return json.dumps(seen, sort_keys=True, default=str)


def _merge(
    local: Mapping[str, Mapping[str, dict[str, Any]]], titles: Mapping[str, str], problems: list[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, str]]]:
    """One components/schemas for every window: a name shared by equal schemas is kept once; a name
    two windows use for different schemas (or a platform schema's name) is prefixed by the window."""
    by_name: dict[str, list[str]] = defaultdict(list)
    for window, defs in local.items():
        for name in defs:
            by_name[name].append(window)
    rename: dict[str, dict[str, str]] = {w: {} for w in local}
    for name, windows in sorted(by_name.items()):
        signatures = {_signature(w, name, local) for w in windows}
        shared = len(signatures) == 1 and name not in PLATFORM_SCHEMAS
        for w in windows:
            rename[w][name] = name if shared else f"{titles[w]}{name}"
    merged: dict[str, dict[str, Any]] = {}
    for window, defs in sorted(local.items()):
        for name, schema in defs.items():
            final = rename[window][name]
            renamed = _walk_refs(schema, rename[window])
            if final in merged and merged[final] != renamed:
                problems.append(f"the schema name {final!r} is used twice; rename one of the models")
            merged[final] = renamed
    return merged, rename


# -- operations -------------------------------------------------------------------------------------------


def _not_null(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A query parameter's schema: ``X | None`` is just X (an absent parameter is the None)."""
    out = {k: v for k, v in schema.items() if k not in ("title", "description")}
    alternatives = out.get("anyOf")
    if isinstance(alternatives, list):
        rest = [a for a in alternatives if a != {"type": "null"}]
        if len(rest) == 1 and len(rest) < len(alternatives):
            del out["anyOf"]
            out.update(rest[0])
    if "default" in out and out["default"] is None:
        del out["default"]
    return out


def _query_parameters(op: Operation, problems: list[str]) -> tuple[list[dict[str, Any]], set[str]]:
    if op.query is None:
        return [], set()
    if not _is_model(op.query):
        problems.append("query must be a pydantic model class")
        return [], set()
    schema = op.query.model_json_schema(mode="validation")
    if "$defs" in schema:
        problems.append("query parameters must be flat (no nested models)")
        return [], set()
    required = set(schema.get("required", ()))
    params = []
    for name, prop in schema.get("properties", {}).items():
        param: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": _not_null(prop),
        }
        description = op.params.get(name) or prop.get("description")
        if description:
            param["description"] = description
        params.append(param)
    return params, set(schema.get("properties", {}))


def _path_parameters(path: str, op: Operation) -> list[dict[str, Any]]:
    params = []
    for name in _PARAM.findall(path):
        default = "the rest of the path" if name.endswith("+") else f"the `{name}` in the path"
        params.append(
            {
                "name": name,
                "in": "path",
                "required": True,
                "description": op.params.get(name, default),
                "schema": {"type": "string"},
            }
        )
    return params


def _scopes(scopes: tuple[str, ...]) -> str:
    """``the scope `a` `` or ``any of the scopes `a`, `b` ``."""
    if len(scopes) == 1:
        return f"the scope `{scopes[0]}`"
    return "any of the scopes " + ", ".join(f"`{s}`" for s in scopes)


def _scopes_sentence(route: Route) -> str:
    if not route.authorized:
        return "Public: no token needed."
    if not route.scopes:
        return "Needs a valid bearer token (no particular scope)."
    return f"Needs a bearer token with {_scopes(route.scopes)}."


def _rate_sentence(window: Window, route: Route) -> str:
    if route.rate_limited and window.rate_limit is not None:
        rl = window.rate_limit
        return f"Rate limit: {rl.limit} requests per {rl.window} s per citizen."
    return "Not rate limited."


def _security(route: Route) -> list[dict[str, list[str]]]:
    if not route.authorized:
        return []
    if not route.scopes:
        return [{SCHEME: []}]
    return [{SCHEME: [scope]} for scope in route.scopes]


def _error_reasons(window: Window, route: Route, op: Operation, limited: bool) -> dict[int, list[str]]:
    """What each error status means on this route: the platform's causes, then the route's own."""
    reasons: dict[int, list[str]] = defaultdict(list)
    if route.authorized:
        reasons[401].append("No bearer token, or one the JWT authorizer refuses (signature, iss, aud, exp).")
        if route.scopes:
            reasons[403].append(f"The token does not grant {_scopes(route.scopes)}.")
    if op.request is not None:
        if op.media_type == FORM:
            reasons[400].append("The multipart body cannot be parsed.")
            reasons[415].append("`Content-Type` is not `multipart/form-data` (with a boundary).")
            reasons[422].append("A form field is invalid (each is named in `errors`).")
        else:
            reasons[400].append("The body is not valid JSON.")
            reasons[415].append(
                "`Content-Type` is not `application/json` (a JSON object sent as curl's default "
                "`application/x-www-form-urlencoded` is read as JSON)."
            )
            reasons[422].append(
                "The body does not match the schema (each invalid field is named in `errors`)."
            )
        reasons[413].append(
            f"The body is over the window's limit (API Gateway's is {GATEWAY_MAX_BODY_MB} MB)."
        )
    if op.query is not None:
        reasons[400].append("A query parameter is invalid.")
    if _PARAM.search(route.path) and 404 not in op.errors:
        reasons[404].append("Nothing with this id belongs to the caller.")
    if op.idempotent:
        reasons[400].append("`Idempotency-Key` is not 1 to 255 visible ASCII characters.")
        reasons[409].append(
            "Attempts with this `Idempotency-Key` raced and the winner's result was still not readable "
            f"after {IDEMPOTENCY_ROUNDS} rounds (`Retry-After`); a retry of a committed request "
            "replays its answer."
        )
        reasons[422].append("This `Idempotency-Key` was already used with a different body.")
        reasons[503].append("The idempotency record could not be stored; retry with the same key.")
    if limited and window.rate_limit is not None:
        rl = window.rate_limit
        reasons[429].append(
            f"Over the limit of {rl.limit} requests per {rl.window} s for this citizen (`Retry-After` "
            "says when to retry), or over API Gateway's aggregate throttle."
        )
    else:
        reasons[429].append("Over API Gateway's aggregate throttle (all callers together).")
    reasons[500].append("An unexpected error; it has been logged.")
    reasons[502].append("The window crashed or answered something malformed.")
    reasons[503].append("Storage is unavailable, or the window is (re)starting; retry shortly.")
    reasons[504].append(f"The window did not answer within its {window.timeout} s timeout.")
    for status, text in op.errors.items():
        reasons[status].append(text)
    return reasons


def _responses(window: Window, route: Route, op: Operation, limited: bool, body_ref: Any) -> dict[str, Any]:
    success: dict[str, Any] = {"description": op.response_description or HTTPStatus(op.status).phrase + "."}
    headers: dict[str, Any] = {}
    if op.location:
        headers["Location"] = {
            "description": op.location,
            "required": True,
            "schema": {"type": "string", "format": "uri-reference"},
        }
    for name, header in op.headers.items():
        headers[name] = {
            "description": header.description,
            "required": header.required,
            "schema": dict(header.schema),
        }
    if limited:
        for name in RATE_LIMIT_HEADERS:
            headers[name] = _ref("headers", name)
    if headers:
        success["headers"] = headers
    if body_ref is not None:
        success["content"] = {"application/json": {"schema": body_ref}}
    responses: dict[str, Any] = {str(op.status): success}
    for status, texts in sorted(_error_reasons(window, route, op, limited).items()):
        description = " ".join(texts)
        if status == 429 and not limited:
            responses["429"] = {"$ref": "#/components/responses/Throttled", "description": description}
        elif status in ERROR_RESPONSES:
            responses[str(status)] = {
                "$ref": f"#/components/responses/{ERROR_RESPONSES[status]}",
                "description": description,
            }
        else:
            responses[str(status)] = _error_response(description)
    return responses


def _check(route: Route, op: Operation, query_names: set[str]) -> list[str]:
    problems = []
    if not _OPERATION_ID.match(op.operation_id or ""):
        problems.append(f"operation_id {op.operation_id!r} is not an identifier")
    if not op.summary:
        problems.append("summary is empty")
    if not 200 <= op.status <= 399:
        problems.append(f"status {op.status} is not a success status (2xx or 3xx)")
    if op.media_type not in (JSON, FORM):
        problems.append(f"media_type {op.media_type!r} is neither {JSON} nor {FORM}")
    if op.request is not None and not _is_model(op.request):
        problems.append("request must be a pydantic model class")
    if op.response is not None and not (_is_model(op.response) or isinstance(op.response, Schema)):
        problems.append("response must be a pydantic model class or an hmskit.apidoc.Schema")
    if op.request is None and (op.examples or op.encoding or op.media_type != JSON):
        problems.append("examples, encoding and media_type describe a request body, and there is none")
    if op.encoding and op.media_type != FORM:
        problems.append(f"encoding applies to {FORM} bodies only")
    path_names = set(_PARAM.findall(route.path))
    unknown = sorted(set(op.params) - path_names - query_names)
    if unknown:
        problems.append(f"params describes {', '.join(unknown)}: neither in the path nor in the query")
    clash = sorted(path_names & query_names)
    if clash:
        problems.append(f"query parameters {', '.join(clash)} shadow path parameters")
    bad = sorted(s for s in op.errors if not 400 <= s <= 599)
    if bad:
        problems.append(f"errors has statuses that are not errors: {bad}")
    return problems


def _operation_object(
    window: Window, route: Route, op: Operation, schemas: _WindowSchemas, problems: list[str]
) -> dict[str, Any]:
    query, query_names = _query_parameters(op, problems)
    problems.extend(_check(route, op, query_names))
    limited = route.rate_limited and window.rate_limit is not None
    parameters = [*_path_parameters(route.path, op), *query]
    if op.idempotent:
        parameters.append(_ref("parameters", "IdempotencyKey"))
    description = "\n\n".join(
        part
        for part in (op.description, f"{_scopes_sentence(route)} {_rate_sentence(window, route)}")
        if part
    )
    out: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "description": description,
        "tags": [window.name],
        "security": _security(route),
        "x-hms-window": window.name,
    }
    if limited and window.rate_limit is not None:
        out["x-hms-rate-limit"] = {"limit": window.rate_limit.limit, "window": window.rate_limit.window}
    if parameters:
        out["parameters"] = parameters
    if _is_model(op.request):
        media: dict[str, Any] = {"schema": schemas.refs[(op.request, "validation")]}
        if op.examples:
            media["examples"] = {name: {"value": value} for name, value in op.examples.items()}
        if op.encoding:
            media["encoding"] = {part: {"contentType": ctype} for part, ctype in op.encoding.items()}
        out["requestBody"] = {"required": True, "content": {op.media_type: media}}
    body_ref = schemas.refs.get(_body_key(op.response, "serialization")) if op.response is not None else None
    out["responses"] = _responses(window, route, op, limited, body_ref)
    return out


# -- the document -----------------------------------------------------------------------------------------


def documented_routes(window: Window, contract: WindowContract) -> tuple[Route, ...]:
    """The routes a window's operations document: the manifest's own, and under a proxy manifest (the
    seed's shape, no ``routes:`` list: API Gateway sees only ``ANY <prefix>/{proxy+}``) each operation
    the window declares within that prefix, with the manifest's scopes and the operation's rate limit."""
    greedy = "/{proxy+}"
    proxies = {
        r.path.removesuffix(greedy): r for r in window.routes if r.method == "ANY" and r.path.endswith(greedy)
    }
    if not proxies:
        return window.routes
    out = [r for r in window.routes if not (r.method == "ANY" and r.path.removesuffix(greedy) in proxies)]
    exact = {(r.method, r.path) for r in out}
    for key, op in contract.operations.items():
        if not (isinstance(key, tuple) and len(key) == 2 and all(isinstance(k, str) for k in key)):
            continue
        method, path = key
        prefix = next((p for p in proxies if path == p or path.startswith(p + "/")), None)
        if key in exact or prefix is None:
            continue  # a manifest route, or outside every prefix (reported as "no such route")
        proxy = proxies[prefix]
        limited = op.rate_limited if isinstance(op, Operation) else True
        out.append(Route(method, path, proxy.scopes, proxy.authorized, limited))
    return tuple(out)


def build_document(
    platform: Platform, contracts: Mapping[str, WindowContract], *, version: str
) -> dict[str, Any]:
    """The OpenAPI 3.1 document; ``ManifestErrors`` listing every problem, if any."""
    errors: list[ManifestError] = []
    local: dict[str, dict[str, dict[str, Any]]] = {}
    operations: dict[str, list[tuple[Route, dict[str, Any]]]] = {}
    operation_ids: dict[str, str] = {}
    tags = []
    for w in platform.windows:
        contract = contracts.get(w.name)
        file = contract.file if contract and contract.file else contract_file(w)
        if contract is None:
            errors.append(ManifestError(file, "(file)", "missing: no HTTP contract for this window"))
            continue
        tags.append({"name": w.name, "description": contract.description or f"The {w.name} window."})
        documented = documented_routes(w, contract)
        routes = {(r.method, r.path): r for r in documented}
        for key in contract.operations:
            if key not in routes:
                errors.append(
                    ManifestError(
                        file,
                        f"OPERATIONS[{key!r}]",
                        f"{w.manifest_file} has no such route; keys are (method, path) as the manifest "
                        "writes them",
                    )
                )
        declared: list[tuple[Route, Operation]] = []
        for r in documented:
            op = contract.operations.get((r.method, r.path))
            if op is None:
                errors.append(
                    ManifestError(
                        file,
                        "OPERATIONS",
                        f"no Operation for the route {r.method} {r.path} of {w.manifest_file}: every "
                        "manifest route declares its HTTP contract (hmskit.apidoc.Operation)",
                    )
                )
            elif not isinstance(op, Operation):
                errors.append(
                    ManifestError(
                        file, f"OPERATIONS[{(r.method, r.path)!r}]", "not an hmskit.apidoc.Operation"
                    )
                )
            else:
                declared.append((r, op))
        problems: list[str] = []
        schemas = _window_schemas([op for _, op in declared], problems)
        errors.extend(ManifestError(file, "OPERATIONS", p) for p in problems)
        local[w.name] = schemas.defs
        built = []
        for r, op in declared:
            problems = []
            obj = _operation_object(w, r, op, schemas, problems)
            where = f"OPERATIONS[{(r.method, r.path)!r}]"
            errors.extend(ManifestError(file, where, p) for p in problems)
            other = operation_ids.setdefault(op.operation_id, f"{w.name} {r.key}")
            if other != f"{w.name} {r.key}":
                errors.append(
                    ManifestError(file, where, f"operation_id {op.operation_id!r} is also {other}'s")
                )
            built.append((r, obj))
        operations[w.name] = built
    titles = {w.name: w.title for w in platform.windows}
    problems = []
    merged, rename = _merge(local, titles, problems)
    errors.extend(ManifestError("(all windows)", "components.schemas", p) for p in problems)
    if errors:
        raise ManifestErrors(errors)

    paths: dict[str, dict[str, Any]] = {}
    for window_name, built in operations.items():
        for r, obj in built:
            key = ANY_METHOD if r.method == "ANY" else r.method.lower()
            paths.setdefault(r.path, {})[key] = _walk_refs(obj, rename[window_name])
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "HMS service windows",
            "summary": "Payments, documents, passport renewals, eligibility and notifications.",
            "version": version,
            "description": INFO_DESCRIPTION,
        },
        "servers": SERVERS,
        "tags": sorted(tags, key=lambda t: t["name"]),
        "paths": paths,
        "components": {
            "schemas": {**merged, **PLATFORM_SCHEMAS},
            "responses": RESPONSES,
            "headers": HEADERS,
            "parameters": PARAMETERS,
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


def dumps(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def render_openapi(platform: Platform) -> dict[Path, str]:
    """``docs/openapi.json`` and its content, from the platform and the windows' contracts."""
    document = build_document(platform, load_contracts(platform), version=project_version(platform.root))
    return {platform.root / OPENAPI_FILE: dumps(document)}
