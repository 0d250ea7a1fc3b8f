"""Provision the local resources of every window from the platform model.

The resources are the template's (``hms.resources``), named locally: tables and buckets per window;
from the event topology the EventBridge bus, one SQS queue (+ DLQ) and one rule per subscription (the
rule targets the queue, exactly as in AWS: never a Lambda); the SES sender identity when a window
sends email; Cloud Map (the namespace, each window registered with the gateway's URL) when the
endpoint serves it, else the windows use the static ``HMS_SERVICES`` map.

Idempotent: running it twice against the same endpoint creates nothing the second time (``created``
lists what this run created).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from hms.local.emulator import DEFAULT_REGION, aws_env
from hms.model import Platform, Window
from hms.resources import (
    BILLING_MODE,
    PUBLIC_ACCESS_BLOCK,
    RULE_TARGET_ID,
    TTL_ATTRIBUTE,
    Delivery,
    Queue,
    Resources,
    Rule,
    attribute_definitions,
    build_resources,
    key_schema,
    local_name,
)
from hms.topology import Subscription

_NOT_SUPPORTED = {"NotImplemented", "NotImplementedError", "InternalFailure", "UnknownOperationException"}

EVENT_BUS = "hms"  # the local bus name (the template names its own)
NAMESPACE = "hms"  # the local Cloud Map HTTP namespace
DEFAULT_EMAIL_SENDER = "no-reply@hms.local"
DEFAULT_VISIBILITY_TIMEOUT = 30  # seconds; `hms up --visibility-timeout 1` to watch retries quickly
MAX_VISIBILITY_TIMEOUT = 12 * 3600  # SQS's limit


class ProvisionError(Exception):
    """A local resource could not be created."""


@dataclass(frozen=True)
class WindowResources:
    table_name: str
    bucket_name: str | None


@dataclass(frozen=True)
class SubscriptionResources:
    """The queue, DLQ and rule of one subscription (what the pump reads and ``hms dlq`` shows)."""

    subscription: Subscription
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str
    rule_name: str

    @property
    def name(self) -> str:
        return self.subscription.name

    @property
    def queue_name(self) -> str:
        return self.subscription.local_queue_name()

    @property
    def dlq_name(self) -> str:
        return self.subscription.local_dlq_name()


@dataclass(frozen=True)
class Provisioned:
    endpoint: str
    resources: dict[str, WindowResources]
    created: tuple[str, ...] = field(default=())  # "table hms-payments", ... (empty on a re-run)
    event_bus: str | None = None  # None: the topology has no events
    publishers: frozenset[str] = field(default_factory=frozenset)
    subscriptions: dict[str, SubscriptionResources] = field(default_factory=dict)  # by name
    namespace: str | None = None  # None: not registered in Cloud Map (no base URL, or no Cloud Map)
    services: dict[str, str] = field(default_factory=dict)  # the static fallback: window -> base URL
    email_sender: str | None = None  # set when a window sends email
    ca_bundle: str | None = None  # the local CA (hms up --tls) the workers must trust
    trust_file: str | None = None  # the system's CAs plus the local CA (SSL_CERT_FILE); else ca_bundle
    visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT
    notes: tuple[str, ...] = field(default=())  # what the developer should know (no Cloud Map, ...)

    def table_name(self, window: Window | str) -> str:
        return self.resources[_name(window)].table_name

    def bucket_name(self, window: Window | str) -> str | None:
        return self.resources[_name(window)].bucket_name

    def environment_for(self, window: Window) -> dict[str, str]:
        """The window's own environment plus the AWS variables that point it at the endpoint.

        The same keys as the template's (``Window.environment``): the bus for publishers only, the
        namespace when the windows are registered, the email sender for email windows; plus, locally,
        ``HMS_SERVICES`` (the static discovery fallback) and the local CA under ``--tls``.
        """
        res = self.resources[window.name]
        env: dict[str, str] = window.environment(
            table_name=res.table_name,
            bucket_name=res.bucket_name,
            event_bus=self.event_bus if window.name in self.publishers else None,
            namespace=self.namespace,
            email_sender=self.email_sender,
        )
        if self.services:
            env["HMS_SERVICES"] = ",".join(f"{name}={url}" for name, url in sorted(self.services.items()))
        if self.ca_bundle:
            # urllib3's default context (hmskit.a2a) loads OpenSSL's default verify paths, which
            # honour SSL_CERT_FILE (it replaces the system CA file: hence the combined trust file)
            env["SSL_CERT_FILE"] = self.trust_file or self.ca_bundle
            env["HMS_CA_BUNDLE"] = self.ca_bundle
        env.update(aws_env(self.endpoint))
        return env


def _name(window: Window | str) -> str:
    return window if isinstance(window, str) else window.name


def aws_client(service: str, endpoint: str, *, max_pool_connections: int = 10) -> Any:
    """A boto3 client for ``endpoint`` with the emulator's dummy credentials (thread-safe; share it)."""
    return AwsClients(endpoint, max_pool_connections=max_pool_connections).client(service)


