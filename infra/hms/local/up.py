"""``hms up``: the whole platform on one machine, no Docker, no AWS account.

1. the AWS emulator: moto server on 127.0.0.1 (or an external endpoint such as LocalStack);
2. tables and buckets provisioned from the same model that writes ``template.yaml``;
3. one worker process per window running its real Lambda handler;
4. the local API gateway (uvicorn) doing what API Gateway HTTP API does: routes from the manifests,
   JWT verification against the dev issuer, scopes, payload 2.0/1.0 events, problem+json errors;
5. hot manifests (``routes/``) and code reloads (``functions/``, ``layers/``).

Ctrl-C (SIGINT) or SIGTERM stops everything it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Callable
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
    tls: bool = False
    workers_per_window: int = 1
    watch: bool = True
    quiet_table: bool = False

    @property
    def state_dir(self) -> Path:
        return self.root / ".hms"

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


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


async def watch_manifests(holder: RouteHolder, root: Path, log: Log, stop: asyncio.Event) -> None:
    """Reload ``routes/`` within a second of a change; a broken set is reported, the last good kept."""
    from watchfiles import awatch

    from hms.local.routing import RouteTable

    async for _changes in awatch(root / "routes", debounce=150, step=50, stop_event=stop):
        try:
            platform = load_platform(root)
        except ManifestErrors as exc:
            holder.last_error = str(exc)
            log(f"hms: manifests NOT reloaded, keeping the last good set:\n{exc}")
            continue
        known = {w.name for w in holder.platform.windows}
        new = [w.name for w in platform.windows if w.name not in known]
        if new:
            log(f"hms: new window(s) {', '.join(new)} need a restart of `hms up` to start their workers")
        holder.table = RouteTable.from_platform(platform)
        holder.platform = platform
        holder.generation += 1
        holder.last_error = None
        holder.changed_at = time.time()
        log(f"hms: manifests reloaded ({sum(len(w.routes) for w in platform.windows)} routes)")


def startup_table(opts: UpOptions, platform: Platform, pool: Any, endpoint: str, embedded: bool) -> Any:
    from rich.table import Table

    states = {s.name: s for s in pool.status()}
    table = Table(title=f"HMS windows — {opts.base_url}", title_justify="left", expand=False)
    table.add_column("window", style="bold")
    table.add_column("route", no_wrap=True)
    table.add_column("scopes (any of)")
    table.add_column("rate limit")
    table.add_column("worker")
    for w in platform.windows:
        state = states.get(w.name)
        worker = f"{state.state} pid {state.pid}" if state else "-"
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
    urls.add_row("JWKS", f"{opts.base_url}/.well-known/jwks.json")
    urls.add_row("health", f"{opts.base_url}/_hms/health")
    urls.add_row("AWS endpoint", f"{endpoint} ({'embedded moto' if embedded else 'external'})")
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
    from hms.local.devauth import DevIssuer
    from hms.local.emulator import EmulatorError, check_port_free, start_moto
    from hms.local.gateway import Gateway
    from hms.local.provision import provision
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
    emulator = None
    pool = None
    tasks: list[asyncio.Task[Any]] = []
    try:
        if opts.endpoint is None:
            emulator = start_moto(opts.aws_port)
            endpoint = emulator.endpoint
        else:
            endpoint = opts.endpoint
        provisioned = await asyncio.to_thread(provision, platform, endpoint)
        issuer = DevIssuer(opts.state_dir)
        issuer.jwks()  # create or load the key pair now, not on the first request

        pool = WorkerPool(
            platform,
            env_for=provisioned.environment_for,
            root=opts.root,
            log=log,
            workers_per_window=opts.workers_per_window,
        )
        await pool.start()

        holder = RouteHolder(platform=platform, table=RouteTable.from_platform(platform))

        def health() -> dict[str, Any]:
            return {
                "status": "ok",
                "manifests": {"generation": holder.generation, "error": holder.last_error},
                "windows": [
                    {
                        "name": s.name,
                        "pid": s.pid,
                        "state": s.state,
                        "restarts": s.restarts,
                        "last_error": s.last_error,
                    }
                    for s in pool.status()
                ],
                "aws_endpoint": endpoint,
            }

        gateway = Gateway(
            lambda: holder.table, pool, issuer, log=log, health_provider=health, jwks_provider=issuer.jwks
        )
        certfile = keyfile = None
        if opts.tls:
            from hms.local.tls import ensure_certificates

            _ca, cert, key = ensure_certificates(opts.state_dir, hosts=(opts.host,))
            certfile, keyfile = str(cert), str(key)
        # --host is the user's explicit choice (default 127.0.0.1), so a non-loopback one is allowed
        server = serve(
            gateway, opts.host, opts.port, ssl_certfile=certfile, ssl_keyfile=keyfile, allow_remote=True
        )

        if opts.watch:
            tasks.append(asyncio.create_task(watch_manifests(holder, opts.root, log, stop)))
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
            table, urls = startup_table(opts, platform, pool, endpoint, emulator is not None)
            console.print(table)
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
        if pool is not None:
            await pool.stop()
        if emulator is not None:
            emulator.stop()
        log("hms: stopped")
