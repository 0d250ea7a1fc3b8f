"""The platform model: every window, its routes and resources, resolved from the manifests.

One model feeds ``template.yaml``, the local gateway and local provisioning, so the three can never
disagree about a route, a scope or a table.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hms.manifest import (
    Manifest,
    ManifestError,
    ManifestErrors,
    RouteDecl,
    Throttle,
    load_manifest,
    window_name_of,
)
from hms.topology import Subscription, Topology, topology_and_errors


@dataclass(frozen=True)
class Route:
    method: str  # GET, POST, ... or ANY
    path: str  # API Gateway syntax: /api/v1/payments/{id}, /api/v1/x/{proxy+}
    scopes: tuple[str, ...]  # any-of; empty = any valid token
    authorized: bool  # False: public route (no auth plugin)
    rate_limited: bool

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class RateLimit:
    limit: int
    window: int

    def __str__(self) -> str:
        return f"{self.limit}/{self.window}"


@dataclass(frozen=True)
class Window:
    name: str
    manifest_file: str
    uri: str
    prefix: str
    routes: tuple[Route, ...]
    proxy: bool  # no explicit routes: the whole prefix goes to the window
    scopes: tuple[str, ...]
    rate_limit: RateLimit | None
    throttle: Throttle | None
    framework: str
    payload_version: str
    timeout: int
    memory: int
    bucket: bool
    code_dir: str  # relative to the project root
    email: bool = False
    settings: tuple[tuple[str, str], ...] = ()  # the manifest's window.environment (HMS_*)
    concurrency: int = 10  # the manifest's window.concurrency
    uris: tuple[str, ...] = ()  # every manifest's uri: one per HTTP contract version it serves

    @property
    def title(self) -> str:
        return self.name[0].upper() + self.name[1:]

    @property
    def handler(self) -> str:
        if self.framework == "chalice":
            return f"{self.name}.app.app"
        return f"{self.name}.handler.lambda_handler"

    @property
    def function_id(self) -> str:
        return f"{self.title}Function"

    @property
    def table_id(self) -> str:
        return f"{self.title}Table"

    @property
    def bucket_id(self) -> str:
        return f"{self.title}Bucket"

    def local_table_name(self) -> str:
        return f"hms-{self.name}"

    def local_bucket_name(self) -> str:
        return f"hms-{self.name}-documents"

    def environment(
        self,
        *,
        table_name: Any,
        bucket_name: Any | None,
        event_bus: Any | None = None,
        namespace: Any | None = None,
        email_sender: Any | None = None,
    ) -> dict[str, Any]:
        """The window's environment: the same keys in the template and under ``hms up``.

        Names are strings locally and CloudFormation references in the template. ``event_bus`` is
        given only to windows that publish, ``email_sender`` only to windows with ``email: true``.
        """
        env: dict[str, Any] = dict(self.settings)
        env |= {
            "HMS_WINDOW": self.name,
            "HMS_TABLE_NAME": table_name,
            "POWERTOOLS_SERVICE_NAME": self.name,
            "POWERTOOLS_METRICS_NAMESPACE": "HMS",
        }
        if self.rate_limit:
            env["HMS_RATE_LIMIT"] = str(self.rate_limit)
        if bucket_name is not None:
            env["HMS_BUCKET_NAME"] = bucket_name
        if event_bus is not None:
            env["HMS_EVENT_BUS"] = event_bus
        if namespace is not None:
            env["HMS_NAMESPACE"] = namespace
        if email_sender is not None and self.email:
            env["HMS_EMAIL_SENDER"] = email_sender
        return env


@dataclass(frozen=True)
class Platform:
    root: Path
    windows: tuple[Window, ...] = field(default_factory=tuple)
    topology: Topology = field(default_factory=Topology.empty)

    def mapping_concurrency(self, subscription: Subscription) -> int:
        """How many batches of one subscription run at once (``ScalingConfig.MaximumConcurrency`` in
        the template, the local event pump's pollers): the consumer's concurrency shared by its
        subscriptions, so together they stay within its reserved concurrency, and at least 2
        (SQS's minimum)."""
        consumer = self.window(subscription.consumer)
        mine = sum(1 for s in self.topology.subscriptions if s.consumer == consumer.name)
        return max(2, consumer.concurrency // max(1, mine))

    def window(self, name: str) -> Window:
        for w in self.windows:
            if w.name == name:
                return w
        raise KeyError(name)


def _routes(m: Manifest) -> tuple[tuple[Route, ...], bool]:
    authorized = m.auth is not None
    scopes = tuple(m.auth.scopes) if m.auth else ()
    if not m.routes:
        return (
            Route("ANY", m.prefix, scopes, authorized, True),
            Route("ANY", m.prefix + "/{proxy+}", scopes, authorized, True),
        ), True
    out = []
    for r in m.routes:
        out.append(_route(r, scopes, authorized))
    return tuple(out), False


def _route(r: RouteDecl, scopes: tuple[str, ...], authorized: bool) -> Route:
    return Route(
        r.method, r.path, tuple(r.scopes) if r.scopes is not None else scopes, authorized, r.rate_limited
    )


def _segments_overlap(a: str, b: str) -> bool:
    sa, sb = a.strip("/").split("/"), b.strip("/").split("/")
    n = min(len(sa), len(sb))
    return sa[:n] == sb[:n]


def _named_by(path: Path) -> set[str]:
    """The window a refused manifest meant: its file's stem, and its upstream if that much parses."""
    names = {path.stem}
    with contextlib.suppress(Exception):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("upstream"), str):
            names.add(window_name_of(data["upstream"]))
    return names


def _names_broken(error: ManifestError, broken: set[str]) -> bool:
    return any(error.reason.startswith(f"{name!r} is not a window") for name in broken)


def _window(
    root: Path, name: str, group: list[tuple[str, Manifest]], errors: list[ManifestError]
) -> Window | None:
    """One window from its manifests: usually one; one per HTTP contract version when it serves several
    (``routes/payments.yaml`` for ``/api/v1/payments/**``, ``routes/payments-v2.yaml`` for
    ``/api/v2/payments/**``). Its routes and scopes are every manifest's; its settings (``window:``,
    ``throttle``) are in its own manifest (``routes/<window>.yaml``, else the one that has them), its
    rate limit is the same in each (the window counts one)."""
    declares = [g for g in group if "window" in g[1].model_fields_set]
    named = [g for g in group if Path(g[0]).stem == name]
    file, m = (named or declares or group)[0]
    code_dir = root / "functions" / name
    entry = code_dir / name / ("app.py" if m.window.framework == "chalice" else "handler.py")
    if not entry.is_file():
        errors.append(
            ManifestError(
                file, "upstream", f"{m.upstream!r} names no window: {entry.relative_to(root)} does not exist"
            )
        )
        return None
    ok = True
    for other_file, other in group:
        if other_file == file:
            continue
        for key in ("window", "throttle"):
            if key in other.model_fields_set:
                ok = False
                errors.append(
                    ManifestError(
                        other_file,
                        key,
                        f"the {name} window's {key} is set in {file}: a window has one, in one of its manifests",
                    )
                )
        if other.rate_limit != m.rate_limit:
            ok = False
            errors.append(
                ManifestError(
                    other_file,
                    "plugins",
                    f"rate-limit differs from {file}'s: the {name} window counts one limit for all its manifests",
                )
            )
    if not ok:
        return None
    routes: list[Route] = []
    scopes: dict[str, None] = {}
    proxy = False
    ordered = [(file, m)] + [g for g in group if g[0] != file]  # the window's own manifest first
    for _file, each in ordered:
        more, is_proxy = _routes(each)
        routes.extend(more)
        proxy = proxy or is_proxy
        scopes |= dict.fromkeys(each.auth.scopes if each.auth else ())
    return Window(
        name=name,
        manifest_file=file,
        uri=m.uri,
        prefix=m.prefix,
        routes=tuple(routes),
        proxy=proxy,
        scopes=tuple(scopes),
        rate_limit=RateLimit(m.rate_limit.limit, m.rate_limit.window) if m.rate_limit else None,
        throttle=m.throttle,
        framework=m.window.framework,
        payload_version=m.window.payload_version,
        timeout=m.window.timeout,
        memory=m.window.memory,
        concurrency=m.window.concurrency,
        bucket=m.window.bucket,
        email=m.window.email,
        settings=tuple(sorted(m.window.environment.items())),
        code_dir=str(code_dir.relative_to(root)),
        uris=tuple(each.uri for _f, each in ordered),
    )


def load_platform(root: Path) -> Platform:
    """Load and cross-check every ``routes/*.yaml`` against ``functions/``.

    Raises ``ManifestErrors`` listing every problem; a platform is returned only when there are none.
    """
    root = root.resolve()
    routes_dir = root / "routes"
    files = sorted(routes_dir.glob("*.yaml")) + sorted(routes_dir.glob("*.yml"))
    errors: list[ManifestError] = []
    if not files:
        raise ManifestErrors([ManifestError("routes/", "files", "no route manifests (*.yaml) found")])
    loaded: list[tuple[str, Manifest]] = []
    broken: set[str] = set()  # windows whose manifest was refused: not reported again as "no window"
    for path in files:
        try:
            loaded.append((str(path.relative_to(root)), load_manifest(path, root)))
        except ManifestError as exc:
            errors.append(exc)
            broken |= _named_by(path)
    windows: list[Window] = []
    groups: dict[str, list[tuple[str, Manifest]]] = {}
    prefixes: list[tuple[str, str]] = []
    for file, m in loaded:
        clash = next(((f, p) for f, p in prefixes if _segments_overlap(p, m.prefix)), None)
        if clash:
            errors.append(ManifestError(file, "uri", f"{m.uri!r} overlaps {clash[1]}/** in {clash[0]}"))
            continue
        prefixes.append((file, m.prefix))
        groups.setdefault(m.window_name, []).append((file, m))
    for name, group in groups.items():
        window = _window(root, name, group, errors)
        if window is not None:
            windows.append(window)
    topology, topology_errors = topology_and_errors(root, {w.name for w in windows}, None)
    # a follow-on error ("'documents' is not a window" because its manifest was refused) is the same
    # problem again: only the manifest's own error is reported
    errors.extend(e for e in topology_errors if not _names_broken(e, broken))
    if errors:
        raise ManifestErrors(errors)
    return Platform(root=root, windows=tuple(sorted(windows, key=lambda w: w.name)), topology=topology)