class ClientSource(Protocol):
    def client(self, service: str) -> Any: ...


class AwsClients:
    """boto3 clients for one endpoint, all from ONE session: botocore then reads its data files
    once (measured: 0.11 s for six clients, against 0.59 s with a session each). Create the clients
    from one thread; the clients themselves are thread-safe."""

    def __init__(self, endpoint: str, *, max_pool_connections: int = 10) -> None:
        self.endpoint = endpoint
        self._session = boto3.session.Session()
        self._config = Config(
            retries={"max_attempts": 3, "mode": "standard"},
            inject_host_prefix=False,  # DiscoverInstances would go to data-<host> otherwise
            max_pool_connections=max_pool_connections,
        )
        self._clients: dict[str, Any] = {}
        self.calls: dict[str, int] = {}  # service.Operation -> calls made through these clients

    def client(self, service: str) -> Any:
        if service not in self._clients:
            env = aws_env(self.endpoint)
            client = self._session.client(
                service,
                endpoint_url=self.endpoint,
                region_name=DEFAULT_REGION,
                aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                config=self._config,
            )
            client.meta.events.register("before-call", self._count)
            self._clients[service] = client
        return self._clients[service]

    def _count(self, model: Any, **_: Any) -> None:
        key = f"{model.service_model.service_name}.{model.name}"
        self.calls[key] = self.calls.get(key, 0) + 1  # a lost increment between threads is harmless


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def ensure_table(ddb: Any, name: str) -> bool:
    """Create the window table (pk/sk, on-demand, TTL on ``expires_at``) unless it exists.

    Returns True when it was created. The TTL setting is (re)applied either way.
    """
    created = False
    try:
        ddb.create_table(
            TableName=name,
            BillingMode=BILLING_MODE,
            AttributeDefinitions=attribute_definitions(),
            KeySchema=key_schema(),
        )
        created = True
    except ClientError as exc:
        if _code(exc) != "ResourceInUseException":
            raise ProvisionError(f"table {name}: {exc}") from exc
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})
    ttl = ddb.describe_time_to_live(TableName=name).get("TimeToLiveDescription", {})
    if not (
        ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") and ttl.get("AttributeName") == TTL_ATTRIBUTE
    ):
        try:
            ddb.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
            )
        except ClientError as exc:
            if _code(exc) not in _NOT_SUPPORTED:
                raise ProvisionError(f"table {name}: TTL: {exc}") from exc
    return created


def ensure_bucket(s3: Any, name: str) -> bool:
    """Create a private bucket unless it exists; returns True when it was created."""
    created = False
    try:
        s3.head_bucket(Bucket=name)
    except ClientError as exc:
        if _code(exc) not in ("404", "NoSuchBucket", "NotFound"):
            raise ProvisionError(f"bucket {name}: {exc}") from exc
        try:
            s3.create_bucket(Bucket=name)  # us-east-1: no location constraint
            created = True
        except ClientError as exc2:  # lost a race, or us-east-1's "already yours"
            if _code(exc2) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise ProvisionError(f"bucket {name}: {exc2}") from exc2
    try:
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=dict(PUBLIC_ACCESS_BLOCK))
    except ClientError as exc:
        if _code(exc) not in _NOT_SUPPORTED:
            raise ProvisionError(f"bucket {name}: public access block: {exc}") from exc
    return created


