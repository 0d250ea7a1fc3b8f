"""Discovery: Cloud Map behind a TTL cache on a fake clock, stale-on-error, the static fallback."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from support.kit import FakeClock

from hmskit.discovery import (
    Discovery,
    DiscoveryError,
    ServiceEndpoint,
    discovery_from_settings,
    endpoint_overridden,
    servicediscovery_client,
)
from hmskit.problems import ServiceUnavailableError
from hmskit.settings import WindowSettings

NS = "hms-test"


def instance(
    iid: str, base_url: str | None = None, *, health: str = "HEALTHY", **attrs: str
) -> dict[str, Any]:
    attributes = dict(attrs)
    if base_url is not None:
        attributes["base_url"] = base_url
    return {"InstanceId": iid, "HealthStatus": health, "Attributes": attributes}


class FakeCloudMap:
    """A Cloud Map client with one method: instances per service, or an error to raise."""

    def __init__(self, services: dict[str, list[dict[str, Any]]] | None = None) -> None:
        self.services = services or {}
        self.fail: Exception | None = None
        self.calls: list[dict[str, Any]] = []

    def discover_instances(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.fail is not None:
            raise self.fail
        name = kwargs["ServiceName"]
        if name not in self.services:
            raise ClientError(
                {"Error": {"Code": "ServiceNotFound", "Message": f"service {name} not found"}},
                "DiscoverInstances",
            )
        return {"Instances": self.services[name][: kwargs.get("MaxResults", 100)]}


def unavailable() -> ClientError:
    return ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "try later"}}, "DiscoverInstances")


def make(
    cloudmap: FakeCloudMap | None = None,
    *,
    namespace: str | None = NS,
    static: dict[str, str] | None = None,
    ttl: int = 30,
    backoff: float | None = None,
) -> tuple[Discovery, FakeClock, list[str]]:
    clock = FakeClock()
    warnings: list[str] = []
    disc = Discovery(
        cloudmap,
        namespace=namespace,
        static=static,
        clock=clock,
        ttl_seconds=ttl,
        error_backoff_seconds=backoff,
        warn=warnings.append,
    )
    return disc, clock, warnings


def test_resolves_from_cloud_map_with_base_url_and_function_name() -> None:
    cm = FakeCloudMap({"eligibility": [instance("e1", "http://elig.local:3000/", function_name="hms-elig")]})
    disc, _, _ = make(cm)

    ep = disc.resolve("eligibility")

    assert ep == ServiceEndpoint("eligibility", "http://elig.local:3000", "hms-elig", "cloudmap")
    assert cm.calls[0]["NamespaceName"] == NS
    assert cm.calls[0]["ServiceName"] == "eligibility"
    assert cm.calls[0]["MaxResults"] > 0


def test_a_second_resolve_within_the_ttl_is_served_from_the_cache() -> None:
    cm = FakeCloudMap({"eligibility": [instance("e1", "http://a")]})
    disc, clock, _ = make(cm, ttl=30)
    disc.resolve("eligibility")

    clock.advance(29.9)
    ep = disc.resolve("eligibility")

    assert ep.source == "cache" and ep.base_url == "http://a"
    assert len(cm.calls) == 1


def test_after_the_ttl_cloud_map_is_asked_again_and_a_move_is_seen() -> None:
    cm = FakeCloudMap({"eligibility": [instance("e1", "http://a")]})
    disc, clock, _ = make(cm, ttl=30)
    disc.resolve("eligibility")
    cm.services["eligibility"] = [instance("e1", "http://b")]

    clock.advance(30)
    ep = disc.resolve("eligibility")

    assert ep == ServiceEndpoint("eligibility", "http://b", None, "cloudmap")
    assert len(cm.calls) == 2


def test_the_cache_is_per_window() -> None:
    cm = FakeCloudMap({"a": [instance("a1", "http://a")], "b": [instance("b1", "http://b")]})
    disc, _, _ = make(cm)

    assert disc.resolve("a").base_url == "http://a"
    assert disc.resolve("b").base_url == "http://b"
    assert [c["ServiceName"] for c in cm.calls] == ["a", "b"]


def test_a_cloud_map_error_serves_the_stale_entry_with_a_warning() -> None:
    cm = FakeCloudMap({"eligibility": [instance("e1", "http://a")]})
    disc, clock, warnings = make(cm, ttl=30)
    disc.resolve("eligibility")
    clock.advance(31)
    cm.fail = unavailable()

    ep = disc.resolve("eligibility")

    assert ep == ServiceEndpoint("eligibility", "http://a", None, "cache")
    assert len(warnings) == 1
    assert "eligibility" in warnings[0] and NS in warnings[0] and "ServiceUnavailable" in warnings[0]


def test_no_instances_serves_the_stale_entry_too() -> None:
    cm = FakeCloudMap({"eligibility": [instance("e1", "http://a")]})
    disc, clock, warnings = make(cm, ttl=30)
    disc.resolve("eligibility")
    cm.services["eligibility"] = []
    clock.advance(31)

    assert disc.resolve("eligibility").base_url == "http://a"
    assert "no instance" in warnings[0]


def test_an_unreachable_cloud_map_falls_back_to_the_static_map() -> None:
    cm = FakeCloudMap()
    cm.fail = EndpointConnectionError(endpoint_url="https://data-servicediscovery.us-east-1.amazonaws.com")
    disc, _, warnings = make(cm, static={"eligibility": "http://127.0.0.1:3000/"})

    ep = disc.resolve("eligibility")

    assert ep == ServiceEndpoint("eligibility", "http://127.0.0.1:3000", None, "static")
    assert "static fallback" in warnings[0] and "unreachable" in warnings[0]


def test_an_unknown_service_falls_back_to_the_static_map() -> None:
    disc, _, _ = make(FakeCloudMap(), static={"eligibility": "http://s"})

    assert disc.resolve("eligibility").source == "static"


def test_no_cache_and_no_static_raises_a_503_naming_window_namespace_and_reason() -> None:
    disc, _, _ = make(FakeCloudMap())

    with pytest.raises(DiscoveryError) as info:
        disc.resolve("eligibility")

    problem = info.value
    assert isinstance(problem, ServiceUnavailableError)
    assert problem.status == 503
    assert "eligibility" in problem.detail and NS in problem.detail and "ServiceNotFound" in problem.detail
    body = problem.to_dict()
    assert body["upstream_window"] == "eligibility" and body["namespace"] == NS


def test_after_a_failure_cloud_map_is_not_asked_again_until_the_backoff_passes() -> None:
    cm = FakeCloudMap()
    cm.fail = unavailable()
    disc, clock, warnings = make(cm, static={"eligibility": "http://s"}, backoff=5)

    for _ in range(3):
        assert disc.resolve("eligibility").source == "static"
        clock.advance(1)
    assert len(cm.calls) == 1 and len(warnings) == 1

    clock.advance(3)
    cm.fail = None
    cm.services["eligibility"] = [instance("e1", "http://cm")]
    assert disc.resolve("eligibility").source == "cloudmap"
    assert len(cm.calls) == 2


def test_the_error_during_backoff_still_names_the_reason() -> None:
    cm = FakeCloudMap()
    cm.fail = unavailable()
    disc, _, _ = make(cm, backoff=5)
    with pytest.raises(DiscoveryError):
        disc.resolve("eligibility")

    with pytest.raises(DiscoveryError, match="ServiceUnavailable"):
        disc.resolve("eligibility")
    assert len(cm.calls) == 1


def test_without_a_namespace_only_the_static_map_is_used_and_aws_is_never_built() -> None:
    built: list[int] = []

    def factory() -> Any:
        built.append(1)
        return FakeCloudMap()

    disc = Discovery(
        client_factory=factory, namespace=None, static={"eligibility": "http://s"}, clock=FakeClock()
    )

    assert disc.resolve("eligibility") == ServiceEndpoint("eligibility", "http://s", None, "static")
    with pytest.raises(DiscoveryError, match="no Cloud Map namespace"):
        disc.resolve("passport")
    assert built == []


def test_the_client_is_built_lazily_on_the_first_lookup_and_once() -> None:
    built: list[FakeCloudMap] = []

    def factory() -> FakeCloudMap:
        cm = FakeCloudMap({"a": [instance("a1", "http://a")], "b": [instance("b1", "http://b")]})
        built.append(cm)
        return cm

    disc = Discovery(client_factory=factory, namespace=NS, clock=FakeClock())
    assert built == []

    disc.resolve("a")
    disc.resolve("b")
    assert len(built) == 1 and len(built[0].calls) == 2


def test_several_instances_pick_healthy_first_then_the_lowest_instance_id() -> None:
    cm = FakeCloudMap(
        {
            "w": [
                instance("c", "http://c"),
                instance("a", "http://a", health="UNHEALTHY"),
                instance("b", "http://b"),
            ]
        }
    )
    disc, clock, _ = make(cm)

    picks = set()
    for _ in range(3):
        picks.add(disc.resolve("w").base_url)
        clock.advance(60)
    assert picks == {"http://b"}


def test_instances_without_a_usable_url_are_skipped() -> None:
    cm = FakeCloudMap({"w": [instance("a", "ftp://nope"), instance("b"), instance("c", "http://ok")]})
    disc, _, _ = make(cm)

    assert disc.resolve("w").base_url == "http://ok"


def test_aws_standard_ipv4_and_port_attributes_make_a_base_url() -> None:
    cm = FakeCloudMap(
        {
            "w": [instance("a", AWS_INSTANCE_IPV4="10.0.0.7", AWS_INSTANCE_PORT="8080")],
            "v": [instance("a", AWS_INSTANCE_IPV4="10.0.0.8")],
        }
    )
    disc, _, _ = make(cm)

    assert disc.resolve("w").base_url == "http://10.0.0.7:8080"
    assert disc.resolve("v").base_url == "http://10.0.0.8"


def test_no_usable_instance_is_an_error_saying_so() -> None:
    disc, _, _ = make(FakeCloudMap({"w": [instance("a")]}))

    with pytest.raises(DiscoveryError, match="base_url"):
        disc.resolve("w")


def test_expire_forces_a_lookup_but_keeps_the_stale_entry() -> None:
    cm = FakeCloudMap({"w": [instance("a", "http://a")]})
    disc, _, _ = make(cm)
    disc.resolve("w")

    disc.expire("w")
    assert disc.resolve("w").source == "cloudmap"
    assert len(cm.calls) == 2

    disc.expire("w")
    cm.fail = unavailable()
    assert disc.resolve("w") == ServiceEndpoint("w", "http://a", None, "cache")


def test_constructor_guards() -> None:
    with pytest.raises(ValueError, match="needs a client"):
        Discovery(namespace=NS)
    with pytest.raises(ValueError, match="not both"):
        Discovery(FakeCloudMap(), client_factory=FakeCloudMap, namespace=NS)
    with pytest.raises(ValueError, match="http"):
        Discovery(namespace=None, static={"w": "nope"})


def test_discovery_from_settings_reads_namespace_static_map_and_ttl() -> None:
    settings = WindowSettings(
        window="passport",
        table_name="hms-passport",
        namespace=None,
        services="eligibility=http://127.0.0.1:3000",
        discovery_ttl_seconds=12,
    )

    disc = discovery_from_settings(settings, FakeClock())

    assert disc.namespace is None and disc.ttl_seconds == 12
    assert disc.resolve("eligibility").base_url == "http://127.0.0.1:3000"


def test_discovery_from_settings_with_a_namespace_builds_no_client_yet() -> None:
    settings = WindowSettings(window="passport", table_name="t", namespace="hms")

    disc = discovery_from_settings(settings)

    assert disc.namespace == "hms"
    assert disc._client is None  # built on the first lookup, not at bootstrap


def test_endpoint_override_is_detected_from_either_variable() -> None:
    assert endpoint_overridden({"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"})
    assert endpoint_overridden({"AWS_ENDPOINT_URL_SERVICEDISCOVERY": "http://127.0.0.1:4566"})
    assert not endpoint_overridden({})


def test_the_client_for_a_local_endpoint_injects_no_host_prefix_and_has_short_timeouts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_DISABLE_HOST_PREFIX_INJECTION", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)

    local = servicediscovery_client({"AWS_ENDPOINT_URL_SERVICEDISCOVERY": "http://127.0.0.1:4566"})
    real = servicediscovery_client({})

    assert local.meta.config.inject_host_prefix is False
    assert real.meta.config.inject_host_prefix is True
    assert local.meta.config.connect_timeout <= 1 and local.meta.config.read_timeout <= 2
    assert local.meta.config.retries["total_max_attempts"] == 2
