"""Cloud Map on the emulator: windows registered by hms.local.registry, resolved by hmskit.discovery.

Discovery builds its own client from the environment (``AWS_ENDPOINT_URL`` set by the
``aws_endpoint`` fixture) with ``AWS_DISABLE_HOST_PREFIX_INJECTION`` removed: the client it builds
must turn host prefix injection off by itself, or ``DiscoverInstances`` goes to ``data-127.0.0.1``.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from botocore.exceptions import ClientError
from helpers import both_emulators
from support.kit import FakeClock

from hms.local.registry import (
    RegistryError,
    ensure_namespace,
    instance_id,
    register_window,
    registry_supported,
    sd_client,
    wait_for_operation,
)
from hmskit.a2a import A2AClient
from hmskit.discovery import Discovery, DiscoveryError, ServiceEndpoint, discovery_from_settings
from hmskit.settings import WindowSettings

pytestmark = [pytest.mark.integration, both_emulators]


@pytest.fixture
def sd(aws_endpoint: str) -> Any:
    return sd_client(aws_endpoint)


@pytest.fixture
def no_prefix_env(aws_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Only AWS_ENDPOINT_URL tells boto3 where the emulator is; nothing disables the host prefix."""
    monkeypatch.delenv("AWS_DISABLE_HOST_PREFIX_INJECTION", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_SERVICEDISCOVERY", raising=False)
    return aws_endpoint


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_the_emulator_serves_cloud_map(sd: Any) -> None:
    assert registry_supported(sd) is True


def test_two_registered_windows_resolve_through_discovery(sd: Any, no_prefix_env: str) -> None:
    ns = unique("hms")
    ns_id = ensure_namespace(sd, ns)
    register_window(sd, ns_id, "eligibility", base_url="http://127.0.0.1:3000/", function_name="hms-elig")
    register_window(sd, ns_id, "passport", base_url="http://127.0.0.1:3001", function_name="hms-passport")
    settings = WindowSettings(window="notifications", table_name="t", namespace=ns, discovery_ttl_seconds=30)
    discovery = discovery_from_settings(settings, FakeClock())

    assert discovery.resolve("eligibility") == ServiceEndpoint(
        "eligibility", "http://127.0.0.1:3000", "hms-elig", "cloudmap"
    )
    assert discovery.resolve("passport") == ServiceEndpoint(
        "passport", "http://127.0.0.1:3001", "hms-passport", "cloudmap"
    )
    assert discovery.resolve("passport").source == "cache"
    with pytest.raises(DiscoveryError, match="ServiceNotFound"):
        discovery.resolve("payments")


def test_registration_is_idempotent_and_a_change_replaces_the_attributes(sd: Any, no_prefix_env: str) -> None:
    ns = unique("hms")
    ns_id = ensure_namespace(sd, ns)
    assert ensure_namespace(sd, ns) == ns_id
    for _ in range(2):
        register_window(sd, ns_id, "eligibility", base_url="http://127.0.0.1:3000", function_name="f1")

    register_window(sd, ns_id, "eligibility", base_url="http://127.0.0.1:4000", function_name="f2")

    namespaces = [n for n in sd.list_namespaces()["Namespaces"] if n["Name"] == ns]
    assert len(namespaces) == 1
    services = [sd.get_service(Id=s["Id"])["Service"] for s in sd.list_services()["Services"]]
    assert [s["Name"] for s in services if s["NamespaceId"] == ns_id] == ["eligibility"]
    found = sd.discover_instances(NamespaceName=ns, ServiceName="eligibility")["Instances"]
    assert [(i["InstanceId"], i["Attributes"]) for i in found] == [
        (instance_id("eligibility"), {"base_url": "http://127.0.0.1:4000", "function_name": "f2"})
    ]
    discovery = Discovery(client_factory=lambda: sd_client(no_prefix_env), namespace=ns, clock=FakeClock())
    assert discovery.resolve("eligibility").function_name == "f2"


def test_a_namespace_of_another_kind_under_the_name_is_refused(sd: Any) -> None:
    name = unique("dns")
    try:
        sd.create_public_dns_namespace(Name=f"{name}.example")
    except ClientError:
        pytest.skip("the emulator has no public DNS namespaces")
    with pytest.raises(RegistryError, match="not an HTTP namespace"):
        ensure_namespace(sd, f"{name}.example")


def test_a_bad_base_url_is_refused(sd: Any) -> None:
    ns_id = ensure_namespace(sd, unique("hms"))

    with pytest.raises(RegistryError, match="http"):
        register_window(sd, ns_id, "eligibility", base_url="127.0.0.1:3000", function_name="f")


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        body = json.dumps({"auth": self.headers.get("Authorization"), "path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def echo_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_a2a_call_reaches_the_window_cloud_map_points_at(
    sd: Any, no_prefix_env: str, echo_url: str
) -> None:
    ns = unique("hms")
    register_window(sd, ensure_namespace(sd, ns), "eligibility", base_url=echo_url, function_name="f")
    settings = WindowSettings(window="passport", table_name="t", namespace=ns, a2a_timeout_ms=2000)
    client = A2AClient(discovery_from_settings(settings), settings.a2a_timeout_ms)

    resp = client.call("eligibility", "GET", "/api/v1/eligibility/checks/1", token="tok")

    assert resp.body == {"auth": "Bearer tok", "path": "/api/v1/eligibility/checks/1"}


class NoCloudMap:
    """What LocalStack's free edition answers for any Cloud Map call."""

    def list_namespaces(self, **kwargs: Any) -> Any:
        raise ClientError(
            {
                "Error": {
                    "Code": "InternalFailure",
                    "Message": "API for service 'servicediscovery' not yet implemented or pro feature",
                },
                "ResponseMetadata": {"HTTPStatusCode": 501},
            },
            "ListNamespaces",
        )


class Denied:
    def list_namespaces(self, **kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "ListNamespaces")


class Operations:
    def __init__(self, statuses: list[str]) -> None:
        self.statuses = statuses

    def get_operation(self, OperationId: str) -> Any:
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return {"Operation": {"Id": OperationId, "Type": "CREATE_NAMESPACE", "Status": status}}


def test_an_endpoint_without_cloud_map_is_reported_unsupported_and_other_errors_raise() -> None:
    assert registry_supported(NoCloudMap()) is False
    with pytest.raises(RegistryError, match="AccessDenied"):
        registry_supported(Denied())


def test_operations_are_polled_until_success_and_bounded() -> None:
    slept: list[float] = []

    op = wait_for_operation(Operations(["SUBMITTED", "PENDING", "SUCCESS"]), "op-1", sleep=slept.append)

    assert op["Status"] == "SUCCESS" and slept == [0.05, 0.1]
    with pytest.raises(RegistryError, match="failed"):
        wait_for_operation(Operations(["FAIL"]), "op-2", sleep=slept.append)
    with pytest.raises(RegistryError, match="still PENDING"):
        wait_for_operation(Operations(["PENDING"]), "op-3", timeout=0.01, sleep=lambda s: None)