def _queue_url(sqs: Any, name: str) -> str | None:
    try:
        return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
    except ClientError as exc:
        if _code(exc) in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            return None
        raise ProvisionError(f"queue {name}: {exc}") from exc


def ensure_queue(sqs: Any, name: str, attributes: Mapping[str, str]) -> tuple[str, str, bool]:
    """(url, arn, created) of the queue ``name`` with these attributes, created unless it exists.

    An existing queue gets the attributes that differ (a new ``--visibility-timeout`` applies to it).
    """
    created = False
    url = _queue_url(sqs, name)
    try:
        if url is None:
            url = str(sqs.create_queue(QueueName=name, Attributes=dict(attributes))["QueueUrl"])
            created = True
        current = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        changed = {k: v for k, v in attributes.items() if not _same_attribute(k, current.get(k), v)}
        if changed:
            sqs.set_queue_attributes(QueueUrl=url, Attributes=changed)
    except ClientError as exc:
        raise ProvisionError(f"queue {name}: {exc}") from exc
    return url, str(current["QueueArn"]), created


def _same_attribute(key: str, current: str | None, wanted: str) -> bool:
    if current is None:
        return False
    if key in ("RedrivePolicy", "Policy"):
        try:
            return bool(json.loads(current) == json.loads(wanted))
        except ValueError:
            return False
    return current == wanted


def ensure_bus(events: Any, name: str) -> bool:
    """Create the custom event bus unless it exists; True when it was created."""
    try:
        events.describe_event_bus(Name=name)
        return False
    except ClientError as exc:
        if _code(exc) != "ResourceNotFoundException":
            raise ProvisionError(f"event bus {name}: {exc}") from exc
    try:
        events.create_event_bus(Name=name)
    except ClientError as exc:
        if _code(exc) != "ResourceAlreadyExistsException":
            raise ProvisionError(f"event bus {name}: {exc}") from exc
        return False
    return True


def ensure_rule(events: Any, bus: str, rule: Rule) -> tuple[str, bool]:
    """(rule ARN, created): the subscription's rule on ``bus``, by its local name."""
    name = rule.local_name
    try:
        existing = events.list_rules(EventBusName=bus, NamePrefix=name).get("Rules", [])
        arn = str(
            events.put_rule(
                Name=name,
                EventBusName=bus,
                EventPattern=json.dumps(rule.pattern(), sort_keys=True),
                State="ENABLED",
                Description=rule.description,
            )["RuleArn"]
        )
    except ClientError as exc:
        raise ProvisionError(f"rule {name}: {exc}") from exc
    return arn, not any(r.get("Name") == name for r in existing)


def ensure_target(events: Any, bus: str, rule: str, queue_arn: str) -> None:
    """Make the queue the rule's one target (an SQS target, never a Lambda: the pump invokes)."""
    try:
        targets = events.list_targets_by_rule(Rule=rule, EventBusName=bus).get("Targets", [])
        if [(t.get("Id"), t.get("Arn")) for t in targets] == [(RULE_TARGET_ID, queue_arn)]:
            return
        stale = [t["Id"] for t in targets if t.get("Id") != RULE_TARGET_ID]
        if stale:
            events.remove_targets(Rule=rule, EventBusName=bus, Ids=stale)
        resp = events.put_targets(
            Rule=rule, EventBusName=bus, Targets=[{"Id": RULE_TARGET_ID, "Arn": queue_arn}]
        )
        if resp.get("FailedEntryCount"):
            raise ProvisionError(f"rule {rule}: target not accepted: {resp.get('FailedEntries')}")
    except ClientError as exc:
        raise ProvisionError(f"rule {rule}: {exc}") from exc


