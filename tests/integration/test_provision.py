"""Local provisioning and the embedded emulator: tables and buckets as the template defines them,
and from the event topology the bus, a queue + DLQ + rule per subscription, the SES sender and the
Cloud Map registrations."""

from __future__ import annotations

import json
import socket
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from helpers import both_emulators

from hms.local.emulator import EmulatorError, aws_env, resolve_endpoint, start_moto
from hms.local.provision import ProvisionError, plan, provision, register_windows, write_trust_file
from hms.model import Platform, load_platform

pytestmark = [pytest.mark.integration, both_emulators]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fake_platform(
    root: Path, windows: dict[str, bool], *, events: str | None = None, email: tuple[str, ...] = ()
) -> Platform:
    """A project whose windows have a table each, and a bucket where the value is True; ``events``
    is the text of its ``events/topology.yaml``; the ``email`` windows send email."""
    (root / "routes").mkdir(parents=True, exist_ok=True)
    for name, bucket in windows.items():
        pkg = root / "functions" / name / name
        pkg.mkdir(parents=True, exist_ok=True)
        (pkg / "handler.py").write_text("def lambda_handler(event, context):\n    return {}\n")
        window = f"bucket: {str(bucket).lower()}" + (", email: true" if name in email else "")
        (root / "routes" / f"{name}.yaml").write_text(
            f"uri: /api/v1/{name}/**\nupstream: {name}\nwindow: {{{window}}}\n"
        )
    if events is not None:
        (root / "events").mkdir(exist_ok=True)
        (root / "events" / "topology.yaml").write_text(events)
    return load_platform(root)


def evented_platform(root: Path, max_receive_count: int = 2) -> tuple[Platform, str, str, str]:
    """pub publishes PaymentCaptured, consumed by con and mail; mail sends email; one bystander."""
    pub, con, mail, idle = unique("pub"), unique("con"), unique("mail"), unique("idle")
    topology = (
        f"events:\n  PaymentCaptured:\n    publisher: {pub}\n    consumers: [{con}, {mail}]\n"
        f"delivery:\n  max_receive_count: {max_receive_count}\n"
    )
    platform = fake_platform(
        root, {pub: False, con: False, mail: False, idle: False}, events=topology, email=(mail,)
    )
    return platform, pub, con, mail


def unique(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:8]


def test_each_window_gets_its_table_and_bucket_windows_their_bucket(
    tmp_path: Path, aws_endpoint: str
) -> None:
    plain, files = unique("plain"), unique("files")
    platform = fake_platform(tmp_path, {plain: False, files: True})
    result = provision(platform, aws_endpoint)

    ddb = boto3.client("dynamodb", endpoint_url=aws_endpoint)
    for name in (plain, files):
        table = ddb.describe_table(TableName=f"hms-{name}")["Table"]
        assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {"pk": "HASH", "sk": "RANGE"}
        assert {a["AttributeType"] for a in table["AttributeDefinitions"]} == {"S"}
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        ttl = ddb.describe_time_to_live(TableName=f"hms-{name}")["TimeToLiveDescription"]
        assert ttl["TimeToLiveStatus"] == "ENABLED" and ttl["AttributeName"] == "expires_at"

    s3 = boto3.client("s3", endpoint_url=aws_endpoint)
    bucket = f"hms-{files}-documents"
    s3.head_bucket(Bucket=bucket)
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    assert result.bucket_name(plain) is None and result.bucket_name(files) == bucket
    assert set(result.created) == {f"table hms-{plain}", f"table hms-{files}", f"bucket {bucket}"}


def test_provisioning_twice_changes_nothing(tmp_path: Path, aws_endpoint: str) -> None:
    name = unique("twice")
    platform = fake_platform(tmp_path, {name: True})
    first = provision(platform, aws_endpoint)
    ddb = boto3.client("dynamodb", endpoint_url=aws_endpoint)
    ddb.put_item(TableName=f"hms-{name}", Item={"pk": {"S": "a"}, "sk": {"S": "b"}})
    second = provision(platform, aws_endpoint)
    assert second.created == () and second.resources == first.resources
    assert ddb.get_item(TableName=f"hms-{name}", Key={"pk": {"S": "a"}, "sk": {"S": "b"}})["Item"]


def test_a_window_environment_names_its_resources_and_the_endpoint(tmp_path: Path, aws_endpoint: str) -> None:
    name = unique("env")
    platform = fake_platform(tmp_path, {name: True})
    env = provision(platform, aws_endpoint).environment_for(platform.window(name))
    assert env["HMS_TABLE_NAME"] == f"hms-{name}"
    assert env["HMS_BUCKET_NAME"] == f"hms-{name}-documents"
    assert env["AWS_ENDPOINT_URL"] == aws_endpoint
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


