"""The document from the platform model and the windows' contracts: per route an operation (its
parameters, security, responses and errors), every body's schema merged into one set of components."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from hms.manifest import ManifestError, ManifestErrors
from hms.model import Platform, Route, Window
from hms.openapi.common import (
    ANY_METHOD,
    ERROR_RESPONSES,
    GATEWAY_MAX_BODY_MB,
    HEADERS,
    INFO_DESCRIPTION,
    PARAMETERS,
    PLATFORM_SCHEMAS,
    RATE_LIMIT_HEADERS,
    RESPONSES,
    SCHEMAS,
    SCHEME,
    SECURITY_SCHEMES,
    SERVERS,
    error_response,
    ref,
)
from hms.openapi.contracts import WindowContract, contract_file
from hmskit.apidoc import FORM, JSON, Operation, Schema
from hmskit.idempotency import MAX_ROUNDS as IDEMPOTENCY_ROUNDS

_PARAM = re.compile(r"\{([^}]+)\}")
_OPERATION_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


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
            headers[name] = ref("headers", name)
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
            responses[str(status)] = error_response(description)
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
        parameters.append(ref("parameters", "IdempotencyKey"))
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
