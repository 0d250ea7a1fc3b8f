"""template.yaml: regenerated without drift, lint-clean, transformable by SAM, least privilege."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from hms.model import Platform, load_platform
from hms.template import render

ROOT = Path(__file__).resolve().parents[2]
CFN_LINT = str(Path(sys.executable).parent / "cfn-lint")


@pytest.fixture(scope="module")
def platform() -> Platform:
    return load_platform(ROOT)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "template.yaml").read_text())


def sam_transform(template: dict[str, Any]) -> dict[str, Any]:
    """The CloudFormation the SAM transform makes of a template, offline (as `sam deploy` would)."""
    from samtranslator.internal.managed_policies import get_bundled_managed_policy_map
    from samtranslator.translator.transform import transform

    class BundledPolicies:
        def load(self) -> dict[str, str]:
            return get_bundled_managed_policy_map("aws") or {}

    packaged = copy.deepcopy(template)
    for resource in packaged["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):  # what `sam package` does: local dirs -> S3 objects
            if key in props:
                props[key] = f"s3://hms-artifacts/{props[key].strip('/')}.zip"
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    result: dict[str, Any] = transform(
        packaged, {"JwtIssuer": "https://issuer.example", "JwtAudience": "hms"}, BundledPolicies()
    )
    return result


@pytest.fixture(scope="module")
def transformed(template: dict[str, Any]) -> dict[str, Any]:
    return sam_transform(template)


def test_committed_template_matches_the_manifests(platform: Platform) -> None:
    committed = (ROOT / "template.yaml").read_text()
    assert committed == render(platform), "template.yaml is stale: run `make template`"


def test_hms_template_check_passes_on_the_committed_tree() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hms.cli", "template", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hms_template_check_prints_the_diff_and_fails_when_stale(tmp_path: Path) -> None:
    import shutil

    project = tmp_path / "p"
    for part in ("routes", "functions", "layers"):
        shutil.copytree(ROOT / part, project / part, ignore=shutil.ignore_patterns("__pycache__"))
    (project / "template.yaml").write_text((ROOT / "template.yaml").read_text() + "# edited\n")
    result = subprocess.run(
        [sys.executable, "-m", "hms.cli", "template", "--check"], cwd=project, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "+++ template.yaml (generated)" in result.stdout
    assert "-# edited" in result.stdout


def test_template_uses_long_form_intrinsics_only() -> None:
    text = (ROOT / "template.yaml").read_text()
    assert "!Ref" not in text and "!GetAtt" not in text and "!Sub" not in text
    assert yaml.safe_load(text)["Transform"] == "AWS::Serverless-2016-10-31"


def test_cfn_lint_is_clean() -> None:
    result = subprocess.run([CFN_LINT, str(ROOT / "template.yaml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_translator_transforms_the_template_and_cfn_lint_accepts_the_result(
    transformed: dict[str, Any], tmp_path: Path
) -> None:
    import json

    types = {r["Type"] for r in transformed["Resources"].values()}
    assert {
        "AWS::ApiGatewayV2::Api",
        "AWS::Lambda::Function",
        "AWS::IAM::Role",
        "AWS::DynamoDB::Table",
    } <= types
    out = tmp_path / "transformed.json"
    out.write_text(json.dumps(transformed))
    result = subprocess.run([CFN_LINT, str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_manifest_route_is_an_api_route_with_its_scopes(
    platform: Platform, transformed: dict[str, Any]
) -> None:
    body = transformed["Resources"]["HttpApi"]["Properties"]["Body"]
    routes = {}
    for path, methods in body["paths"].items():
        for method, op in methods.items():
            key = f"{'ANY' if method == 'x-amazon-apigateway-any-method' else method.upper()} {path}"
            routes[key] = op
    expected = {r.key: (w, r) for w in platform.windows for r in w.routes}
    assert set(routes) == set(expected)
    for key, (w, r) in expected.items():
        op = routes[key]
        security = op.get("security") or [{}]
        if r.authorized:
            # Fn::If [UseCognito, hms/<scope>, <scope>]: with Cognito, then with the external issuer
            for cognito, prefix in ((0, "hms/"), (1, "")):
                scopes = [s["Fn::If"][1 + cognito] for s in security[0]["HmsJwt"]]
                assert scopes == [prefix + s for s in r.scopes], key
        else:
            assert security in ([{}], [{"NONE": []}]), key
        assert f"${{{w.function_id}.Arn}}" in op["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
        assert op["x-amazon-apigateway-integration"]["payloadFormatVersion"] == w.payload_version


def test_jwt_authorizer_issuer_and_audience_are_parameters(template: dict[str, Any]) -> None:
    auth = template["Resources"]["HttpApi"]["Properties"]["Auth"]
    jwt = auth["Authorizers"]["HmsJwt"]["JwtConfiguration"]
    # an external issuer by parameters; else the stack's Cognito user pool (hms.portal_template)
    assert jwt["issuer"]["Fn::If"][2] == {"Ref": "JwtIssuer"}
    assert jwt["audience"]["Fn::If"][2] == {"Ref": "JwtAudience"}
    assert auth["DefaultAuthorizer"] == "HmsJwt"


def test_aggregate_throttle_is_a_stage_default_never_the_per_citizen_rate_limit(
    platform: Platform, template: dict[str, Any]
) -> None:
    props = template["Resources"]["HttpApi"]["Properties"]
    assert props["DefaultRouteSettings"] == {
        "ThrottlingRateLimit": {"Ref": "StageThrottlingRateLimit"},
        "ThrottlingBurstLimit": {"Ref": "StageThrottlingBurstLimit"},
    }
    for w in platform.windows:
        if w.throttle is None:
            for r in w.routes:
                assert r.key not in props.get("RouteSettings", {})
        fn = template["Resources"][w.function_id]["Properties"]
        if w.rate_limit:
            assert fn["Environment"]["Variables"]["HMS_RATE_LIMIT"] == str(w.rate_limit)


def test_functions_are_python312_arm64_with_the_platform_layer(
    platform: Platform, template: dict[str, Any]
) -> None:
    layer = template["Resources"]["PlatformLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Properties"]["ContentUri"] == "layers/"
    for w in platform.windows:
        props = template["Resources"][w.function_id]["Properties"]
        assert props["Runtime"] == "python3.12"
        assert props["Architectures"] == ["arm64"]
        assert props["Layers"] == [{"Ref": "PlatformLayer"}]
        assert (ROOT / props["CodeUri"]).is_dir()
        module, _func = props["Handler"].rsplit(".", 1)
        assert (ROOT / props["CodeUri"] / (module.replace(".", "/") + ".py")).is_file()


def test_tables_are_on_demand_with_ttl_and_point_in_time_recovery(
    platform: Platform, template: dict[str, Any]
) -> None:
    for w in platform.windows:
        table = template["Resources"][w.table_id]
        props = table["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert table["DeletionPolicy"] == "Retain"


def test_document_buckets_are_encrypted_and_never_public(
    platform: Platform, template: dict[str, Any]
) -> None:
    buckets = [w for w in platform.windows if w.bucket]
    assert buckets, "the documents window keeps its files in a bucket"
    for w in buckets:
        props = template["Resources"][w.bucket_id]["Properties"]
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
            "ServerSideEncryptionByDefault"
        ]
        assert all(props["PublicAccessBlockConfiguration"].values())
        policy = template["Resources"][f"{w.bucket_id}Policy"]["Properties"]["PolicyDocument"]
        assert any(
            s["Effect"] == "Deny" and s["Condition"]["Bool"]["aws:SecureTransport"] == "false"
            for s in policy["Statement"]
        )


def test_outputs_give_the_api_url_and_every_table_name(platform: Platform, template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert "ApiUrl" in outputs
    for w in platform.windows:
        assert outputs[f"{w.title}TableName"]["Value"] == {"Ref": w.table_id}


def referenced(value: Any) -> set[str]:
    """Logical ids a policy resource expression points at."""
    found: set[str] = set()
    if isinstance(value, dict):
        if "Ref" in value:
            found.add(value["Ref"])
        if "Fn::GetAtt" in value:
            found.add(value["Fn::GetAtt"][0])
        if "Fn::Sub" in value:
            import re

            found.update(m.split(".")[0] for m in re.findall(r"\$\{([^}]+)\}", value["Fn::Sub"]))
        for v in value.values():
            found |= referenced(v)
    elif isinstance(value, list):
        for v in value:
            found |= referenced(v)
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_statements(transformed: dict[str, Any], function_id: str) -> list[dict[str, Any]]:
    """Every statement of the inline policies of a function's (SAM-generated) role."""
    role = transformed["Resources"][f"{function_id}Role"]["Properties"]
    return [s for p in role.get("Policies", []) for s in p["PolicyDocument"]["Statement"]]


