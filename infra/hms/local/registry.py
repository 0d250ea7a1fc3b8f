"""Register the local windows in Cloud Map, as the template registers them in AWS.

``hms up`` calls these at start-up against the emulator (moto server, or LocalStack Pro):
``registry_supported`` first (LocalStack's free edition has no Cloud Map: then the windows use the
static ``HMS_SERVICES`` map instead), then ``ensure_namespace`` once and ``register_window`` per
window. Everything is idempotent: a second run against the same endpoint reuses the namespace, the
services and the instances, and only changes an instance whose attributes changed.

Each window is one service named after it, with one instance ``<window>-local`` whose attributes
are ``base_url`` and ``function_name`` (what ``hmskit.discovery`` reads).

Cloud Map's namespace and instance operations are asynchronous in AWS: they answer an operation id,
polled with ``get_operation`` until ``SUCCESS`` (bounded). Two emulator quirks are handled: moto
creates a second namespace or service under a name already taken (AWS refuses), so existing ones
are looked up first; and moto appends a second instance when an instance id is registered again
(AWS updates it in place), so a changed instance is deregistered before it is registered again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

BASE_URL_ATTRIBUTE = "base_url"  # as hmskit.discovery reads them
FUNCTION_NAME_ATTRIBUTE = "function_name"
OPERATION_TIMEOUT_SECONDS = 30.0
_NOT_SUPPORTED_CODES = {
    "NotImplemented",
    "NotImplementedError",
    "InternalFailure",  # LocalStack free: "API for service 'servicediscovery' not yet implemented or pro feature"
    "UnknownOperationException",
    "UnknownServiceException",
}


class RegistryError(Exception):
    """Cloud Map could not be set up (the message names the namespace or window and the reason)."""


def instance_id(window: str) -> str:
    """The stable id of a window's local instance."""
    return f"{window}-local"


def sd_client(endpoint: str) -> Any:
    """A Cloud Map client for ``endpoint`` with dummy credentials and no host prefix injection
    (``DiscoverInstances`` would otherwise go to ``data-<host>``)."""
    import boto3
    from botocore.config import Config

    from hms.local.emulator import DEFAULT_REGION, aws_env

    env = aws_env(endpoint)
    return boto3.session.Session().client(
        "servicediscovery",
        endpoint_url=endpoint,
        region_name=DEFAULT_REGION,
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        config=Config(retries={"max_attempts": 3, "mode": "standard"}, inject_host_prefix=False),
    )


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def registry_supported(sd: Any) -> bool:
    """True when the endpoint serves Cloud Map; False when it answers that it has none (LocalStack's
    free edition: 501 InternalFailure "not yet implemented or pro feature"). Any other failure
    (unreachable endpoint, refused credentials) is a ``RegistryError``."""
    try:
        sd.list_namespaces(MaxResults=1)
    except ClientError as exc:
        if _code(exc) in _NOT_SUPPORTED_CODES or _status(exc) in (404, 501):
            return False
        raise RegistryError(f"Cloud Map: list_namespaces failed: {exc}") from exc
    except BotoCoreError as exc:
        raise RegistryError(f"Cloud Map is unreachable: {exc}") from exc
    return True


def _pages(call: Callable[..., Any], key: str, **kwargs: Any) -> Iterator[Mapping[str, Any]]:
    token: str | None = None
    for _ in range(1000):  # bounded: a misbehaving endpoint cannot loop us forever
        resp = call(**kwargs, **({"NextToken": token} if token else {}))
        yield from resp.get(key) or ()
        token = resp.get("NextToken")
        if not token:
            return


