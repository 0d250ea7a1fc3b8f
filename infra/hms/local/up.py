"""``hms up``: the whole platform on one machine, no Docker, no AWS account.

1. the AWS emulator: ministack (or moto server) on 127.0.0.1, or an external endpoint such as LocalStack;
2. tables and buckets provisioned from the same model that writes ``template.yaml``; from the event
   topology the bus, a queue + DLQ + rule per subscription; the SES sender; Cloud Map registrations
   (created while the workers cold-start: nothing touches AWS before the first request);
3. one worker process per window running its real Lambda handler;
4. the event pump (each subscription queue long-polled into its consumer, as an SQS event source
   mapping) and the outbox relay (after each invocation of a publishing window, and every second);
5. the local API gateway (uvicorn) doing what API Gateway HTTP API does: routes from the manifests,
   JWT verification against the dev issuer, scopes, payload 2.0/1.0 events, problem+json errors;
6. hot manifests (``routes/``) and code reloads (``functions/``, ``layers/``).

Ctrl-C (SIGINT) or SIGTERM stops everything it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hms.manifest import ManifestErrors
from hms.model import Platform, load_platform

Log = Callable[[str], None]


def default_log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class UpOptions:
    root: Path
    host: str = "127.0.0.1"
    port: int = 3000
    aws_port: int = 4566
    endpoint: str | None = None
    emulator: str = "ministack"  # the embedded emulator when no endpoint is given: ministack or moto
    tls: bool = False
    workers_per_window: int = 1  # execution environments kept warm per window
    concurrency: int | None = None  # overrides every window's window.concurrency locally
    scale_out_delay: float = 0.0  # seconds a request waits for a busy environment before a new one starts
    watch: bool = True
    quiet_table: bool = False
    visibility_timeout: int = 30  # seconds before a failed event is delivered again
    email_sender: str = "no-reply@hms.local"

    @property
    def state_dir(self) -> Path:
        return self.root / ".hms"

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def local_base_url(self) -> str:
        """The gateway as the windows on this machine call it (a wildcard address means loopback)."""
        host = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(self.host, self.host)
        return f"{self.scheme}://{host}:{self.port}"


class UpError(Exception):
    """``hms up`` cannot start; the message says why and what to do."""


@dataclass
class RouteHolder:
    """The live route table; the manifest watcher swaps it, the gateway reads it per request."""

    platform: Platform
    table: Any
    generation: int = 1
    last_error: str | None = None
    changed_at: float = field(default_factory=time.time)

    def install(self, platform: Platform) -> None:
        """Put ``platform``'s routes, scopes and throttles in force for the next request."""
        from hms.local.routing import RouteTable

        self.table = RouteTable.from_platform(platform)
        self.platform = platform
        self.generation += 1
        self.last_error = None
        self.changed_at = time.time()


def _manifest_or_entry(root: Path) -> Callable[[Any, str], bool]:
    """A manifest under ``routes/``, or a window's entry file (``functions/<w>/<w>/handler.py`` or
    ``app.py``): what decides which windows exist."""
    routes, functions = (root / "routes").resolve(), (root / "functions").resolve()

    def accept(_change: Any, raw: str) -> bool:
        path = Path(raw).resolve()
        if path.parent == routes:
            return path.suffix in (".yaml", ".yml")
        return (
            path.name in ("handler.py", "app.py")
            and path.parent.parent.parent == functions
            and path.parent.name == path.parent.parent.name
        )

    return accept