GATEWAY = "http://127.0.0.1:3999"


def test_each_subscription_gets_a_queue_redriving_to_its_dlq_and_a_rule_that_targets_the_queue(
    tmp_path: Path, aws_endpoint: str
) -> None:
    platform, pub, con, _mail = evented_platform(tmp_path, max_receive_count=2)
    result = provision(platform, aws_endpoint, visibility_timeout=2)

    sqs, events = boto3.client("sqs"), boto3.client("events")
    res = result.subscriptions[f"{con}-PaymentCaptured"]
    assert (res.queue_name, res.dlq_name) == (f"hms-{con}-PaymentCaptured", f"hms-{con}-PaymentCaptured-dlq")
    attrs = sqs.get_queue_attributes(QueueUrl=res.queue_url, AttributeNames=["All"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "2"
    assert json.loads(attrs["RedrivePolicy"]) == {"deadLetterTargetArn": res.dlq_arn, "maxReceiveCount": 2}
    policy = json.loads(attrs["Policy"])["Statement"][0]
    assert policy["Principal"] == {"Service": "events.amazonaws.com"} and policy["Resource"] == res.queue_arn

    rule = events.describe_rule(Name=res.rule_name, EventBusName="hms")
    assert json.loads(rule["EventPattern"]) == {"source": [f"hms.{pub}"], "detail-type": ["PaymentCaptured"]}
    targets = events.list_targets_by_rule(Rule=res.rule_name, EventBusName="hms")["Targets"]
    assert [t["Arn"] for t in targets] == [res.queue_arn]  # an SQS target: never a Lambda
    assert res.queue_arn.startswith("arn:aws:sqs:")

    # and the bus delivers a matching event into exactly the subscribed queues
    events.put_events(
        Entries=[
            {"Source": f"hms.{pub}", "DetailType": "PaymentCaptured", "Detail": "{}", "EventBusName": "hms"}
        ]
    )
    for sub in result.subscriptions.values():
        got = sqs.receive_message(QueueUrl=sub.queue_url, WaitTimeSeconds=1).get("Messages", [])
        assert len(got) == 1 and json.loads(got[0]["Body"])["source"] == f"hms.{pub}"


def test_provisioning_events_twice_creates_nothing_new_and_applies_a_new_visibility_timeout(
    tmp_path: Path, aws_endpoint: str
) -> None:
    platform, _pub, con, mail = evented_platform(tmp_path)
    first = provision(platform, aws_endpoint, base_url=GATEWAY)
    kinds = {c.split()[0] for c in first.created}
    assert {"table", "queue", "rule", "service"} <= kinds
    assert f"rule hms-{con}-PaymentCaptured" in first.created
    assert f"queue hms-{mail}-PaymentCaptured-dlq" in first.created

    second = provision(platform, aws_endpoint, base_url=GATEWAY, visibility_timeout=1)
    assert second.created == ()
    assert second.subscriptions.keys() == first.subscriptions.keys()
    url = second.subscriptions[f"{con}-PaymentCaptured"].queue_url
    attrs = boto3.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])
    assert attrs["Attributes"]["VisibilityTimeout"] == "1"
    targets = boto3.client("events").list_targets_by_rule(
        Rule=f"hms-{con}-PaymentCaptured", EventBusName="hms"
    )
    assert len(targets["Targets"]) == 1


def test_a_window_environment_names_its_bus_namespace_services_sender_and_ca(
    tmp_path: Path, aws_endpoint: str
) -> None:
    platform, pub, con, mail = evented_platform(tmp_path)
    ca = str(tmp_path / ".hms" / "tls" / "ca.pem")
    result = provision(
        platform, aws_endpoint, base_url=GATEWAY, ca_bundle=ca, email_sender="sender@hms.local"
    )
    env = {w.name: result.environment_for(w) for w in platform.windows}

    assert env[pub]["HMS_EVENT_BUS"] == "hms"
    assert "HMS_EVENT_BUS" not in env[con] and "HMS_EVENT_BUS" not in env[mail]  # publishers only
    assert env[mail]["HMS_EMAIL_SENDER"] == "sender@hms.local"
    assert not any("HMS_EMAIL_SENDER" in env[w] for w in (pub, con))
    services = dict(pair.split("=", 1) for pair in env[con]["HMS_SERVICES"].split(","))
    assert services == {w.name: GATEWAY for w in platform.windows}
    for e in env.values():
        assert e["HMS_NAMESPACE"] == "hms"
        assert e["SSL_CERT_FILE"] == ca and e["HMS_CA_BUNDLE"] == ca
        assert e["AWS_ENDPOINT_URL"] == aws_endpoint
    identities = boto3.client("ses").list_identities(IdentityType="EmailAddress")["Identities"]
    assert "sender@hms.local" in identities
    assert (
        plan(
            platform, aws_endpoint, base_url=GATEWAY, ca_bundle=ca, email_sender="sender@hms.local"
        ).environment_for(platform.window(pub))
        == env[pub]
    )  # the plan (no AWS calls) already gives the workers their environment