def namespace_name(transformed: dict[str, Any]) -> Any:
    (name,) = [
        r["Properties"]["Name"]
        for r in transformed["Resources"].values()
        if r["Type"] == "AWS::ServiceDiscovery::HttpNamespace"
    ]
    return name


def is_discovery_exception(stmt: dict[str, Any], namespace: Any) -> bool:
    """The one allowed ``"*"``: DiscoverInstances (no resource type) bound to the stack's namespace."""
    return (
        as_list(stmt["Resource"]) == ["*"]
        and as_list(stmt["Action"]) == ["servicediscovery:DiscoverInstances"]
        and stmt.get("Condition") == {"StringEquals": {"servicediscovery:NamespaceName": namespace}}
    )


def test_each_function_role_reaches_only_its_own_table_and_bucket(
    platform: Platform, transformed: dict[str, Any]
) -> None:
    resources = transformed["Resources"]
    data_ids = {
        r_id for r_id, r in resources.items() if r["Type"] in ("AWS::DynamoDB::Table", "AWS::S3::Bucket")
    }
    namespace = namespace_name(transformed)
    for w in platform.windows:
        own = {w.table_id} | ({w.bucket_id} if w.bucket else set())
        touched: set[str] = set()
        discovery = 0
        for stmt in role_statements(transformed, w.function_id):
            assert stmt["Effect"] == "Allow", f"{w.name}: {stmt}"
            resources_of = as_list(stmt["Resource"])
            actions = as_list(stmt["Action"])
            if is_discovery_exception(stmt, namespace):
                discovery += 1
            else:
                assert "*" not in resources_of, f"{w.name}: wildcard resource in {stmt}"
            assert not any(a.endswith(":*") or a == "*" for a in actions), (
                f"{w.name}: wildcard action {actions}"
            )
            assert "dynamodb:Scan" not in actions and "dynamodb:DeleteTable" not in actions
            touched |= referenced(resources_of) & data_ids
        assert touched == own, f"{w.name} reaches {sorted(touched)}, expected exactly {sorted(own)}"
        assert discovery == 1, f"{w.name}: needs exactly one namespace-bound DiscoverInstances statement"
        managed = resources[f"{w.function_id}Role"]["Properties"].get("ManagedPolicyArns", [])
        assert managed == ["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]


def test_chalice_windows_are_built_by_their_makefile_without_chalices_cli_dependencies(
    platform: Platform, template: dict[str, Any]
) -> None:
    chalice = [w for w in platform.windows if w.framework == "chalice"]
    assert chalice, "the platform hosts a Chalice window"
    for w in chalice:
        fn = template["Resources"][w.function_id]
        assert fn.get("Metadata") == {"BuildMethod": "makefile"}
        makefile = (ROOT / w.code_dir / "Makefile").read_text()
        assert f"build-{w.function_id}:" in makefile  # the target `sam build` runs
        assert "--no-deps" in makefile
    for w in platform.windows:
        if w.framework != "chalice":
            assert "Metadata" not in template["Resources"][w.function_id]