def wait_for_operation(
    sd: Any,
    operation_id: str,
    *,
    timeout: float = OPERATION_TIMEOUT_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> Mapping[str, Any]:
    """Poll ``get_operation`` until the operation succeeds (returns it), fails or times out
    (``RegistryError``). Backoff 0.05 s doubling to 1 s."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        try:
            operation: Mapping[str, Any] = sd.get_operation(OperationId=operation_id)["Operation"]
        except (ClientError, BotoCoreError) as exc:
            raise RegistryError(f"Cloud Map operation {operation_id}: get_operation failed: {exc}") from exc
        status = operation.get("Status")
        if status == "SUCCESS":
            return operation
        if status == "FAIL":
            raise RegistryError(
                f"Cloud Map operation {operation_id} ({operation.get('Type')}) failed: "
                f"{operation.get('ErrorCode', '')} {operation.get('ErrorMessage', '')}".rstrip()
            )
        if time.monotonic() + delay > deadline:
            raise RegistryError(
                f"Cloud Map operation {operation_id} ({operation.get('Type')}) still {status} after {timeout:.0f}s"
            )
        sleep(delay)
        delay = min(delay * 2, 1.0)


def _find_namespace(sd: Any, name: str) -> str | None:
    found = [ns for ns in _pages(sd.list_namespaces, "Namespaces") if ns.get("Name") == name]
    if not found:
        return None
    http = sorted(
        (ns for ns in found if ns.get("Type") == "HTTP"), key=lambda ns: str(ns.get("CreateDate", ""))
    )
    if not http:
        kinds = ", ".join(sorted({str(ns.get("Type")) for ns in found}))
        raise RegistryError(f"Cloud Map namespace {name!r} exists but is not an HTTP namespace ({kinds})")
    return str(http[0]["Id"])  # the oldest, should an emulator have let duplicates in


def ensure_namespace(sd: Any, name: str, *, timeout: float = OPERATION_TIMEOUT_SECONDS) -> str:
    """The id of the HTTP namespace ``name``, created (and waited for) unless it exists."""
    try:
        existing = _find_namespace(sd, name)
        if existing:
            return existing
        try:
            operation_id = sd.create_http_namespace(Name=name, Description="HMS windows (local)")[
                "OperationId"
            ]
        except ClientError as exc:
            if _code(exc) != "NamespaceAlreadyExists":  # lost a race with another hms up
                raise
            existing = _find_namespace(sd, name)
            if existing:
                return existing
            raise
        operation = wait_for_operation(sd, operation_id, timeout=timeout)
        namespace_id = (operation.get("Targets") or {}).get("NAMESPACE") or _find_namespace(sd, name)
    except (ClientError, BotoCoreError) as exc:
        raise RegistryError(f"Cloud Map namespace {name!r}: {exc}") from exc
    if not namespace_id:
        raise RegistryError(f"Cloud Map namespace {name!r}: created, but not found afterwards")
    return str(namespace_id)


def _find_service(sd: Any, namespace_id: str, window: str) -> str | None:
    services = _pages(
        sd.list_services,
        "Services",
        Filters=[{"Name": "NAMESPACE_ID", "Values": [namespace_id], "Condition": "EQ"}],
    )
    named = sorted(
        (s for s in services if s.get("Name") == window), key=lambda s: str(s.get("CreateDate", ""))
    )
    for summary in named:
        # moto ignores the filter, and a summary does not name its namespace: ask each candidate
        owner = summary.get("NamespaceId") or sd.get_service(Id=summary["Id"])["Service"].get("NamespaceId")
        if owner == namespace_id:
            return str(summary["Id"])
    return None


def _ensure_service(sd: Any, namespace_id: str, window: str) -> str:
    existing = _find_service(sd, namespace_id, window)
    if existing:
        return existing
    try:
        return str(
            sd.create_service(
                Name=window, NamespaceId=namespace_id, Description=f"HMS window {window}", Type="HTTP"
            )["Service"]["Id"]
        )
    except ClientError as exc:
        if _code(exc) == "ServiceAlreadyExists":
            found = _find_service(sd, namespace_id, window)
            if found:
                return found
        raise


def register_window(
    sd: Any,
    namespace_id: str,
    window: str,
    *,
    base_url: str,
    function_name: str,
    timeout: float = OPERATION_TIMEOUT_SECONDS,
) -> None:
    """Register ``window`` (its service and its instance ``<window>-local``) with these attributes.

    Idempotent: unchanged attributes change nothing; changed ones replace the instance's."""
    if not base_url.startswith(("http://", "https://")):
        raise RegistryError(f"window {window}: base_url must be http(s)://..., got {base_url!r}")
    wanted = {BASE_URL_ATTRIBUTE: base_url.rstrip("/"), FUNCTION_NAME_ATTRIBUTE: function_name}
    iid = instance_id(window)
    try:
        service_id = _ensure_service(sd, namespace_id, window)
        current = [
            i for i in _pages(sd.list_instances, "Instances", ServiceId=service_id) if i.get("Id") == iid
        ]
        if len(current) == 1 and dict(current[0].get("Attributes") or {}) == wanted:
            return
        # AWS updates an instance registered again under its id; moto appends a second one. Removing
        # the old registration first gives one instance with the new attributes on both.
        for _ in current:
            operation_id = sd.deregister_instance(ServiceId=service_id, InstanceId=iid)["OperationId"]
            wait_for_operation(sd, operation_id, timeout=timeout)
        operation_id = sd.register_instance(ServiceId=service_id, InstanceId=iid, Attributes=wanted)[
            "OperationId"
        ]
        wait_for_operation(sd, operation_id, timeout=timeout)
    except (ClientError, BotoCoreError) as exc:
        raise RegistryError(f"Cloud Map: registering window {window}: {exc}") from exc