async def watch_manifests(
    holder: RouteHolder,
    root: Path,
    log: Log,
    stop: asyncio.Event,
    apply: Callable[[Platform, Platform], Awaitable[Any]] | None = None,
) -> None:
    """Reload ``routes/`` within a second of a change; a broken set is reported, the last good kept.

    ``apply(old, new)`` (``hms.local.live``) starts, restarts and stops windows and installs the new
    routes; without it only the routes change."""
    from watchfiles import awatch

    paths = [p for p in (root / "routes", root / "functions") if p.is_dir()]
    async for _changes in awatch(
        *paths, watch_filter=_manifest_or_entry(root), debounce=150, step=50, stop_event=stop
    ):
        try:
            platform = load_platform(root)
        except ManifestErrors as exc:
            holder.last_error = str(exc)
            log(f"hms: manifests NOT reloaded, keeping the last good set:\n{exc}")
            continue
        if apply is not None:
            await apply(holder.platform, platform)
        else:
            holder.install(platform)
        log(f"hms: manifests reloaded ({sum(len(w.routes) for w in platform.windows)} routes)")


def subscriptions_table(platform: Platform, provisioned: Any) -> Any:
    """Every subscription: event type, publisher -> consumer, its queue and DLQ."""
    from rich.table import Table

    topology = platform.topology
    table = Table(
        title=(
            f"Subscriptions — bus {provisioned.event_bus}: redelivery after {provisioned.visibility_timeout}s, "
            f"DLQ after {topology.max_receive_count} receives, batches of {topology.batch_size}"
        ),
        title_justify="left",
        expand=False,
    )
    table.add_column("event", style="bold")
    table.add_column("publisher -> consumer")
    table.add_column("queue", no_wrap=True)
    table.add_column("DLQ", no_wrap=True)
    for sub in topology.subscriptions:
        res = provisioned.subscriptions.get(sub.name)
        table.add_row(
            sub.event_type,
            f"{sub.publisher} -> {sub.consumer}",
            res.queue_name if res else sub.local_queue_name(),
            res.dlq_name if res else sub.local_dlq_name(),
        )
    return table


def startup_table(
    opts: UpOptions,
    platform: Platform,
    pool: Any,
    endpoint: str,
    embedded: bool,
    provisioned: Any | None = None,
) -> Any:
    from rich.table import Table

    states = {s.name: s for s in pool.status() if s.index == 0}
    limits = {c.name: c.concurrency for c in pool.window_stats()}
    table = Table(title=f"HMS windows — {opts.base_url}", title_justify="left", expand=False)
    table.add_column("window", style="bold")
    table.add_column("route", no_wrap=True)
    table.add_column("scopes (any of)")
    table.add_column("rate limit")
    table.add_column("environments")
    for w in platform.windows:
        state = states.get(w.name)
        worker = f"{state.state} pid {state.pid}, up to {limits.get(w.name, '?')}" if state else "-"
        for i, r in enumerate(w.routes):
            scopes = ", ".join(r.scopes) if r.scopes else ("any token" if r.authorized else "public")
            limit = (
                f"{w.rate_limit.limit}/{w.rate_limit.window}s per principal"
                if (w.rate_limit and r.rate_limited)
                else "-"
            )
            table.add_row(w.name if i == 0 else "", r.key, scopes, limit, worker if i == 0 else "")
        table.add_section()
    urls = Table.grid(padding=(0, 2))
    urls.add_row("gateway", opts.base_url)
    urls.add_row("portal", f"{opts.base_url}/ (sign in as a test citizen; build it with make web)")
    urls.add_row("JWKS", f"{opts.base_url}/.well-known/jwks.json")
    urls.add_row("health", f"{opts.base_url}/_hms/health")
    urls.add_row("console", f"{opts.base_url}/_hms/ (traces, logs, events, DLQs, emails, metrics, API docs)")
    urls.add_row("AWS endpoint", f"{endpoint} ({f'embedded {opts.emulator}' if embedded else 'external'})")
    if provisioned is not None:
        if provisioned.event_bus is not None:
            where = "" if endpoint == "http://127.0.0.1:4566" else f" --endpoint {endpoint}"
            urls.add_row(
                "event bus",
                f"{provisioned.event_bus} ({len(provisioned.subscriptions)} subscriptions; "
                f"dead letters: hms dlq list{where})",
            )
        if provisioned.namespace is not None:
            urls.add_row("Cloud Map", f"namespace {provisioned.namespace} ({len(platform.windows)} windows)")
        elif provisioned.services:
            urls.add_row("discovery", "static HMS_SERVICES (no Cloud Map on this endpoint)")
    if opts.tls:
        urls.add_row("CA certificate", str(opts.state_dir / "tls" / "ca.pem"))
    urls.add_row("token", "hms token --sub alice --scope payments.write --scope payments.read")
    return table, urls


