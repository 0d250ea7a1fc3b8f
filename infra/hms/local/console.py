"""The developer console at ``/_hms/`` and its JSON API at ``/_hms/api/`` (loopback only).

A raw ASGI app mounted by the gateway (``Gateway(console=...)``). Pages: the console itself
(``console/dist/``, built by ``make console``), the OpenAPI document at the stable
``/_hms/openapi.json`` and its browsable UI at ``/_hms/openapi/``. The API:

=================================================  ==========================================================
``GET /_hms/api/overview``                         windows (environments, restarts, cold starts, rate, p50/p99,
                                                   errors), routes with scopes and limits, subscriptions, DLQs
``GET /_hms/api/traces``                           the most recent traces (summaries)
``GET /_hms/api/traces/{correlation_id}``          one trace: every entry, in time order
``DELETE /_hms/api/traces``                        forget every trace
``PUT /_hms/api/traces/recording``                 ``{"enabled": false}`` stops recording (``true`` resumes)
``GET /_hms/api/feed?since=N&kinds=a,b``           recorded entries after ``N`` (the live request log)
``GET /_hms/api/logs?since=&window=&level=``       log records; ``follow=1`` streams them as NDJSON
``GET /_hms/api/events?follow=1&type=T``           published / delivered / dead-lettered events (NDJSON)
``POST /_hms/api/events``                          put one event (a contract's ``detail``) on the local bus
``GET /_hms/api/topology.svg``                     the topology picture (``hms.local.topology_svg``)
``GET /_hms/api/dlqs/{subscription}``              a DLQ's messages, peeked (left in place)
``POST /_hms/api/dlqs/{subscription}/redrive``     move them back to the subscription's queue
``GET /_hms/api/emails``                           the emails the emulator captured, with correlation ids
``GET /_hms/api/metrics``                          each window's Powertools metrics (its EMF lines)
=================================================  ==========================================================

Only loopback clients, with a loopback ``Host`` (no DNS rebinding), are answered; anything that
changes state needs the ``X-HMS-Console`` header, which a cross-site form cannot send.
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

from hms.local.logbuffer import LogBuffer
from hms.local.topology_svg import topology_svg
from hms.local.traces import TraceRecorder

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

PREFIX = "/_hms"
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost", "::ffff:127.0.0.1"})
POLL_SECONDS = 0.25  # how often a stream looks for new records
STREAM_IDLE_SECONDS = 15.0  # a keep-alive line (NDJSON: an empty object; SSE: a comment) this often
MAX_BODY = 256 * 1024
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
# the OpenAPI UI sets style attributes from its scripts
CSP_OPENAPI = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]


class ConsoleError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass
class Runtime:
    """What the console reads from the running stack (``hms up`` builds it; tests pass fakes)."""

    root: Path
    recorder: TraceRecorder
    logs: LogBuffer
    platform: Callable[[], Any]
    pool: Any = None  # status(), window_stats()
    pump: Any = None  # stats(), bindings
    event_bus: str | None = None
    aws: Callable[[str], Any] | None = None  # a boto3 client by service name
    endpoint: str | None = None  # the AWS endpoint (emails are read from the emulator)
    topology_prefix: str = "hms-"
    set_recording: Callable[[bool], None] | None = None
    started: float = field(default_factory=time.time)

    @property
    def dist(self) -> Path:
        return self.root / "console" / "dist"


def _json_body(payload: Any) -> bytes:
    return json.dumps(payload, default=str, separators=(",", ":")).encode()


class Console:
    """The ASGI app (see the module docstring)."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        method: str = scope["method"]
        if not self._local(scope):
            await self._send_json(send, 404, _problem(404, f"no route for {method} {path}"), problem=True)
            return
        try:
            await self._route(scope, receive, send, method, path)
        except ConsoleError as exc:
            await self._send_json(send, exc.status, _problem(exc.status, exc.detail), problem=True)

    # -- access ------------------------------------------------------------------------------------

    @staticmethod
    def _local(scope: Scope) -> bool:
        client = scope.get("client")
        if not client or client[0] not in LOOPBACK:
            return False
        host = _header(scope, b"host") or ""
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return name.strip("[]") in LOOPBACK or name == ""

    @staticmethod
    def _check_write(scope: Scope) -> None:
        if _header(scope, b"x-hms-console") is None:
            raise ConsoleError(403, "state-changing console calls need the X-HMS-Console header")
        if (_header(scope, b"sec-fetch-site") or "same-origin") not in ("same-origin", "none"):
            raise ConsoleError(403, "cross-site requests are refused")

    # -- routing -----------------------------------------------------------------------------------

    async def _route(self, scope: Scope, receive: Receive, send: Send, method: str, path: str) -> None:
        query = {k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode("latin-1")).items()}
        rel = path[len(PREFIX) :]
        if rel in ("", "/") and method in ("GET", "HEAD"):
            if rel == "":
                await self._redirect(send, f"{PREFIX}/")
                return
            await self._static(send, "index.html", csp=CSP)
            return
        if rel == "/openapi.json" and method in ("GET", "HEAD"):
            doc = self.rt.root / "docs" / "openapi.json"
            if not doc.is_file():
                raise ConsoleError(404, "docs/openapi.json does not exist; run `hms template`")
            await self._send(send, 200, doc.read_bytes(), b"application/json")
            return
        if rel in ("/openapi", "/openapi/") and method in ("GET", "HEAD"):
            if rel == "/openapi":
                await self._redirect(send, f"{PREFIX}/openapi/")
                return
            await self._static(send, "openapi/index.html", csp=CSP_OPENAPI)
            return
        if rel.startswith(("/assets/", "/openapi/")) and method in ("GET", "HEAD"):
            await self._static(send, rel.lstrip("/"), csp=CSP_OPENAPI if rel.startswith("/openapi/") else CSP)
            return
        if not rel.startswith("/api/"):
            raise ConsoleError(404, f"no route for {method} {path}")
        await self._api(scope, receive, send, method, rel[len("/api") :], query)

    async def _api(
        self, scope: Scope, receive: Receive, send: Send, method: str, rel: str, query: dict[str, str]
    ) -> None:
        rt = self.rt
        if method != "GET":
            self._check_write(scope)
        if rel == "/overview" and method == "GET":
            await self._send_json(send, 200, self.overview())
        elif rel == "/traces" and method == "GET":
            limit = _int(query.get("limit"), 50, 1, 500)
            await self._send_json(send, 200, {"traces": rt.recorder.traces(limit), **rt.recorder.summary()})
        elif rel == "/traces" and method == "DELETE":
            rt.recorder.clear()
            await self._send_json(send, 200, {"cleared": True, **rt.recorder.summary()})
        elif rel == "/traces/recording" and method == "PUT":
            body = await _read_json(receive)
            enabled = body.get("enabled") if isinstance(body, dict) else None
            if not isinstance(enabled, bool):
                raise ConsoleError(422, 'send {"enabled": true} or {"enabled": false}')
            if rt.set_recording is not None:
                rt.set_recording(enabled)
            rt.recorder.enabled = enabled
            await self._send_json(send, 200, rt.recorder.summary())
        elif rel.startswith("/traces/") and method == "GET":
            cid = unquote(rel[len("/traces/") :])
            trace = rt.recorder.trace(cid)
            if trace is None:
                raise ConsoleError(404, f"no trace recorded for correlation id {cid!r}")
            await self._send_json(send, 200, trace)
        elif rel == "/feed" and method == "GET":
            kinds = [k for k in query.get("kinds", "").split(",") if k] or None
            since = _int(query.get("since"), 0, 0, None)
            entries = rt.recorder.since(since, kinds, limit=_int(query.get("limit"), 200, 1, 2000))
            await self._send_json(send, 200, {"entries": entries, "last_seq": rt.recorder.last_seq})
        elif rel == "/logs" and method == "GET":
            await self._logs(send, query)
        elif rel == "/events" and method == "GET":
            await self._events(send, query)
        elif rel == "/events" and method == "POST":
            await self._send_json(send, 202, await self._put_event(await _read_json(receive)))
        elif rel == "/topology.svg" and method == "GET":
            await self._send(send, 200, topology_svg(rt.platform()).encode(), b"image/svg+xml")
        elif rel == "/dlqs" and method == "GET":
            await self._send_json(send, 200, {"dlqs": self._dlqs()})
        elif rel.startswith("/dlqs/") and rel.endswith("/redrive") and method == "POST":
            name = unquote(rel[len("/dlqs/") : -len("/redrive")])
            await self._send_json(send, 200, await self._redrive(name))
        elif rel.startswith("/dlqs/") and method == "GET":
            await self._send_json(send, 200, await self._peek(unquote(rel[len("/dlqs/") :])))
        elif rel == "/emails" and method == "GET":
            await self._send_json(send, 200, await self._emails())
        elif rel == "/metrics" and method == "GET":
            await self._send_json(send, 200, {"metrics": rt.logs.metrics()})
        else:
            raise ConsoleError(404, f"no console API {method} {PREFIX}/api{rel}")

    # -- views -------------------------------------------------------------------------------------

    def overview(self) -> dict[str, Any]:
        rt = self.rt
        platform = rt.platform()
        traffic = rt.recorder.window_stats()
        workers = list(rt.pool.status()) if rt.pool is not None else []
        stats = {s.name: s for s in rt.pool.window_stats()} if rt.pool is not None else {}
        windows = []
        for w in platform.windows:
            mine = [s for s in workers if s.name == w.name]
            st = stats.get(w.name)
            states = sorted({s.state for s in mine})
            windows.append(
                {
                    "name": w.name,
                    "framework": w.framework,
                    "state": "ready"
                    if "ready" in states or "busy" in states
                    else (states[0] if states else "unknown"),
                    "environments": [
                        {
                            "index": s.index,
                            "pid": s.pid,
                            "state": s.state,
                            "invocations": s.invocations,
                            "init_ms": s.init_ms,
                        }
                        for s in mine
                    ],
                    "restarts": sum(s.restarts for s in mine),
                    "last_error": next((s.last_error for s in mine if s.last_error), None),
                    "concurrency": st.concurrency if st else w.concurrency,
                    "busy": st.busy if st else 0,
                    "cold_starts": st.cold_starts if st else 0,
                    "throttles": st.throttles if st else 0,
                    "traffic": traffic.get(
                        w.name,
                        {
                            "requests": 0,
                            "client_errors": 0,
                            "server_errors": 0,
                            "rate_per_s": 0,
                            "p50_ms": None,
                            "p99_ms": None,
                        },
                    ),
                }
            )
        routes = [
            {
                "window": w.name,
                "method": r.method,
                "path": r.path,
                "scopes": list(r.scopes),
                "authorized": r.authorized,
                "rate_limit": (
                    {"limit": w.rate_limit.limit, "window": w.rate_limit.window}
                    if w.rate_limit and r.rate_limited
                    else None
                ),
            }
            for w in platform.windows
            for r in w.routes
        ]
        return {
            "windows": windows,
            "routes": routes,
            "subscriptions": self._dlqs(),
            "max_receive_count": platform.topology.max_receive_count,
            "recorder": rt.recorder.summary(),
            "event_bus": rt.event_bus,
            "uptime_s": round(time.time() - rt.started, 1),
        }

    def _dlqs(self) -> list[dict[str, Any]]:
        rt = self.rt
        stats = {s.name: s.as_dict() for s in rt.pump.stats()} if rt.pump is not None else {}
        out = []
        for sub in rt.platform().topology.subscriptions:
            st = stats.get(sub.name, {})
            out.append(
                {
                    "name": sub.name,
                    "event_type": sub.event_type,
                    "publisher": sub.publisher,
                    "consumer": sub.consumer,
                    "queue": f"{rt.topology_prefix}{sub.name}",
                    "dlq": f"{rt.topology_prefix}{sub.name}-dlq",
                    "in_dlq": st.get("in_dlq"),
                    "delivered": st.get("delivered", 0),
                    "failed": st.get("failed", 0),
                    "last_error": st.get("last_error"),
                }
            )
        return out

    def _target(self, name: str) -> Any:
        from hms.local import dlq

        try:
            return dlq.resolve(self.rt.platform().topology, name, self.rt.topology_prefix)
        except dlq.UnknownSubscriptionError as exc:
            raise ConsoleError(404, str(exc)) from exc

    def _sqs(self) -> Any:
        if self.rt.aws is None:
            raise ConsoleError(503, "no AWS endpoint: the console cannot reach the queues")
        return self.rt.aws("sqs")

    async def _peek(self, name: str) -> dict[str, Any]:
        from hms.local import dlq

        target = self._target(name)
        sqs = self._sqs()
        try:
            letters = await asyncio.to_thread(dlq.peek, sqs, target, limit=50, wait=0)
        except dlq.DlqError as exc:
            raise ConsoleError(503, str(exc)) from exc
        messages = []
        for m in letters:
            facts = _facts(m.body)
            messages.append(
                {
                    "message_id": m.message_id,
                    "event_type": m.event_type,
                    "event_id": m.event_id,
                    "correlation_id": facts.get("correlation_id"),
                    "receive_count": m.receive_count,
                    "sent_at": m.sent_at.isoformat() if m.sent_at else None,
                    "excerpt": m.excerpt,
                }
            )
        return {"subscription": target.name, "dlq": target.dlq_name, "messages": messages}

    async def _redrive(self, name: str) -> dict[str, Any]:
        from hms.local import dlq

        target = self._target(name)
        sqs = self._sqs()
        try:
            result = await asyncio.to_thread(dlq.redrive, sqs, target, wait=0)
        except dlq.DlqError as exc:
            raise ConsoleError(503, str(exc)) from exc
        return {"subscription": target.name, **asdict(result)}

    async def _put_event(self, body: Any) -> dict[str, Any]:
        """Validate a ``detail`` against its contract, then ``PutEvents`` it on the local bus."""
        from hmskit.contracts import ContractError, parse_detail

        rt = self.rt
        if not isinstance(body, dict):
            raise ConsoleError(422, "send the event's detail: {metadata: {...}, data: {...}}")
        try:
            event = parse_detail(body)
        except ContractError as exc:
            raise ConsoleError(422, str(exc)) from exc
        if rt.event_bus is None or rt.aws is None:
            raise ConsoleError(503, "this stack has no event bus")
        detail = json.dumps(body, separators=(",", ":"), sort_keys=True)
        entry = {
            "Source": f"hms.{event.metadata.source}",
            "DetailType": event.type,
            "Detail": detail,
            "EventBusName": rt.event_bus,
        }
        events = rt.aws("events")
        resp = await asyncio.to_thread(events.put_events, Entries=[entry])
        result = (resp.get("Entries") or [{}])[0]
        if resp.get("FailedEntryCount") or not result.get("EventId"):
            raise ConsoleError(
                502, f"the bus refused the event: {result.get('ErrorCode')} {result.get('ErrorMessage')}"
            )
        rt.recorder.published({**entry, "_via": "hms events put"})
        return {
            "accepted": True,
            "event_id": event.id,
            "type": event.type,
            "version": event.metadata.version,
            "correlation_id": event.metadata.correlation_id,
            "bus_event_id": result.get("EventId"),
        }

    async def _emails(self) -> dict[str, Any]:
        rt = self.rt
        if rt.endpoint is None:
            return {"emails": [], "source": None}
        messages, source = await asyncio.to_thread(captured_emails, rt.endpoint)
        for m in messages:
            m["correlation_id"] = rt.recorder.correlation_of_email(str(m.get("message_id")))
        messages.sort(key=lambda m: m.get("timestamp") or 0, reverse=True)
        return {"emails": messages, "source": source}

    # -- streams -----------------------------------------------------------------------------------

    async def _logs(self, send: Send, query: dict[str, str]) -> None:
        logs = self.rt.logs
        windows = [w for w in query.get("window", "").split(",") if w] or None
        level = query.get("level") or None
        cid = query.get("correlation_id") or None
        since = _int(query.get("since"), 0, 0, None)
        limit = _int(query.get("limit"), 200, 1, 5000)

        def batch(after: int) -> list[dict[str, Any]]:
            return logs.since(after, windows=windows, level=level, correlation_id=cid, limit=limit)

        if query.get("follow") not in ("1", "true"):
            await self._send_json(send, 200, {"records": batch(since), "last_seq": logs.last_seq})
            return
        await self._stream(send, lambda after: batch(after), since, lambda: logs.last_seq)

    async def _events(self, send: Send, query: dict[str, str]) -> None:
        recorder = self.rt.recorder
        kinds = ("published", "delivery", "dead_letter", "redrive")
        wanted = {t for t in query.get("type", "").split(",") if t}
        since = _int(query.get("since"), 0, 0, None)

        def batch(after: int) -> list[dict[str, Any]]:
            entries = recorder.since(after, kinds, limit=2000)
            return [e for e in entries if not wanted or e.get("type") in wanted]

        if query.get("follow") not in ("1", "true"):
            await self._send_json(send, 200, {"entries": batch(since), "last_seq": recorder.last_seq})
            return
        await self._stream(send, batch, since, lambda: recorder.last_seq)

    async def _stream(
        self,
        send: Send,
        batch: Callable[[int], list[dict[str, Any]]],
        since: int,
        last_seq: Callable[[], int],
    ) -> None:
        """NDJSON, one record a line, until the client goes away (a keep-alive ``{}`` when idle)."""
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/x-ndjson"), *SECURITY_HEADERS],
            }
        )
        after = since
        idle = 0.0
        try:
            while True:
                top = last_seq()  # what is filtered out up to here need not be scanned again
                records = batch(after)
                after = max([after, top, *(int(r.get("seq", 0)) for r in records)])
                if records:
                    chunk = b"".join(_json_body(r) + b"\n" for r in records)
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    idle = 0.0
                else:
                    idle += POLL_SECONDS
                    if idle >= STREAM_IDLE_SECONDS:
                        await send({"type": "http.response.body", "body": b"{}\n", "more_body": True})
                        idle = 0.0
                await asyncio.sleep(POLL_SECONDS)
        except (OSError, asyncio.CancelledError):
            return

    # -- plumbing ----------------------------------------------------------------------------------

    async def _static(self, send: Send, rel: str, *, csp: str) -> None:
        dist = self.rt.dist.resolve()
        target = (dist / rel).resolve()
        if not target.is_relative_to(dist) or not target.is_file():
            if rel == "index.html":
                body = (
                    b"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>HMS console</title></head>"
                    b"<body><main><h1>HMS console</h1><p>The console is not built: run <code>make console</code>"
                    b" and reload. Its API answers under <a href='/_hms/api/overview'>/_hms/api/</a>.</p></main></body></html>"
                )
                await self._send(send, 200, body, b"text/html; charset=utf-8", csp=csp)
                return
            raise ConsoleError(404, f"no console file {rel}")
        ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype in ("application/javascript", "image/svg+xml"):
            ctype += "; charset=utf-8"
        await self._send(send, 200, target.read_bytes(), ctype.encode(), csp=csp)

    async def _redirect(self, send: Send, location: str) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 308,
                "headers": [(b"location", location.encode()), (b"content-length", b"0"), *SECURITY_HEADERS],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    async def _send(
        self, send: Send, status: int, body: bytes, ctype: bytes, *, csp: str | None = None
    ) -> None:
        headers = [(b"content-type", ctype), (b"content-length", str(len(body)).encode()), *SECURITY_HEADERS]
        if csp is not None:
            headers.append((b"content-security-policy", csp.encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _send_json(self, send: Send, status: int, payload: Any, *, problem: bool = False) -> None:
        ctype = b"application/problem+json" if problem else b"application/json"
        await self._send(send, status, _json_body(payload), ctype)


# -- helpers -------------------------------------------------------------------------------------------


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _int(text: str | None, default: int, low: int, high: int | None) -> int:
    try:
        value = int(text) if text not in (None, "") else default
    except ValueError:
        raise ConsoleError(400, f"{text!r} is not a whole number") from None
    value = max(low, value)
    return min(value, high) if high is not None else value


def _problem(status: int, detail: str) -> dict[str, Any]:
    titles = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 422: "Unprocessable Content"}
    return {"type": "about:blank", "title": titles.get(status, "Error"), "status": status, "detail": detail}


async def _read_json(receive: Receive) -> Any:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConsoleError(400, "the client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise ConsoleError(413, f"the body is larger than {MAX_BODY} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    try:
        return json.loads(b"".join(chunks) or b"null")
    except ValueError as exc:
        raise ConsoleError(400, f"the body is not JSON: {exc}") from exc


def _facts(body: str) -> dict[str, Any]:
    from hms.local.traces import event_facts

    return event_facts(body)


def captured_emails(endpoint: str, *, timeout: float = 3.0) -> tuple[list[dict[str, Any]], str | None]:
    """The emails an emulator captured: ministack's ``/_ministack/ses/messages``, LocalStack's
    ``/_aws/ses``, or moto's model API (``/moto-api/data.json``); ``([], None)`` when none answers."""
    base = endpoint.rstrip("/")

    def get(path: str) -> Any:
        with urllib.request.urlopen(base + path, timeout=timeout) as resp:  # noqa: S310 - a local endpoint
            return json.loads(resp.read())

    try:
        data = get("/_ministack/ses/messages")
        flat = [m for msgs in (data.get("messages") or {}).values() for m in msgs]
        return [_email(m) for m in flat], "ministack"
    except (urllib.error.URLError, OSError, ValueError, AttributeError):
        pass
    try:
        data = get("/_aws/ses")
        return [_email(m) for m in data.get("messages") or []], "localstack"
    except (urllib.error.URLError, OSError, ValueError, AttributeError):
        pass
    try:
        data = get("/moto-api/data.json")
        found = (data.get("ses") or {}).get("Message") or {}
        items = found.values() if isinstance(found, Mapping) else found
        flat = [m for group in items for m in (group if isinstance(group, list) else [group])]
        return [_email(m) for m in flat], "moto"
    except (urllib.error.URLError, OSError, ValueError, AttributeError):
        return [], None


def _email(m: Mapping[str, Any]) -> dict[str, Any]:
    body = m.get("Body") if isinstance(m.get("Body"), Mapping) else {}
    to = m.get("To") or m.get("destinations") or (m.get("Destination") or {}).get("ToAddresses") or []
    if isinstance(to, Mapping):
        to = to.get("ToAddresses") or []
    return {
        "message_id": m.get("MessageId") or m.get("Id") or m.get("id"),
        "from": m.get("Source") or m.get("source"),
        "to": list(to) if isinstance(to, list | tuple) else [str(to)],
        "subject": m.get("Subject") or m.get("subject"),
        "text": m.get("BodyText") or (body or {}).get("text_part") or m.get("body"),
        "html": m.get("BodyHtml") or (body or {}).get("html_part"),
        "timestamp": m.get("Timestamp"),
    }