def queue_attributes(
    queue: Queue,
    *,
    visibility_timeout: int | None = None,
    dead_letter_arn: str | None = None,
    policy: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """The SQS attributes of ``queue`` as the emulator takes them (strings; JSON for policies).

    ``visibility_timeout`` replaces the queue's own (``hms up --visibility-timeout``).
    """
    attributes: dict[str, str] = {}
    if queue.retention_seconds is not None:
        attributes["MessageRetentionPeriod"] = str(queue.retention_seconds)
    visibility = queue.visibility_timeout if visibility_timeout is None else visibility_timeout
    if visibility is not None:
        attributes["VisibilityTimeout"] = str(visibility)
    if queue.redrive is not None and dead_letter_arn is not None:
        attributes["RedrivePolicy"] = json.dumps(queue.redrive.policy(dead_letter_arn))
    if policy is not None:
        attributes["Policy"] = json.dumps(policy, sort_keys=True)
    return attributes


def ensure_delivery(
    sqs: Any, events: Any, bus: str, delivery: Delivery, *, visibility_timeout: int
) -> tuple[SubscriptionResources, list[str]]:
    """The rule, the DLQ and the queue (redriving to the DLQ) of one subscription."""
    created: list[str] = []
    dlq, queue, rule = delivery.dead_letter, delivery.queue, delivery.rule
    rule_arn, new = ensure_rule(events, bus, rule)
    if new:
        created.append(f"rule {rule.local_name}")
    dlq_url, dlq_arn, new = ensure_queue(sqs, dlq.local_name, queue_attributes(dlq))
    if new:
        created.append(f"queue {dlq.local_name}")

    def attributes(queue_arn: str) -> dict[str, str]:
        return queue_attributes(
            queue,
            visibility_timeout=visibility_timeout,
            dead_letter_arn=dlq_arn,
            policy=delivery.policy.document(queue_arn, rule_arn),
        )

    expected_arn = f"{dlq_arn.rsplit(':', 1)[0]}:{queue.local_name}"  # same account and region as its DLQ
    queue_url, queue_arn, new = ensure_queue(sqs, queue.local_name, attributes(expected_arn))
    if new:
        created.append(f"queue {queue.local_name}")
    if queue_arn != expected_arn:
        ensure_queue(sqs, queue.local_name, attributes(queue_arn))
    ensure_target(events, bus, rule.local_name, queue_arn)
    return (
        SubscriptionResources(
            subscription=delivery.subscription,
            queue_url=queue_url,
            queue_arn=queue_arn,
            dlq_url=dlq_url,
            dlq_arn=dlq_arn,
            rule_name=rule.local_name,
        ),
        created,
    )


def ensure_email_identity(ses: Any, sender: str) -> bool:
    """Verify the sender address in SES (the emulator verifies at once); True when new."""
    try:
        known = ses.list_identities(IdentityType="EmailAddress").get("Identities", [])
        if sender in known:
            return False
        ses.verify_email_identity(EmailAddress=sender)
    except ClientError as exc:
        raise ProvisionError(f"SES identity {sender}: {exc}") from exc
    return True


def register_windows(
    sd: Any, namespace: str, windows: tuple[Window, ...], base_url: str
) -> tuple[str | None, list[str], str | None]:
    """Cloud Map: the namespace and every window (base_url: the gateway; function ``hms-<window>``).

    Returns (namespace or None, created, note). ``None`` when the endpoint has no Cloud Map
    (LocalStack's free edition) or registration failed: the windows then use ``HMS_SERVICES``.
    """
    from hms.local.registry import (
        RegistryError,
        ensure_namespace,
        register_window,
        registry_supported,
    )

    created: list[str] = []
    try:
        if not registry_supported(sd):
            return (
                None,
                created,
                "the endpoint has no Cloud Map: windows discover each other through HMS_SERVICES",
            )
        before = {ns.get("Name") for ns in sd.list_namespaces().get("Namespaces", [])}
        namespace_id = ensure_namespace(sd, namespace)
        if namespace not in before:
            created.append(f"namespace {namespace}")
        services = _service_names(sd, namespace_id)
        for w in windows:
            register_window(sd, namespace_id, w.name, base_url=base_url, function_name=local_name(w.name))
            if w.name not in services:
                created.append(f"service {w.name}")
    except (RegistryError, ClientError, BotoCoreError) as exc:
        return None, created, f"Cloud Map registration failed ({exc}): windows use HMS_SERVICES"
    return namespace, created, None


def _service_names(sd: Any, namespace_id: str) -> set[str]:
    resp = sd.list_services(Filters=[{"Name": "NAMESPACE_ID", "Values": [namespace_id], "Condition": "EQ"}])
    names = {str(s.get("Name")) for s in resp.get("Services", [])}
    while resp.get("NextToken"):
        resp = sd.list_services(
            Filters=[{"Name": "NAMESPACE_ID", "Values": [namespace_id], "Condition": "EQ"}],
            NextToken=resp["NextToken"],
        )
        names |= {str(s.get("Name")) for s in resp.get("Services", [])}
    return names


def plan(
    platform: Platform,
    endpoint: str,
    *,
    base_url: str | None = None,
    visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT,
    email_sender: str = DEFAULT_EMAIL_SENDER,
    ca_bundle: str | None = None,
    trust_file: str | None = None,
    event_bus: str = EVENT_BUS,
    namespace: str | None = NAMESPACE,
    resources: Resources | None = None,
) -> Provisioned:
    """What ``provision`` will create, named, without calling the endpoint: enough for every
    window's environment, so ``hms up`` starts the workers while the resources are being created.

    ``namespace`` is the Cloud Map namespace the windows are told about (``None``: no Cloud Map);
    there is none without a ``base_url`` to register. ``resources`` defaults to the platform's own.
    """
    if not 0 <= visibility_timeout <= MAX_VISIBILITY_TIMEOUT:
        raise ProvisionError(
            f"visibility timeout {visibility_timeout}s: must be 0..{MAX_VISIBILITY_TIMEOUT} seconds"
        )
    model = resources or build_resources(platform)
    return Provisioned(
        endpoint=endpoint,
        resources={
            t.window: WindowResources(table_name=t.local_name, bucket_name=_bucket_name(model, t.window))
            for t in model.tables
        },
        event_bus=event_bus if model.bus.carries_events else None,
        publishers=frozenset(platform.topology.publishers.values()),
        namespace=namespace if base_url is not None else None,
        services={w.name: base_url.rstrip("/") for w in platform.windows} if base_url is not None else {},
        email_sender=email_sender if model.sends_email else None,
        ca_bundle=ca_bundle,
        trust_file=trust_file,
        visibility_timeout=visibility_timeout,
    )


def provision(
    platform: Platform,
    endpoint: str,
    *,
    base_url: str | None = None,
    visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT,
    email_sender: str = DEFAULT_EMAIL_SENDER,
    ca_bundle: str | None = None,
    trust_file: str | None = None,
    event_bus: str = EVENT_BUS,
    namespace: str = NAMESPACE,
    log: Callable[[str], None] | None = None,
    clients: ClientSource | None = None,
) -> Provisioned:
    """Create (idempotently) every local resource of the platform.

    Each window's table (and bucket); when the topology has events: the bus, and per subscription
    its DLQ, its queue and its rule; the SES sender when a window sends email; with a ``base_url``
    (the gateway's), the Cloud Map namespace and each window registered in it (``namespace`` is
    ``None`` in the result when the endpoint has no Cloud Map: the windows use ``HMS_SERVICES``).
    ``clients`` defaults to boto3 clients for ``endpoint``.
    """
    model = build_resources(platform)
    planned = plan(
        platform,
        endpoint,
        base_url=base_url,
        visibility_timeout=visibility_timeout,
        email_sender=email_sender,
        ca_bundle=ca_bundle,
        trust_file=trust_file,
        event_bus=event_bus,
        namespace=namespace,
        resources=model,
    )
    clients = clients or AwsClients(endpoint)
    ddb = clients.client("dynamodb")
    s3 = clients.client("s3") if model.buckets else None
    events = clients.client("events") if planned.event_bus is not None else None
    sqs = clients.client("sqs") if planned.event_bus is not None else None
    ses = clients.client("ses") if planned.email_sender is not None else None
    sd = clients.client("servicediscovery") if base_url is not None else None

    def storage() -> list[str]:
        created: list[str] = []
        for table in model.tables:
            if ensure_table(ddb, table.local_name):
                created.append(f"table {table.local_name}")
            bucket = model.bucket(table.window)
            if bucket is not None and s3 is not None and ensure_bucket(s3, bucket.local_name):
                created.append(f"bucket {bucket.local_name}")
        return created

    def delivery() -> tuple[dict[str, SubscriptionResources], list[str]]:
        subscriptions: dict[str, SubscriptionResources] = {}
        created: list[str] = []
        if planned.event_bus is None or events is None or sqs is None:
            return subscriptions, created
        try:
            if ensure_bus(events, planned.event_bus):
                created.append(f"bus {planned.event_bus}")
            bus = planned.event_bus

            def one(delivery: Delivery) -> tuple[SubscriptionResources, list[str]]:
                return ensure_delivery(sqs, events, bus, delivery, visibility_timeout=visibility_timeout)

            # a dozen calls each, independent: in parallel (the emulator serves them concurrently)
            with ThreadPoolExecutor(max_workers=8, thread_name_prefix="hms-provision-sub") as subs:
                for res, new in subs.map(one, model.deliveries):
                    subscriptions[res.name] = res
                    created.extend(new)
        except BotoCoreError as exc:
            raise ProvisionError(f"events: {exc}") from exc
        return subscriptions, created

    def identity_and_registry() -> tuple[str | None, list[str], str | None]:
        created: list[str] = []
        if planned.email_sender is not None and ses is not None:
            try:
                if ensure_email_identity(ses, planned.email_sender):
                    created.append(f"email identity {planned.email_sender}")
            except BotoCoreError as exc:
                raise ProvisionError(f"SES identity {planned.email_sender}: {exc}") from exc
        if base_url is None or sd is None:
            return None, created, None
        registered, new, note = register_windows(sd, namespace, platform.windows, base_url)
        return registered, created + new, note

    # three independent groups, each mostly waiting on the endpoint: in parallel
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="hms-provision") as pool:
        f_storage, f_delivery, f_registry = (
            pool.submit(storage),
            pool.submit(delivery),
            pool.submit(identity_and_registry),
        )
        created = f_storage.result()
        subscriptions, created_events = f_delivery.result()
        registered, created_registry, note = f_registry.result()
    if note and log is not None:
        log(f"hms: {note}")
    return replace(
        planned,
        created=tuple(created + created_events + created_registry),
        subscriptions=subscriptions,
        namespace=registered,
        notes=(note,) if note else (),
    )