async def run(
    opts: UpOptions,
    log: Log = default_log,
    ready: Callable[[], None] | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from hms.local.devauth import DevIssuer
    from hms.local.emulator import EmulatorError, check_port_free, spawn_emulator
    from hms.local.gateway import Gateway
    from hms.local.portal import LocalSite
    from hms.local.provision import (
        NAMESPACE,
        AwsClients,
        ProvisionError,
        cloud_map_supported,
        plan,
        provision,
        write_trust_file,
    )
    from hms.local.pump import EventPump, bindings_of
    from hms.local.relay import LocalRelay, RelayingInvoker
    from hms.local.routing import RouteTable
    from hms.local.server import serve
    from hms.local.workers import WorkerPool, watch_code

    try:
        platform = load_platform(opts.root)
    except ManifestErrors as exc:
        raise UpError(f"the manifests are invalid; nothing started.\n{exc}") from exc

    # fail fast, before starting anything, when a port is taken
    try:
        check_port_free(opts.host, opts.port)
    except EmulatorError as exc:
        raise UpError(
            f"cannot serve the gateway on {opts.host}:{opts.port}: {exc}. "
            f"Is another `hms up` running? Pick another port with --port."
        ) from exc
    if opts.endpoint is None:
        try:
            check_port_free("127.0.0.1", opts.aws_port)
        except EmulatorError as exc:
            raise UpError(
                f"cannot start the emulator on 127.0.0.1:{opts.aws_port}: {exc}. "
                f"Pick another port with --aws-port, or use --endpoint URL."
            ) from exc

    stop = stop or asyncio.Event()
    # every line of the stack is kept (bounded) for `hms logs` and the console; traces per request
    from hms.local.logbuffer import LogBuffer
    from hms.local.traces import PumpObserver, TraceRecorder

    recorder = TraceRecorder()
    logs = LogBuffer(on_record=recorder.from_log)
    log = logs.tee(log)
    emulator = None
    pool = None
    pump: EventPump | None = None
    relay: LocalRelay | None = None
    provisioning: asyncio.Future[Any] | None = None
    tasks: list[asyncio.Task[Any]] = []
    try:
        if opts.endpoint is None:
            # it boots while the windows cold-start; provisioning waits for it to answer
            try:
                emulator = spawn_emulator(opts.emulator, opts.aws_port)
            except EmulatorError as exc:
                raise UpError(str(exc)) from exc
            endpoint = emulator.endpoint
        else:
            endpoint = opts.endpoint
        certfile = keyfile = ca_bundle = trust_file = None
        if opts.tls:  # before the workers: they trust the local CA for window-to-window calls
            from hms.local.tls import ensure_certificates

            ca, cert, key = ensure_certificates(opts.state_dir, hosts=(opts.host,))
            certfile, keyfile, ca_bundle = str(cert), str(key), str(ca)
            trust_file = str(write_trust_file(ca, opts.state_dir / "tls" / "trust.pem"))
        settings: dict[str, Any] = {
            "base_url": opts.local_base_url,
            "visibility_timeout": opts.visibility_timeout,
            "email_sender": opts.email_sender,
            "ca_bundle": ca_bundle,
            "trust_file": trust_file,
        }
        try:
            plan(platform, endpoint, **settings)  # refuses bad settings before anything is created
        except ProvisionError as exc:
            raise UpError(str(exc)) from exc

        # the emulator boots and the resources are created while the workers cold-start (no window
        # touches AWS at import)
        def create_resources() -> Any:
            if emulator is not None:
                emulator.wait_ready()
            return provision(platform, endpoint, **settings, log=log)

        provisioning = asyncio.ensure_future(asyncio.to_thread(create_resources))
        issuer = DevIssuer(opts.state_dir)
        issuer.jwks()  # create or load the key pair now, not on the first request
        # the windows' environment needs only the names, and whether Cloud Map is there: both
        # embedded emulators have it; an external endpoint (LocalStack's free edition) may not
        cloud_map = emulator is not None or await asyncio.to_thread(cloud_map_supported, endpoint)
        planned = plan(platform, endpoint, **settings, namespace=NAMESPACE if cloud_map else None)

        plans = [planned]  # the last one is the running platform's (hms.local.live replans)
        pool = WorkerPool(
            platform,
            env_for=lambda window: plans[-1].environment_for(window),
            root=opts.root,
            log=log,
            workers_per_window=opts.workers_per_window,
            concurrency=opts.concurrency,
            scale_out_delay=opts.scale_out_delay,
        )
        await pool.start()
        try:
            provisioned = await provisioning
        except EmulatorError as exc:
            raise UpError(str(exc)) from exc
        except (ProvisionError, BotoCoreError, ClientError) as exc:
            raise UpError(f"provisioning against {endpoint} failed: {exc}") from exc
        if planned.namespace is not None and provisioned.namespace is None:
            log("hms: the windows fall back to HMS_SERVICES for discovery")

        bindings = bindings_of(provisioned.subscriptions.values())
        subscription_of = {s.name: s for s in platform.topology.subscriptions}
        # each consumer's batches at once: the template's ScalingConfig.MaximumConcurrency
        pollers = {b.name: platform.mapping_concurrency(subscription_of[b.name]) for b in bindings}
        clients = AwsClients(endpoint, max_pool_connections=2 * sum(pollers.values()) + 8)
        relay = LocalRelay.for_platform(
            platform,
            provisioned,
            dynamodb=clients.client("dynamodb"),
            events=clients.client("events"),
            log=log,
            on_published=recorder.published,
        )
        invoker = RelayingInvoker(pool, relay.kick)
        pump = EventPump(
            bindings,
            invoker,
            clients.client("sqs"),
            batch_size=platform.topology.batch_size,
            timeout_of=lambda consumer: platform.window(consumer).timeout,
            concurrency_of=lambda binding: pollers[binding.name],
            visibility_timeout=provisioned.visibility_timeout,
            log=log,
            observer=PumpObserver(recorder, clients.client("sqs"), log=log),
        )
        await relay.start()
        await pump.start()

        holder = RouteHolder(platform=platform, table=RouteTable.from_platform(platform))

        def health() -> dict[str, Any]:
            return {
                "status": "ok",
                "manifests": {"generation": holder.generation, "error": holder.last_error},
                "windows": [
                    {
                        "name": s.name,
                        "index": s.index,
                        "pid": s.pid,
                        "state": s.state,
                        "restarts": s.restarts,
                        "last_error": s.last_error,
                        "invocations": s.invocations,
                    }
                    for s in pool.status()
                ],
                "concurrency": [dataclasses.asdict(c) for c in pool.window_stats()],
                # every AWS call: each window's (its handler's), and the local platform's own (the
                # event pump and the outbox relay, which are Lambda's and the stream's in AWS)
                "aws_calls": {
                    "windows": {c.name: c.aws_calls for c in pool.window_stats()},
                    "platform": dict(clients.calls),
                },
                "aws_endpoint": endpoint,
                "events": events_health(),
                "discovery": {"namespace": provisioned.namespace, "services": provisioned.services},
            }

        def events_health() -> dict[str, Any]:
            stats = {s.name: s.as_dict() for s in pump.stats()} if pump is not None else {}
            return {
                "bus": provisioned.event_bus,
                "visibility_timeout": provisioned.visibility_timeout,
                "max_receive_count": platform.topology.max_receive_count,
                "subscriptions": [
                    {
                        **stats.get(sub.name, {"name": sub.name}),
                        "event_type": sub.subscription.event_type,
                        "publisher": sub.subscription.publisher,
                        "consumer": sub.subscription.consumer,
                        "queue": sub.queue_name,
                        "dlq": sub.dlq_name,
                    }
                    for sub in provisioned.subscriptions.values()
                ],
                "outbox": {"published": dict(relay.published) if relay is not None else {}},
            }

        site = LocalSite.for_platform(opts.root, issuer, platform)  # the portal and the dev sign-in
        from hms.local.console import Console as DevConsole
        from hms.local.console import Runtime

        def set_recording(enabled: bool) -> None:  # off: the gateway does not even call the recorder
            gateway.on_request = recorder.request if enabled else None

        dev_console = DevConsole(
            Runtime(
                root=opts.root,
                recorder=recorder,
                logs=logs,
                platform=lambda: holder.platform,
                pool=pool,
                pump=pump,
                event_bus=provisioned.event_bus,
                aws=clients.client,
                endpoint=endpoint,
                set_recording=set_recording,
            )
        )
        gateway = Gateway(
            lambda: holder.table,
            invoker,
            issuer,
            log=log,
            health_provider=health,
            jwks_provider=issuer.jwks,
            site=site,
            on_request=recorder.request,
            console=dev_console,
        )
        # --host is the user's explicit choice (default 127.0.0.1), so a non-loopback one is allowed
        server = serve(
            gateway, opts.host, opts.port, ssl_certfile=certfile, ssl_keyfile=keyfile, allow_remote=True
        )

        if opts.watch:
            from hms.local.live import LivePlatform, ManifestChange

            async def prepare(new: Platform, change: ManifestChange) -> None:
                if change.resources:  # a new window's table, bucket, Cloud Map entry (idempotent)
                    await asyncio.to_thread(provision, new, endpoint, **settings, log=log)
                plans.append(plan(new, endpoint, **settings, namespace=planned.namespace))

            def show(change: ManifestChange, changed: Platform) -> None:
                if not opts.quiet_table:
                    from rich.console import Console

                    console = Console(stderr=True, width=None if sys.stderr.isatty() else 150)
                    console.print(startup_table(opts, changed, pool, endpoint, emulator is not None)[0])

            live = LivePlatform(pool, prepare=prepare, swap=holder.install, show=show, log=log)
            tasks.append(asyncio.create_task(watch_manifests(holder, opts.root, log, stop, live.apply)))
            tasks.append(asyncio.create_task(watch_code(pool, opts.root)))

        # SIGINT/SIGTERM stop us in order (gateway, workers, emulator) and exit 0. uvicorn would
        # otherwise capture them and re-raise after its own shutdown, killing us before the cleanup.
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        async def stopper() -> None:
            await stop.wait()
            server.should_exit = True

        tasks.append(asyncio.create_task(stopper()))
        serving = asyncio.create_task(server.serve())
        while not server.started and not serving.done():
            await asyncio.sleep(0.02)
        if serving.done():
            serving.result()
            raise UpError(f"the gateway could not start on {opts.host}:{opts.port}")
        if not opts.quiet_table:
            from rich.console import Console

            console = Console(stderr=True, width=None if sys.stderr.isatty() else 150)
            table, urls = startup_table(opts, platform, pool, endpoint, emulator is not None, provisioned)
            console.print(table)
            if platform.topology.subscriptions:
                console.print(subscriptions_table(platform, provisioned))
            console.print(urls)
            console.print("[bold green]ready[/] — Ctrl-C stops everything")
        if ready:
            ready()
        await serving
        return 0
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        # event delivery first: nothing is handed to a worker that is stopping
        if pump is not None:
            await pump.stop()
        if relay is not None:
            await relay.stop()
        if provisioning is not None and not provisioning.done():
            with contextlib.suppress(Exception):
                await provisioning
        if pool is not None:
            await pool.stop()
        if emulator is not None:
            emulator.stop()
        log("hms: stopped")
