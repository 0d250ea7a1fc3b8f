"""Local provisioning and the embedded emulator: tables and buckets as the template defines them."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import boto3
import pytest

from hms.local.emulator import EmulatorError, aws_env, resolve_endpoint, start_moto
from hms.local.provision import provision
from hms.model import Platform, load_platform

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fake_platform(root: Path, windows: dict[str, bool]) -> Platform:
    """A project whose windows have a table each, and a bucket where the value is True."""
    (root / "routes").mkdir(parents=True, exist_ok=True)
    for name, bucket in windows.items():
        pkg = root / "functions" / name / name
        pkg.mkdir(parents=True, exist_ok=True)
        (pkg / "handler.py").write_text("def lambda_handler(event, context):\n    return {}\n")
        (root / "routes" / f"{name}.yaml").write_text(
            f"uri: /api/v1/{name}/**\nupstream: {name}\nwindow: {{bucket: {str(bucket).lower()}}}\n"
        )
    return load_platform(root)


def unique(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:8]


def test_each_window_gets_its_table_and_bucket_windows_their_bucket(
    tmp_path: Path, moto_endpoint: str
) -> None:
    plain, files = unique("plain"), unique("files")
    platform = fake_platform(tmp_path, {plain: False, files: True})
    result = provision(platform, moto_endpoint)

    ddb = boto3.client("dynamodb", endpoint_url=moto_endpoint)
    for name in (plain, files):
        table = ddb.describe_table(TableName=f"hms-{name}")["Table"]
        assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {"pk": "HASH", "sk": "RANGE"}
        assert {a["AttributeType"] for a in table["AttributeDefinitions"]} == {"S"}
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        ttl = ddb.describe_time_to_live(TableName=f"hms-{name}")["TimeToLiveDescription"]
        assert ttl["TimeToLiveStatus"] == "ENABLED" and ttl["AttributeName"] == "expires_at"

    s3 = boto3.client("s3", endpoint_url=moto_endpoint)
    bucket = f"hms-{files}-documents"
    s3.head_bucket(Bucket=bucket)
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    assert result.bucket_name(plain) is None and result.bucket_name(files) == bucket
    assert set(result.created) == {f"table hms-{plain}", f"table hms-{files}", f"bucket {bucket}"}


def test_provisioning_twice_changes_nothing(tmp_path: Path, moto_endpoint: str) -> None:
    name = unique("twice")
    platform = fake_platform(tmp_path, {name: True})
    first = provision(platform, moto_endpoint)
    ddb = boto3.client("dynamodb", endpoint_url=moto_endpoint)
    ddb.put_item(TableName=f"hms-{name}", Item={"pk": {"S": "a"}, "sk": {"S": "b"}})
    second = provision(platform, moto_endpoint)
    assert second.created == () and second.resources == first.resources
    assert ddb.get_item(TableName=f"hms-{name}", Key={"pk": {"S": "a"}, "sk": {"S": "b"}})["Item"]


def test_a_window_environment_names_its_resources_and_the_endpoint(
    tmp_path: Path, moto_endpoint: str
) -> None:
    name = unique("env")
    platform = fake_platform(tmp_path, {name: True})
    env = provision(platform, moto_endpoint).environment_for(platform.window(name))
    assert env["HMS_TABLE_NAME"] == f"hms-{name}"
    assert env["HMS_BUCKET_NAME"] == f"hms-{name}-documents"
    assert env["AWS_ENDPOINT_URL"] == moto_endpoint
    assert env["AWS_ACCESS_KEY_ID"] == "test" and env["AWS_REGION"] == "us-east-1"
    assert env["AWS_DISABLE_HOST_PREFIX_INJECTION"] == "true"


def test_the_embedded_emulator_starts_serves_and_frees_its_port(tmp_path: Path) -> None:
    port = free_port()
    emulator = start_moto(port)
    try:
        assert emulator.endpoint == f"http://127.0.0.1:{port}"
        with pytest.raises(EmulatorError, match=f"port {port} .* already in use"):
            start_moto(port)
        platform = fake_platform(tmp_path, {"solo": True})
        provision(platform, emulator.endpoint)
        env = aws_env(emulator.endpoint)
        ddb = boto3.client(
            "dynamodb",
            endpoint_url=emulator.endpoint,
            region_name=env["AWS_REGION"],
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        assert "hms-solo" in ddb.list_tables()["TableNames"]
    finally:
        emulator.stop()
    assert not emulator.running()
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))  # free again


def test_a_taken_port_is_refused_before_anything_starts() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(EmulatorError, match="already in use"):
            start_moto(port)


def test_the_endpoint_is_an_explicit_url_localstack_or_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LOCALSTACK_HOST", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9999")
    assert resolve_endpoint("http://127.0.0.1:4567/") == "http://127.0.0.1:4567"
    assert resolve_endpoint(None) == "http://127.0.0.1:9999"
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    assert resolve_endpoint(None) is None
    assert resolve_endpoint("localstack") == "http://localhost:4566"
    monkeypatch.setenv("LOCALSTACK_HOST", "127.0.0.1:4599")
    assert resolve_endpoint("localstack") == "http://127.0.0.1:4599"
    with pytest.raises(EmulatorError):
        resolve_endpoint("not-a-url")
