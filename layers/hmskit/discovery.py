"""Where another window answers: Cloud Map first, a TTL cache in front, a static map behind.

Each window is registered in the platform's Cloud Map HTTP namespace as ONE service named after the
window, with an instance whose attributes are ``base_url`` (the HTTP base the window is reached at)
and ``function_name`` (its Lambda, for a direct invoke). ``Discovery.resolve(window)`` answers a
``ServiceEndpoint``:

1. a cached answer younger than ``ttl_seconds`` (source ``"cache"``), measured on the injected clock;
2. else ``discover_instances`` in the namespace (source ``"cloudmap"``), then cached;
3. when Cloud Map fails or knows no usable instance: the last cached answer even if expired
   (source ``"cache"``, a warning is logged), else the static fallback ``settings.services``
   (``HMS_SERVICES``, source ``"static"``), else ``DiscoveryError`` (problem+json 503).

After a failed lookup the window is not asked of Cloud Map again for ``error_backoff_seconds``
(default: the smaller of 5 s and the TTL): a Cloud Map outage costs one slow call per window every
few seconds, not one per request. Without a namespace (``HMS_NAMESPACE`` unset, e.g. LocalStack's
free edition has no Cloud Map) only the static map is used and AWS is never called.

Several instances: healthy ones first, then the lowest ``InstanceId`` wins. The choice is
deterministic (every warm container of a window picks the same one; a test can predict it); a
window's instance normally points at the API Gateway URL, which balances by itself, so spreading
calls across instances here would buy nothing.

The boto3 client is built on first use, not at import or bootstrap (cold start), with short
timeouts and one retry. Against a local endpoint (``AWS_ENDPOINT_URL`` or
``AWS_ENDPOINT_URL_SERVICEDISCOVERY``) it is built with ``inject_host_prefix=False``:
``DiscoverInstances`` otherwise sends its request to ``data-<endpoint host>``, which no local
emulator answers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from hmskit.clock import Clock, SystemClock
from hmskit.problems import ServiceUnavailableError

if TYPE_CHECKING:
    from hmskit.settings import WindowSettings

Source = Literal["cloudmap", "static", "cache"]

BASE_URL_ATTRIBUTE = "base_url"
FUNCTION_NAME_ATTRIBUTE = "function_name"
MAX_INSTANCES = 10
DEFAULT_TTL_SECONDS = 30
MAX_ERROR_BACKOFF_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 1.0
READ_TIMEOUT_SECONDS = 2.0
TOTAL_MAX_ATTEMPTS = 2  # one retry


class DiscoveryError(ServiceUnavailableError):
    """No endpoint is known for a window: Cloud Map failed or knows none, and no fallback exists."""

    slug = "discovery-unavailable"


@dataclass(frozen=True)
class ServiceEndpoint:
    window: str
    base_url: str  # no trailing slash
    function_name: str | None
    source: Source


@dataclass
class _Entry:
    endpoint: ServiceEndpoint  # as served from the cache (source "cache")
    expires_at: float


class _LookupError(Exception):
    """Cloud Map could not answer with a usable instance (the message is the reason)."""


def endpoint_overridden(environ: Mapping[str, str] | None = None) -> bool:
    """True when boto3 sends Cloud Map calls to an endpoint of our choosing (a local emulator)."""
    env = os.environ if environ is None else environ
    return bool(env.get("AWS_ENDPOINT_URL_SERVICEDISCOVERY") or env.get("AWS_ENDPOINT_URL"))


def servicediscovery_client(environ: Mapping[str, str] | None = None) -> Any:
    """A Cloud Map client with short timeouts and one retry; no host prefix against a local endpoint.

    Without an override ``inject_host_prefix`` is left unset, so botocore still honours
    ``AWS_DISABLE_HOST_PREFIX_INJECTION`` from the environment.
    """
    import boto3
    from botocore.config import Config

    options: dict[str, Any] = {
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "read_timeout": READ_TIMEOUT_SECONDS,
        "retries": {"total_max_attempts": TOTAL_MAX_ATTEMPTS, "mode": "standard"},
    }
    if endpoint_overridden(environ):
        options["inject_host_prefix"] = False
    return boto3.client("servicediscovery", config=Config(**options))


def _warn(message: str) -> None:
    from hmskit.observability import logger

    logger().warning(message)


def _normalise_url(url: str) -> str | None:
    url = url.strip()
    if not url.startswith(("http://", "https://")):
        return None
    return url.rstrip("/")


def _instance_url(attributes: Mapping[str, str]) -> str | None:
    """The instance's base URL: its ``base_url`` attribute, else AWS's standard IPv4 and port."""
    url = attributes.get(BASE_URL_ATTRIBUTE)
    if url:
        return _normalise_url(url)
    ip = attributes.get("AWS_INSTANCE_IPV4")
    if ip:
        port = attributes.get("AWS_INSTANCE_PORT") or "80"
        return f"http://{ip}:{port}" if port != "80" else f"http://{ip}"
    return None


class Discovery:
    """Resolve a window name to its endpoint; see the module docstring for the order of sources.

    Give either a ready ``client`` or a ``client_factory`` (called once, on the first Cloud Map
    lookup); neither is needed when ``namespace`` is ``None``.
    """

    def __init__(
        self,
        client: Any = None,
        *,
        client_factory: Callable[[], Any] | None = None,
        namespace: str | None,
        static: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        error_backoff_seconds: float | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        if client is not None and client_factory is not None:
            raise ValueError("give a client or a client_factory, not both")
        if namespace is not None and client is None and client_factory is None:
            raise ValueError(f"namespace {namespace!r} needs a client or a client_factory")
        if ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be greater than 0, got {ttl_seconds}")
        self._client = client
        self._client_factory = client_factory
        self.namespace = namespace
        self._static: dict[str, str] = {}
        for window, url in (static or {}).items():
            normalised = _normalise_url(url)
            if normalised is None:
                raise ValueError(f"static base URL of {window!r} must be http(s)://..., got {url!r}")
            self._static[window] = normalised
        self._clock = clock or SystemClock()
        self.ttl_seconds = ttl_seconds
        self.error_backoff_seconds = (
            min(MAX_ERROR_BACKOFF_SECONDS, float(ttl_seconds))
            if error_backoff_seconds is None
            else error_backoff_seconds
        )
        self._warn = warn or _warn
        self._cache: dict[str, _Entry] = {}
        self._failed: dict[str, tuple[float, str]] = {}  # window -> (no lookup before, last reason)

    # -- public ------------------------------------------------------------------------------------
    def resolve(self, window: str) -> ServiceEndpoint:
        """The endpoint of ``window``; ``DiscoveryError`` (503) when none is known."""
        if self.namespace is None:
            static = self._static_endpoint(window)
            if static is None:
                raise self._error(
                    window,
                    "no Cloud Map namespace is configured (HMS_NAMESPACE) and the static map "
                    "(HMS_SERVICES) has no base URL for it",
                )
            return static

        now = self._clock.now()
        entry = self._cache.get(window)
        if entry is not None and now < entry.expires_at:
            return entry.endpoint
        failed = self._failed.get(window)
        if failed is not None and now < failed[0]:
            return self._fallback(window, entry, failed[1], warn=False)

        try:
            endpoint = self._lookup(window)
        except _LookupError as exc:
            self._failed[window] = (now + self.error_backoff_seconds, str(exc))
            return self._fallback(window, entry, str(exc), warn=True)
        self._failed.pop(window, None)
        self._cache[window] = _Entry(replace(endpoint, source="cache"), now + self.ttl_seconds)
        return endpoint

    def expire(self, window: str) -> None:
        """Make the next ``resolve(window)`` ask Cloud Map again (e.g. the cached URL refused a
        connection). The entry is kept as the stale fallback; a failure backoff is lifted."""
        entry = self._cache.get(window)
        if entry is not None:
            entry.expires_at = float("-inf")
        self._failed.pop(window, None)

    # -- internals ---------------------------------------------------------------------------------
    def _client_or_build(self) -> Any:
        if self._client is None:
            assert self._client_factory is not None  # guaranteed by __init__ when a namespace is set
            self._client = self._client_factory()
        return self._client

    def _lookup(self, window: str) -> ServiceEndpoint:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            # no HealthStatus: the windows' services have no health check, for which Cloud Map ignores
            # it and answers every instance (ministack 1.5 instead drops them all for
            # HEALTHY_OR_ELSE_ALL); healthy instances are preferred below all the same
            resp = self._client_or_build().discover_instances(
                NamespaceName=self.namespace, ServiceName=window, MaxResults=MAX_INSTANCES
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = error.get("Code") or "error"
            message = error.get("Message") or ""
            raise _LookupError(f"Cloud Map answered {code}" + (f": {message}" if message else "")) from exc
        except BotoCoreError as exc:
            raise _LookupError(f"Cloud Map is unreachable: {exc}") from exc

        instances = [i for i in resp.get("Instances") or () if isinstance(i, Mapping)]
        if not instances:
            raise _LookupError("Cloud Map has no instance of it")
        healthy_first = sorted(
            instances,
            key=lambda i: (i.get("HealthStatus", "HEALTHY") != "HEALTHY", str(i.get("InstanceId", ""))),
        )
        for instance in healthy_first:
            attributes = instance.get("Attributes") or {}
            url = _instance_url(attributes)
            if url is not None:
                return ServiceEndpoint(
                    window=window,
                    base_url=url,
                    function_name=attributes.get(FUNCTION_NAME_ATTRIBUTE) or None,
                    source="cloudmap",
                )
        raise _LookupError(
            f"none of its {len(instances)} Cloud Map instance(s) has a usable {BASE_URL_ATTRIBUTE} attribute"
        )

    def _fallback(self, window: str, entry: _Entry | None, reason: str, *, warn: bool) -> ServiceEndpoint:
        if entry is not None:
            if warn:
                self._warn(
                    f"discovery of {window!r} in namespace {self.namespace!r} failed ({reason}); "
                    f"serving the last known endpoint {entry.endpoint.base_url}"
                )
            return entry.endpoint
        static = self._static_endpoint(window)
        if static is not None:
            if warn:
                self._warn(
                    f"discovery of {window!r} in namespace {self.namespace!r} failed ({reason}); "
                    f"using the static fallback {static.base_url}"
                )
            return static
        raise self._error(window, reason)

    def _static_endpoint(self, window: str) -> ServiceEndpoint | None:
        url = self._static.get(window)
        if url is None:
            return None
        return ServiceEndpoint(window=window, base_url=url, function_name=None, source="static")

    def _error(self, window: str, reason: str) -> DiscoveryError:
        where = f"namespace {self.namespace!r}" if self.namespace else "no namespace"
        return DiscoveryError(
            f"cannot discover window {window!r} ({where}): {reason}",
            upstream_window=window,
            namespace=self.namespace,
        )


def discovery_from_settings(settings: WindowSettings, clock: Clock | None = None) -> Discovery:
    """The window's discovery: its namespace, its static fallback, its TTL; the Cloud Map client is
    built on the first lookup (never when the namespace is unset)."""
    return Discovery(
        client_factory=servicediscovery_client if settings.namespace else None,
        namespace=settings.namespace,
        static=settings.services,
        clock=clock,
        ttl_seconds=settings.discovery_ttl_seconds,
    )