def test_every_window_is_registered_in_cloud_map_with_the_gateway_url_and_its_function(
    tmp_path: Path, aws_endpoint: str
) -> None:
    platform, *_ignored = evented_platform(tmp_path)
    provision(platform, aws_endpoint, base_url=GATEWAY)
    provision(platform, aws_endpoint, base_url=GATEWAY)  # again: still one instance each
    sd = boto3.client("servicediscovery", config=Config(inject_host_prefix=False))
    for w in platform.windows:
        found = sd.discover_instances(NamespaceName="hms", ServiceName=w.name)["Instances"]
        assert [i["Attributes"] for i in found] == [{"base_url": GATEWAY, "function_name": f"hms-{w.name}"}]


class NoCloudMap:
    """An endpoint without Cloud Map, as LocalStack's free edition answers."""

    def list_namespaces(self, **_: Any) -> Any:
        raise ClientError(
            {
                "Error": {"Code": "InternalFailure", "Message": "not yet implemented or pro feature"},
                "ResponseMetadata": {"HTTPStatusCode": 501},
            },
            "ListNamespaces",
        )


def test_without_cloud_map_nothing_is_registered_and_the_static_map_remains(tmp_path: Path) -> None:
    platform, _pub, _con, _mail = evented_platform(tmp_path)
    namespace, created, note = register_windows(NoCloudMap(), "hms", platform.windows, GATEWAY)
    assert (namespace, created) == (None, [])
    assert note is not None and "HMS_SERVICES" in note
    env = plan(platform, "http://127.0.0.1:1", base_url=GATEWAY, namespace=None).environment_for(
        platform.windows[0]
    )
    assert "HMS_NAMESPACE" not in env and env["HMS_SERVICES"].count("=") == len(platform.windows)


def test_a_visibility_timeout_outside_what_sqs_allows_is_refused(tmp_path: Path) -> None:
    platform, *_ = evented_platform(tmp_path)
    with pytest.raises(ProvisionError, match="visibility timeout"):
        plan(platform, "http://127.0.0.1:1", visibility_timeout=-1)


def test_under_tls_a_window_process_trusts_the_local_ca_through_urllib3s_default_context(
    tmp_path: Path,
) -> None:
    """What hmskit.a2a does (a plain urllib3.PoolManager) succeeds against the HTTPS gateway's
    certificate with only the environment the workers get: SSL_CERT_FILE is honoured by OpenSSL's
    default verify paths, which urllib3's default context loads."""
    import http.server
    import ssl
    import subprocess
    import sys
    import threading

    from hms.local.tls import ensure_certificates

    ca, cert, key = ensure_certificates(tmp_path / ".hms", hosts=("127.0.0.1",))

    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"hello")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Hello)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"https://127.0.0.1:{server.server_address[1]}/"
    platform, pub, *_rest = evented_platform(tmp_path)
    trust = write_trust_file(ca, tmp_path / ".hms" / "tls" / "trust.pem")
    assert trust.read_text().count("BEGIN CERTIFICATE") > 1  # the public CAs are still trusted
    written = trust.stat().st_mtime_ns
    assert write_trust_file(ca, trust).stat().st_mtime_ns == written  # unchanged: not rewritten
    env = plan(
        platform, "http://127.0.0.1:1", base_url=url, ca_bundle=str(ca), trust_file=str(trust)
    ).environment_for(platform.window(pub))
    assert (env["SSL_CERT_FILE"], env["HMS_CA_BUNDLE"]) == (str(trust), str(ca))
    script = (
        "import urllib3, sys; print(urllib3.PoolManager(retries=False).request('GET', sys.argv[1]).status)"
    )
    try:
        base = {"PATH": "/usr/bin:/bin"}
        trusted = subprocess.run(
            [sys.executable, "-c", script, url],
            env={**base, **env},
            capture_output=True,
            text=True,
            timeout=20,
        )
        untrusted = subprocess.run(
            [sys.executable, "-c", script, url], env=base, capture_output=True, text=True, timeout=20
        )
    finally:
        server.shutdown()
    assert trusted.stdout.strip() == "200", trusted.stderr
    assert untrusted.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr
