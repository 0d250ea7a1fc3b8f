"""docs/openapi.json: regenerated without drift, a valid OpenAPI 3.1 document, exactly the manifests'
routes with their scopes, every route declared by its window, and what the handlers really answer
(called through their in-memory fakes) valid against what the document says."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import images
import pytest
from helpers import ROOT, http_event
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ValidationError, create_model
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from support.kit import FakeClock, InMemoryCounter

from hms.apigw import build_v1_event
from hms.manifest import ManifestErrors
from hms.model import Platform, Route, load_platform
from hms.openapi import (
    ANY_METHOD,
    OPENAPI_FILE,
    SCHEME,
    WindowContract,
    build_document,
    load_contracts,
    render_openapi,
)
from hmskit.apidoc import Operation, health
from hmskit.context import LocalContext
from hmskit.cursors import CURSOR_PATTERN
from hmskit.idempotency import Idempotency
from hmskit.ratelimit import FixedWindowRateLimiter
from hmskit.settings import RateLimit, WindowSettings

DOC_URI = "urn:hms:openapi"
NOW = 1_781_512_200.0  # 2026-06-15 08:30 UTC: the eligibility example is allowed on that day
JPEG = images.PASSPORT_PHOTO  # uploaded as kind=photo: it meets the passport photo rules
BOUNDARY = "----hms-openapi-boundary"


@pytest.fixture(scope="module")
def platform() -> Platform:
    return load_platform(ROOT)


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return json.loads((ROOT / OPENAPI_FILE).read_text())


# -- helpers -------------------------------------------------------------------------------------------


def resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """``node``, or what its ``$ref`` (``#/...`` in this document) points at."""
    while "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def validator(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """A JSON Schema 2020-12 validator for ``schema``, its references resolved in the document."""
    registry: Registry[Any] = Registry().with_resource(
        DOC_URI, Resource.from_contents(document, default_specification=DRAFT202012)
    )
    root = {"$ref": DOC_URI + schema["$ref"]} if "$ref" in schema else schema
    return Draft202012Validator(root, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER)


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for path, item in document["paths"].items():
        for key, op in item.items():
            out[("ANY" if key == ANY_METHOD else key.upper(), path)] = op
    return out


def request_media(op: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    ((media_type, media),) = op["requestBody"]["content"].items()
    return media_type, media


def minimal(document: dict[str, Any], schema: dict[str, Any], value: Any) -> Any:
    """``value`` with only what ``schema`` requires, at every level."""
    schema = resolve(document, schema)
    if not isinstance(value, dict) or "properties" not in schema:
        return value
    required = set(schema.get("required", ()))
    return {
        key: minimal(document, schema["properties"][key], item)
        for key, item in value.items()
        if key in required
    }


def check_answer(
    document: dict[str, Any], method: str, path: str, result: dict[str, Any], *, exact: bool = True
) -> Any:
    """``result`` (what a handler returned) is documented: status, content type, body, headers."""
    op = operations(document)[(method, path)]
    status = str(result["statusCode"])
    assert status in op["responses"], f"{method} {path} answered {status}: not documented ({result['body']})"
    response = resolve(document, op["responses"][status])
    headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
    ctype = str(headers.get("content-type", "")).split(";")[0]
    assert ctype in response.get("content", {}), f"{method} {path} {status} answered {ctype}"
    body = json.loads(result["body"])
    schema = response["content"][ctype]["schema"]
    validator(document, schema).validate(body)
    if exact:  # every documented field is there, and nothing else
        properties = resolve(document, schema)["properties"]
        assert set(body) == set(properties), f"{method} {path}: {set(body) ^ set(properties)}"
    for name, header in response.get("headers", {}).items():
        # required ones always; the rate-limit headers on every success of a counted route
        if resolve(document, header).get("required") or (status < "400" and name.startswith("X-RateLimit")):
            assert name.lower() in headers, f"{method} {path} {status} lacks the documented header {name}"
    return body


def limiter(clock: FakeClock, limit: int = 30) -> FixedWindowRateLimiter:
    return FixedWindowRateLimiter(InMemoryCounter(), RateLimit(limit=limit, window=60), clock)


def settings(window: str, limit: int = 30, **kw: Any) -> WindowSettings:
    return WindowSettings(window=window, table_name="unused", rate_limit=RateLimit(limit, 60), **kw)


# -- the committed file --------------------------------------------------------------------------------


def test_committed_openapi_matches_the_manifests_and_the_contracts(platform: Platform) -> None:
    ((path, content),) = render_openapi(platform).items()
    assert path == ROOT / OPENAPI_FILE
    assert path.exists(), f"{OPENAPI_FILE} is missing: run `make template`"
    assert path.read_text() == content, f"{OPENAPI_FILE} drifted: run `make template`"


def copy_project(tmp_path: Path) -> Path:
    for name in ("routes", "functions", "events", "layers", "docs"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("template.yaml", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def hms_template_check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hms.cli", "--root", str(root), "template", "--check"],
        capture_output=True,
        text=True,
    )


def test_hms_template_check_reports_a_stale_openapi_document(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    doc = root / OPENAPI_FILE
    doc.write_text(doc.read_text().replace('"createPayment"', '"makePayment"', 1))

    out = hms_template_check(root)

    assert out.returncode == 1
    assert f"{OPENAPI_FILE} (committed)" in out.stdout
    assert '-        "operationId": "makePayment"' in out.stdout
    assert "template.yaml (committed)" not in out.stdout  # only the stale file is reported


def test_hms_template_refuses_a_route_without_an_operation_naming_it(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    contract = root / "functions/payments/payments/api_contract.py"
    contract.write_text(contract.read_text() + '\ndel OPERATIONS[("GET", f"{BASE}/{{id}}")]\n')

    out = hms_template_check(root)

    assert out.returncode == 2
    assert "nothing generated" in out.stderr
    assert "functions/payments/payments/api_contract.py: OPERATIONS: no Operation for the route" in out.stderr
    assert "GET /api/v1/payments/{id} of routes/payments.yaml" in out.stderr


# -- a valid OpenAPI 3.1 document ------------------------------------------------------------------------


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    from openapi_spec_validator import validate

    validate(document)
    assert document["openapi"] == "3.1.0"
    assert document["info"]["version"] == "0.1.0"  # pyproject.toml's
    assert [s["url"] for s in document["servers"]] == [
        "https://{api-id}.execute-api.{region}.amazonaws.com",
        "http://127.0.0.1:3000",
    ]


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    found = set(refs(document))
    assert found, "the document uses no references at all"
    for ref in sorted(found):
        assert ref.startswith("#/"), ref
        resolve(document, {"$ref": ref})  # raises KeyError when dangling


def test_every_path_parameter_is_declared(document: dict[str, Any]) -> None:
    for (method, path), op in operations(document).items():
        in_path = set(re.findall(r"\{([^}]+)\}", path))
        declared = [resolve(document, p) for p in op.get("parameters", [])]
        assert {p["name"] for p in declared if p["in"] == "path"} == in_path, f"{method} {path}"
        assert all(p["required"] for p in declared if p["in"] == "path"), f"{method} {path}"


def test_every_manifest_route_is_an_operation_with_its_scopes_and_nothing_else(
    platform: Platform, document: dict[str, Any]
) -> None:
    documented = operations(document)
    expected = {(r.method, r.path): (w, r) for w in platform.windows for r in w.routes}
    assert set(documented) == set(expected)
    for key, (w, r) in expected.items():
        op = documented[key]
        if not r.authorized:
            assert op["security"] == [], key
        elif not r.scopes:
            assert op["security"] == [{SCHEME: []}], key
        else:  # any-of: one requirement per scope
            assert op["security"] == [{SCHEME: [scope]} for scope in r.scopes], key
        assert op["tags"] == [w.name] and op["x-hms-window"] == w.name
        limited = r.rate_limited and w.rate_limit is not None
        assert ("x-hms-rate-limit" in op) == limited, key
        success = next(s for s in op["responses"] if s < "400")
        headers = op["responses"][success].get("headers", {})
        assert ("X-RateLimit-Remaining" in headers) == limited, key
        rate_limited_429 = op["responses"]["429"]["$ref"].endswith("/TooManyRequests")
        assert rate_limited_429 == limited, key
        assert ("401" in op["responses"]) == r.authorized, key
        assert ("403" in op["responses"]) == bool(r.authorized and r.scopes), key


def test_every_window_route_declares_an_operation(platform: Platform) -> None:
    contracts = load_contracts(platform)
    for w in platform.windows:
        declared = set(contracts[w.name].operations)
        routes = {(r.method, r.path) for r in w.routes}
        assert routes - declared == set(), (
            f"{w.manifest_file} routes {sorted(routes - declared)} with no Operation in "
            f"functions/{w.name}/{w.name}/api_contract.py OPERATIONS"
        )
        assert declared - routes == set(), f"{w.name} declares operations for routes it does not have"


def test_a_route_without_an_operation_is_refused_with_the_file_and_the_route(platform: Platform) -> None:
    contracts = load_contracts(platform)
    ops = dict(contracts["passport"].operations)
    del ops[("GET", "/api/v1/renewals/{id}")]
    ops[("DELETE", "/api/v1/renewals/{id}")] = health("passport")
    broken = {**contracts, "passport": replace(contracts["passport"], operations=ops)}

    with pytest.raises(ManifestErrors) as info:
        build_document(platform, broken, version="0")

    message = str(info.value)
    assert "functions/passport/passport/api_contract.py" in message
    assert "no Operation for the route GET /api/v1/renewals/{id} of routes/passport.yaml" in message
    assert (
        "OPERATIONS[('DELETE', '/api/v1/renewals/{id}')]: routes/passport.yaml has no such route" in message
    )


def test_the_idempotency_key_parameter_is_the_kits(document: dict[str, Any]) -> None:
    from hmskit.idempotency import _KEY

    param = document["components"]["parameters"]["IdempotencyKey"]
    assert param["name"].lower() == "idempotency-key" and param["in"] == "header"
    assert param["schema"]["pattern"] == _KEY.pattern
    idempotent = {
        k
        for k, op in operations(document).items()
        if {"$ref": "#/components/parameters/IdempotencyKey"} in op.get("parameters", [])
    }
    assert idempotent == {
        ("POST", "/api/v1/payments"),
        ("POST", "/api/v2/payments"),
        ("POST", "/api/v1/docs"),
        ("POST", "/api/v1/docs/uploads"),
        ("POST", "/api/v1/renewals"),
    }


def test_the_passport_list_query_is_what_the_handler_parses(document: dict[str, Any]) -> None:
    from passport import handler

    params = {p["name"]: p["schema"] for p in operations(document)[("GET", "/api/v1/renewals")]["parameters"]}
    assert params["limit"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": handler.MAX_LIMIT,
        "default": handler.DEFAULT_LIMIT,
    }
    assert params["cursor"] == {
        "type": "string",
        "maxLength": handler.MAX_CURSOR,
        "pattern": CURSOR_PATTERN,
    }


# -- request bodies ------------------------------------------------------------------------------------------


def bodies(platform: Platform) -> list[tuple[str, Any]]:
    """(route, request model) for every operation with a request body."""
    contracts = load_contracts(platform)
    return [
        (f"{m} {p}", op.request)
        for w in platform.windows
        for (m, p), op in contracts[w.name].operations.items()
        if op.request is not None
    ]


BODIES = bodies(load_platform(ROOT))


def test_every_post_documents_a_request_body_with_examples(document: dict[str, Any]) -> None:
    posts = [(k, op) for k, op in operations(document).items() if k[0] == "POST"]
    with_body = {f"{m} {p}" for (m, p), op in posts if "requestBody" in op}
    assert with_body == {route for route, _ in BODIES}
    for route in with_body:
        method, path = route.split(" ", 1)
        _, media = request_media(operations(document)[(method, path)])
        assert media["examples"], f"{route} has no request example"


@pytest.mark.parametrize(("route", "model"), BODIES, ids=[b[0] for b in BODIES])
def test_request_examples_and_minimal_bodies_fit_both_the_schema_and_the_model(
    document: dict[str, Any], route: str, model: type[BaseModel]
) -> None:
    method, path = route.split(" ", 1)
    _, media = request_media(operations(document)[(method, path)])
    check = validator(document, media["schema"])
    for name, example in media["examples"].items():
        for body in (example["value"], minimal(document, media["schema"], example["value"])):
            check.validate(body)
            model.model_validate_json(json.dumps(body))  # the window's own parser accepts it
        # an unknown field: the schema refuses it exactly when the model does (extra="forbid")
        unknown = {**example["value"], "unexpected_field": "x"}
        try:
            model.model_validate_json(json.dumps(unknown))
            model_refuses = False
        except ValidationError:
            model_refuses = True
        assert check.is_valid(unknown) != model_refuses, f"{route} example {name!r}: unknown fields"
    assert not check.is_valid({}), f"{route}: an empty body is valid; the schema says nothing"


# -- what the handlers answer ------------------------------------------------------------------------------


def example(document: dict[str, Any], method: str, path: str) -> Any:
    _, media = request_media(operations(document)[(method, path)])
    return next(iter(media["examples"].values()))["value"]


def test_payments_answers_are_documented(document: dict[str, Any]) -> None:
    from support.payments import InMemoryPaymentRepository

    from payments.bootstrap import Deps
    from payments.handler import handle

    clock = FakeClock(NOW)
    deps = Deps(
        settings=settings("payments"),
        payments=InMemoryPaymentRepository(),
        rate_limiter=limiter(clock),
        idempotency=Idempotency(None, "unused", ttl_seconds=60, scope="payments"),
        clock=clock,
    )
    base = "/api/v1/payments"

    def call(method: str, path: str, route: str | None = None, **kw: Any) -> dict[str, Any]:
        return handle(
            http_event(method, path, route=route, scopes=["payments.write"], **kw), LocalContext(), deps
        )

    created = check_answer(document, "POST", base, call("POST", base, body=example(document, "POST", base)))
    one = call("GET", f"{base}/{created['id']}", route=f"{base}/{{id}}")
    assert check_answer(document, "GET", f"{base}/{{id}}", one) == created
    page = check_answer(document, "GET", base, call("GET", base, query="limit=1"))
    assert page["items"] == [created]
    check_answer(document, "GET", f"{base}/health", call("GET", f"{base}/health"))
    # errors are problem+json as documented
    check_answer(
        document,
        "POST",
        base,
        call("POST", base, body='{"amount": 12.5}', content_type="application/json"),
        exact=False,
    )
    check_answer(
        document, "GET", f"{base}/{{id}}", call("GET", f"{base}/NOPE", route=f"{base}/{{id}}"), exact=False
    )
    check_answer(document, "GET", base, call("GET", base, query="limit=0"), exact=False)
    check_answer(document, "POST", base, call("POST", base, body="x", content_type="text/plain"), exact=False)


def test_a_rate_limited_answer_is_documented_with_its_headers(document: dict[str, Any]) -> None:
    from support.payments import InMemoryPaymentRepository

    from payments.bootstrap import Deps
    from payments.handler import handle

    clock = FakeClock(NOW)
    deps = Deps(
        settings=settings("payments", limit=1),
        payments=InMemoryPaymentRepository(),
        rate_limiter=limiter(clock, limit=1),
        idempotency=Idempotency(None, "unused", ttl_seconds=60, scope="payments"),
        clock=clock,
    )
    event = http_event("GET", "/api/v1/payments", scopes=["payments.read"])
    assert handle(event, LocalContext(), deps)["statusCode"] == 200

    limited = handle(event, LocalContext(), deps)

    problem = check_answer(document, "GET", "/api/v1/payments", limited, exact=False)
    assert problem["status"] == 429 and "retry-after" in {k.lower() for k in limited["headers"]}


def test_passport_answers_are_documented(document: dict[str, Any]) -> None:
    from support.passport import InMemoryRenewalRepository

    from hmskit.a2a import A2AResponse
    from hmskit.ids import new_id
    from hmskit.outbox import Outbox
    from hmskit.store import TableStore
    from passport.adapters import A2AEligibility
    from passport.bootstrap import Deps
    from passport.handler import handle

    class FakeA2A:
        answer: Any = {"allowed": True, "reasons": [], "checked_on": "2026-06-15"}

        def call(self, window: str, method: str, path: str, **kw: Any) -> A2AResponse:
            return A2AResponse(200, {"content-type": "application/json"}, self.answer)

    clock, a2a = FakeClock(NOW), FakeA2A()
    deps = Deps(
        settings=settings("passport", max_body_bytes=4096),
        renewals=InMemoryRenewalRepository(),
        eligibility=A2AEligibility(lambda: a2a),
        events=Outbox(TableStore(None, "unused"), window="passport", new_id=lambda: new_id(), now=clock.now),
        rate_limiter=limiter(clock),
        idempotency=Idempotency(None, "unused", ttl_seconds=60, scope="passport"),
        dedupe_factory=lambda: pytest.fail("no events here"),
        clock=clock,
    )
    base = "/api/v1/renewals"

    def call(method: str, path: str, route: str | None = None, **kw: Any) -> dict[str, Any]:
        event = http_event(
            method, path, route=route, scopes=["renewals.write"], headers={"authorization": "Bearer t"}, **kw
        )
        return handle(event, LocalContext(), deps)

    submitted = check_answer(document, "POST", base, call("POST", base, body=example(document, "POST", base)))
    assert submitted["status"] == "submitted"
    one = call("GET", f"{base}/{submitted['id']}", route=f"{base}/{{id}}")
    assert check_answer(document, "GET", f"{base}/{{id}}", one) == submitted
    assert check_answer(document, "GET", base, call("GET", base))["items"] == [submitted]
    check_answer(document, "GET", f"{base}/health", call("GET", f"{base}/health"))
    # a refusal: 403 with the reasons extension
    a2a.answer = {
        "allowed": False,
        "reasons": [{"code": "UNDER_16", "message": "too young"}],
        "checked_on": "2026-06-15",
    }
    refused = check_answer(
        document, "POST", base, call("POST", base, body=example(document, "POST", base)), exact=False
    )
    assert refused["reasons"] == [{"code": "UNDER_16", "message": "too young"}]
    invalid = call("POST", base, body={**example(document, "POST", base), "pasport_number": "X"})
    assert check_answer(document, "POST", base, invalid, exact=False)["errors"]


def test_documents_answers_are_documented(document: dict[str, Any]) -> None:
    from support.documents import InMemoryDocumentRepository, InMemoryObjectStore

    from documents.bootstrap import Deps, window_settings
    from documents.domain import Limits
    from documents.handler import handle

    clock, limits = FakeClock(NOW), Limits()
    objects = InMemoryObjectStore(bucket="docs-bucket")
    deps = Deps(
        settings=window_settings(settings("documents", bucket_name="docs-bucket"), limits),
        documents=InMemoryDocumentRepository(),
        objects=objects,
        rate_limiter=limiter(clock),
        idempotency=Idempotency(None, "unused", ttl_seconds=60, scope="documents"),
        limits=limits,
        clock=clock,
    )
    base = "/api/v1/docs"

    def call(method: str, path: str, route: str | None = None, **kw: Any) -> dict[str, Any]:
        return handle(
            http_event(method, path, route=route, scopes=["docs.write"], **kw), LocalContext(), deps
        )

    form = (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="kind"\r\n\r\nphoto\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="me.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + JPEG
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    uploaded = call("POST", base, body=form, content_type=f"multipart/form-data; boundary={BOUNDARY}")
    doc = check_answer(document, "POST", base, uploaded)
    one = call("GET", f"{base}/{doc['id']}", route=f"{base}/{{id}}")
    assert check_answer(document, "GET", f"{base}/{{id}}", one) == doc
    content = call("GET", f"{base}/{doc['id']}/content", route=f"{base}/{{id}}/content")
    check_answer(document, "GET", f"{base}/{{id}}/content", content)
    # the presigned flow
    started = check_answer(
        document,
        "POST",
        f"{base}/uploads",
        call("POST", f"{base}/uploads", body={"content_type": "image/jpeg", "size": len(JPEG)}),
    )
    pending = call("GET", f"{base}/{started['id']}/content", route=f"{base}/{{id}}/content")
    assert check_answer(document, "GET", f"{base}/{{id}}/content", pending, exact=False)["status"] == 409
    objects.stage(started["id"], JPEG)
    done = call("POST", f"{base}/uploads/{started['id']}/complete", route=f"{base}/uploads/{{id}}/complete")
    assert check_answer(document, "POST", f"{base}/uploads/{{id}}/complete", done)["status"] == "available"
    check_answer(document, "GET", f"{base}/health", call("GET", f"{base}/health"))
    exe = form.replace(JPEG, b"MZ" + b"\x00" * 64)
    refused = call("POST", base, body=exe, content_type=f"multipart/form-data; boundary={BOUNDARY}")
    assert check_answer(document, "POST", base, refused, exact=False)["status"] == 415


@pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")
def test_eligibility_answers_are_documented(document: dict[str, Any]) -> None:
    from eligibility import bootstrap
    from eligibility.app import handle

    clock = FakeClock(NOW)
    deps = bootstrap.build(
        settings("eligibility", max_body_bytes=2048), counter=InMemoryCounter(), clock=clock
    )
    base = "/api/v1/eligibility"

    def call(method: str, path: str, **kw: Any) -> dict[str, Any]:
        v1 = build_v1_event(http_event(method, path, scopes=["eligibility.check"], **kw), resource=path)
        return handle(v1, LocalContext(), deps)

    decision = check_answer(
        document,
        "POST",
        f"{base}/check",
        call("POST", f"{base}/check", body=example(document, "POST", f"{base}/check")),
    )
    assert decision == {"allowed": True, "reasons": [], "checked_on": "2026-06-15"}
    refused = {**example(document, "POST", f"{base}/check"), "passport_damaged": True}
    assert check_answer(document, "POST", f"{base}/check", call("POST", f"{base}/check", body=refused))[
        "reasons"
    ]
    contradictory = {**refused, "passport_expires_on": "2010-01-01"}
    check_answer(
        document, "POST", f"{base}/check", call("POST", f"{base}/check", body=contradictory), exact=False
    )
    check_answer(document, "GET", f"{base}/health", call("GET", f"{base}/health"))


def test_notifications_answers_are_documented(document: dict[str, Any]) -> None:
    from support.notifications import InMemoryMailer, InMemoryNotificationRepository

    from hmskit.consumer import InMemoryDeduplicator
    from notifications import domain
    from notifications.bootstrap import Deps
    from notifications.handler import handle

    clock = FakeClock(NOW)
    deps = Deps(
        settings=settings("notifications", email_sender="hms@example.gov"),
        notifications=InMemoryNotificationRepository(),
        mailer=InMemoryMailer(),
        dedupe=InMemoryDeduplicator(),
        rate_limiter=limiter(clock),
        clock=clock,
    )
    cause = domain.Cause(
        event_id="E-1",
        type="RenewalSubmitted",
        owner="alice",
        occurred_ms=int(NOW * 1000),
        renewal_id="R-1",
        email="alice@example.org",
        correlation_id="req-1",
    )
    letter = domain.Letter(subject="Your renewal", text="text", html="<p>html</p>")
    domain.notify(cause, letter, repo=deps.notifications, mailer=deps.mailer, now_iso=deps.now_iso)
    base = "/api/v1/notifications"

    def call(method: str, path: str, **kw: Any) -> dict[str, Any]:
        return handle(http_event(method, path, scopes=["notifications.read"], **kw), LocalContext(), deps)

    page = check_answer(document, "GET", base, call("GET", base))
    assert [n["event_id"] for n in page["items"]] == ["E-1"] and page["items"][0][
        "recipient"
    ] == "a***@example.org"
    check_answer(document, "GET", base, call("GET", base, query="cursor=bogus"), exact=False)
    check_answer(document, "GET", f"{base}/health", call("GET", f"{base}/health"))


# -- the generator on plain dicts ---------------------------------------------------------------------------


class Receipt(BaseModel):
    number: int


def test_equal_schemas_are_shared_and_a_name_two_windows_use_differently_is_qualified(
    platform: Platform,
) -> None:
    payments = platform.window("payments")
    base = "/api/v1/billing"
    billing = replace(
        payments,
        name="billing",
        prefix=base,
        uri=f"{base}/**",
        routes=(
            Route("GET", base, ("billing.read",), True, True),
            Route("GET", f"{base}/health", (), True, False),
        ),
    )
    other_receipt = create_model("Receipt", text=(str, ...))
    two = replace(platform, windows=(billing, replace(payments, routes=payments.routes[1:2])))
    contracts = {
        "billing": WindowContract(
            {
                ("GET", base): Operation("billingReceipt", "a receipt", response=other_receipt),
                ("GET", f"{base}/health"): health("billing"),
            }
        ),
        "payments": WindowContract(
            {("GET", "/api/v1/payments"): Operation("paymentReceipt", "a receipt", response=Receipt)}
        ),
    }

    document = build_document(two, contracts, version="1")

    schemas = document["components"]["schemas"]
    assert {"BillingReceipt", "PaymentsReceipt", "Health"} <= set(schemas) and "Receipt" not in schemas
    ok = document["paths"][base]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/BillingReceipt"}
    assert schemas["BillingReceipt"]["required"] == ["text"]


def test_a_proxy_window_is_documented_as_api_gateway_any_routes(platform: Platform) -> None:
    from openapi_spec_validator import validate

    payments = platform.window("payments")
    proxy = replace(
        payments,
        proxy=True,
        routes=(
            Route("ANY", payments.prefix, payments.scopes, True, True),
            Route("ANY", f"{payments.prefix}/{{proxy+}}", payments.scopes, True, True),
        ),
    )
    contracts = {
        "payments": WindowContract(
            {
                ("ANY", payments.prefix): Operation("paymentsRoot", "anything"),
                ("ANY", f"{payments.prefix}/{{proxy+}}"): Operation("paymentsAnything", "anything below"),
            }
        )
    }

    document = build_document(replace(platform, windows=(proxy,)), contracts, version="1")

    validate(document)
    below = document["paths"]["/api/v1/payments/{proxy+}"][ANY_METHOD]
    assert [p["name"] for p in below["parameters"]] == ["proxy+"]
    assert below["security"] == [{SCHEME: ["payments.write"]}, {SCHEME: ["payments.read"]}]