def _bucket_name(model: Resources, window: str) -> str | None:
    bucket = model.bucket(window)
    return bucket.local_name if bucket else None


def write_trust_file(ca: Path, dest: Path) -> Path:
    """``dest``: the system's trusted CAs (else certifi's) followed by the local CA.

    ``SSL_CERT_FILE`` replaces OpenSSL's default CA file, so pointing it at the local CA alone would
    make a window under ``--tls`` distrust every public site it calls over urllib3's default context.
    Rewritten only when its content changes.
    """
    import ssl

    parts: list[str] = []
    paths = ssl.get_default_verify_paths()
    candidates = [paths.cafile, paths.openssl_cafile]
    try:
        import certifi

        candidates.append(certifi.where())
    except ImportError:
        pass
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            parts.append(Path(candidate).read_text(encoding="ascii", errors="ignore"))
            break
    parts.append(ca.read_text(encoding="ascii"))
    content = "\n".join(part.strip() for part in parts) + "\n"
    if not dest.is_file() or dest.read_text(encoding="ascii", errors="ignore") != content:
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(content, encoding="ascii")
    return dest


def cloud_map_supported(endpoint: str) -> bool:
    """Whether ``endpoint`` serves Cloud Map (LocalStack's free edition does not); False when it
    cannot tell (the registration then reports why)."""
    from hms.local.registry import RegistryError, registry_supported

    try:
        return registry_supported(aws_client("servicediscovery", endpoint))
    except RegistryError:
        return False
