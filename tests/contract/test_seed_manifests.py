"""The seed's manifests exactly as printed (no ``routes:`` list; ``plugins: [auth, rate-limit]``)
generate a valid template and an OpenAPI document in a copy of the project."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import ROOT
from test_template import CFN_LINT, sam_transform

SEED_PAYMENTS = """\
# gateway/routes/payments.yaml
uri: /api/v1/payments/**
upstream: http://hms-svc-payments:8080
plugins:
  - auth:
      scopes: ["payments.write", "payments.read"]
  - rate-limit:
      limit: 30
      window: 60
"""

SEED_DOCS = """\
uri: /api/v1/docs/**
upstream: http://hms-svc-documents:8090
plugins: [auth, rate-limit]
window: {bucket: true}
"""


def seed_project(dest: Path) -> Path:
    for part in ("routes", "functions", "layers", "events"):
        shutil.copytree(ROOT / part, dest / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")
    (dest / "routes" / "payments.yaml").write_text(SEED_PAYMENTS)
    (dest / "routes" / "documents.yaml").write_text(SEED_DOCS)
    return dest


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = seed_project(tmp_path_factory.mktemp("seed"))
    result = subprocess.run(
        [sys.executable, "-m", "hms.cli", "template"], cwd=root, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return root


def http_routes(template: dict[str, Any], function_id: str) -> dict[str, dict[str, Any]]:
    events = template["Resources"][function_id]["Properties"]["Events"]
    return {
        f"{e['Properties']['Method']} {e['Properties']['Path']}": e["Properties"]
        for e in events.values()
        if e["Type"] == "HttpApi"
    }


def plain_scopes(auth: dict[str, Any]) -> list[str]:
    """``AuthorizationScopes`` as the manifest writes them (the template picks hms/<scope> under Cognito)."""
    return [s["Fn::If"][2] for s in auth.get("AuthorizationScopes", [])]


def test_the_seed_payments_manifest_generates_proxy_routes_with_its_scopes(generated: Path) -> None:
    template = yaml.safe_load((generated / "template.yaml").read_text())

    routes = http_routes(template, "PaymentsFunction")

    v1 = {key: route for key, route in routes.items() if "/api/v1/" in key}
    assert sorted(v1) == ["ANY /api/v1/payments", "ANY /api/v1/payments/{proxy+}"]
    for route in v1.values():
        assert plain_scopes(route["Auth"]) == ["payments.write", "payments.read"]


def test_the_seed_short_form_routes_any_valid_token_with_the_default_rate_limit(generated: Path) -> None:
    template = yaml.safe_load((generated / "template.yaml").read_text())
    function = template["Resources"]["DocumentsFunction"]["Properties"]

    routes = http_routes(template, "DocumentsFunction")

    assert sorted(routes) == ["ANY /api/v1/docs", "ANY /api/v1/docs/{proxy+}"]
    assert all(r["Auth"] == {"Authorizer": "HmsJwt"} for r in routes.values())
    assert function["Environment"]["Variables"]["HMS_RATE_LIMIT"] == "60/60"


def test_the_seed_template_is_cfn_lint_clean_and_transforms_with_sam(generated: Path) -> None:
    lint = subprocess.run([CFN_LINT, str(generated / "template.yaml")], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr

    transformed = sam_transform(yaml.safe_load((generated / "template.yaml").read_text()))

    paths = transformed["Resources"]["HttpApi"]["Properties"]["Body"]["paths"]
    for path in ("/api/v1/payments", "/api/v1/payments/{proxy+}", "/api/v1/docs", "/api/v1/docs/{proxy+}"):
        assert list(paths[path]) == ["x-amazon-apigateway-any-method"]


def test_the_openapi_document_lists_each_declared_operation_under_the_proxied_prefix(
    generated: Path,
) -> None:
    document = json.loads((generated / "docs" / "openapi.json").read_text())
    paths = document["paths"]

    payments = {(m.upper(), p) for p, ops in paths.items() for m in ops if p.startswith("/api/v1/payments")}
    # (routes/payments-v2.yaml, the v2 contract's own manifest, stays beside the seed's)

    assert payments == {
        ("POST", "/api/v1/payments"),
        ("GET", "/api/v1/payments"),
        ("GET", "/api/v1/payments/{id}"),
        ("GET", "/api/v1/payments/health"),
    }
    create = paths["/api/v1/payments"]["post"]
    assert create["security"] == [{"HmsJwt": ["payments.write"]}, {"HmsJwt": ["payments.read"]}]
    assert create["x-hms-rate-limit"] == {"limit": 30, "window": 60}
    assert "x-hms-rate-limit" not in paths["/api/v1/payments/health"]["get"]
    assert paths["/api/v1/docs"]["post"]["security"] == [{"HmsJwt": []}]
    assert not any("{proxy+}" in p for p in paths)
