"""The observability verbs: ``hms logs``, ``hms events tail|put``, ``hms invoke``, ``hms openapi``.

``logs``, ``events`` and ``openapi`` talk to a running ``hms up`` through its console API
(``--url``, default ``http://127.0.0.1:3000``; loopback only, as the API is). ``invoke`` needs no
running stack: it runs one window's handler once, in a worker process of its own, with the
environment ``hms up`` gives that window (its AWS calls go to ``--endpoint``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zlib
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEFAULT_URL = "http://127.0.0.1:3000"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
PALETTE = ("cyan", "magenta", "green", "yellow", "blue", "bright_cyan", "bright_magenta", "bright_green")
LEVEL_STYLE = {"DEBUG": "dim", "INFO": "", "WARNING": "yellow", "ERROR": "bold red", "CRITICAL": "bold red"}


class StackError(Exception):
    """The running stack cannot be reached or refused the call; the message says what to do."""


# -- talking to the stack --------------------------------------------------------------------------------


def _api(base: str, path: str, query: Mapping[str, Any] | None = None) -> str:
    q = {k: v for k, v in (query or {}).items() if v not in (None, "", [])}
    return f"{base.rstrip('/')}/_hms/api{path}" + (f"?{urllib.parse.urlencode(q)}" if q else "")


def _get_json(url: str, timeout: float = 10.0) -> Any:
    return _answer(urllib.request.Request(url), timeout)  # noqa: S310 - the local stack


def _post_json(url: str, body: Any, timeout: float = 15.0) -> Any:
    request = urllib.request.Request(  # noqa: S310 - the local stack
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"content-type": "application/json", "x-hms-console": "1"},
    )
    return _answer(request, timeout)


def _answer(request: urllib.request.Request, timeout: float) -> Any:
    """The stack's JSON answer to ``request``; ``StackError`` saying why there is none."""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 - the local stack
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise StackError(_http_reason(exc)) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise StackError(
            f"cannot reach the stack at {request.full_url.split('/_hms')[0]}: {exc}; is `hms up` running?"
        ) from exc


def _http_reason(exc: urllib.error.HTTPError) -> str:
    try:
        detail = json.loads(exc.read()).get("detail")
    except (ValueError, AttributeError):
        detail = None
    return f"the stack answered {exc.code}: {detail or exc.reason}"


def _stream(url: str) -> Iterator[dict[str, Any]]:
    """NDJSON records of a following endpoint, until interrupted (keep-alive ``{}`` lines skipped)."""
    try:
        resp = urllib.request.urlopen(url, timeout=60)  # noqa: S310 - the local stack
    except urllib.error.HTTPError as exc:
        raise StackError(_http_reason(exc)) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise StackError(
            f"cannot reach the stack at {url.split('/_hms')[0]}: {exc}; is `hms up` running?"
        ) from exc
    with resp:
        for raw in resp:
            line = raw.strip()
            if not line:
                continue
            record = json.loads(line)
            if record:
                yield record


# -- rendering ------------------------------------------------------------------------------------------


def _colour(name: str) -> str:
    return PALETTE[zlib.crc32(name.encode()) % len(PALETTE)]


def _clock(at: float | None) -> str:
    if not at:
        return "--:--:--.---"
    moment = datetime.fromtimestamp(at, UTC).astimezone()
    return moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def _console(stream: Any = None) -> Any:
    from rich.console import Console

    out = stream or sys.stdout
    return Console(file=out, highlight=False, soft_wrap=True, force_terminal=None if out.isatty() else False)


def log_line(record: Mapping[str, Any]) -> Any:
    """One log record as a rich Text: time, [source], level, message, fields, correlation id."""
    from rich.text import Text

    source = str(record.get("window") or record.get("source") or "-")
    level = str(record.get("level") or "INFO").upper()
    text = Text()
    text.append(_clock(record.get("at")) + " ", style="dim")
    text.append(f"[{source}]", style=f"bold {_colour(source)}")
    text.append(f" {level:<7} ", style=LEVEL_STYLE.get(level, ""))
    text.append(str(record.get("message", "")), style=LEVEL_STYLE.get(level, "") if level != "INFO" else "")
    fields = record.get("fields") or {}
    if fields:
        shown = " ".join(f"{k}={v}" for k, v in fields.items() if v not in (None, "", [], {}))
        if shown:
            text.append(f"  {shown}", style="dim")
    if record.get("correlation_id") and record.get("source") != "gateway":
        text.append(f"  cid={record['correlation_id']}", style="dim cyan")
    return text


def event_line(entry: Mapping[str, Any]) -> Any:
    from rich.text import Text

    kind = entry.get("kind")
    text = Text()
    text.append(_clock(entry.get("at")) + " ", style="dim")
    style = {
        "published": "bold green",
        "delivery": "bold blue",
        "dead_letter": "bold red",
        "redrive": "bold yellow",
    }
    label = {"published": "published", "delivery": "delivered", "dead_letter": "DLQ", "redrive": "redriven"}
    text.append(f"{label.get(str(kind), str(kind)):<10}", style=style.get(str(kind), ""))
    text.append(f" {entry.get('type') or '?'}", style="bold")
    if entry.get("version"):
        text.append(f" v{entry['version']}")
    if kind == "published":
        text.append(f" from {entry.get('window')} ({entry.get('via')})")
    elif kind == "delivery":
        ok = entry.get("result") == "ok"
        text.append(f" -> {entry.get('consumer')} ")
        text.append("ok" if ok else "failed", style="green" if ok else "bold red")
        text.append(f" receive {entry.get('receive_count')}, {entry.get('ms', 0):.0f} ms")
        if entry.get("error"):
            text.append(f" ({entry['error']})", style="red")
    elif kind in ("dead_letter", "redrive"):
        text.append(f" {entry.get('subscription')}")
    text.append(f"  event {entry.get('event_id')}", style="dim")
    if entry.get("correlation_id"):
        text.append(f"  cid={entry['correlation_id']}", style="dim cyan")
    return text


# -- hms logs -------------------------------------------------------------------------------------------


def cmd_logs(args: argparse.Namespace) -> int:
    query = {
        "window": ",".join(args.windows),
        "level": args.level,
        "correlation_id": args.correlation_id,
        "limit": args.lines,
    }
    out = _console()
    try:
        first = _get_json(_api(args.url, "/logs", query))
        for record in first["records"]:
            _print_record(out, record, args.json, log_line)
        if not args.follow:
            return 0
        for record in _stream(_api(args.url, "/logs", {**query, "follow": 1, "since": first["last_seq"]})):
            _print_record(out, record, args.json, log_line)
    except StackError as exc:
        print(f"hms logs: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


def _print_record(out: Any, record: Mapping[str, Any], as_json: bool, render: Any) -> None:
    if as_json:
        sys.stdout.write(json.dumps(record, default=str) + "\n")
        sys.stdout.flush()
    else:
        out.print(render(record))


# -- hms events -----------------------------------------------------------------------------------------


def cmd_events_tail(args: argparse.Namespace) -> int:
    out = _console()
    try:
        now = _get_json(_api(args.url, "/events", {"since": 10**12}))  # nothing, but where "now" is
        since = max(0, int(now["last_seq"]) - args.last) if args.last else int(now["last_seq"])
        query = {"type": ",".join(args.type or []), "since": since}
        if args.last:
            for entry in _get_json(_api(args.url, "/events", query))["entries"][-args.last :]:
                _print_record(out, entry, args.json, event_line)
            query["since"] = now["last_seq"]
        for entry in _stream(_api(args.url, "/events", {**query, "follow": 1})):
            _print_record(out, entry, args.json, event_line)
    except StackError as exc:
        print(f"hms events tail: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


class SampleError(Exception):
    """The sample or file cannot be put on the bus; the message says why."""


def load_event(root: Path, name: str, version: int | None) -> dict[str, Any]:
    """A stored sample (``events/samples/<Type>.v<N>.json``, the newest without ``--version``) or a
    file, as an event ``detail``; an EventBridge envelope (with ``detail``) is unwrapped."""
    path = Path(name)
    if not path.is_file():
        samples = root / "events" / "samples"
        stem = name.removesuffix(".json")
        if version is not None:
            stem = f"{stem.split('.v')[0]}.v{version}"
        candidates = sorted(samples.glob(f"{stem}.json")) or sorted(
            samples.glob(f"{stem}.v*.json"), key=lambda p: int(p.stem.rsplit(".v", 1)[1])
        )
        if not candidates:
            known = sorted(p.stem for p in samples.glob("*.json"))
            raise SampleError(
                f"no file and no stored sample named {name!r}; samples: {', '.join(known) or 'none'}"
            )
        path = candidates[-1]
    try:
        raw = json.loads(path.read_text())
    except ValueError as exc:
        raise SampleError(f"{path} is not JSON: {exc}") from exc
    if isinstance(raw, dict) and isinstance(raw.get("detail"), dict):
        raw = raw["detail"]
    if not isinstance(raw, dict):
        raise SampleError(f"{path}: an event detail is an object with metadata and data")
    if version is not None and (raw.get("metadata") or {}).get("version") != version:
        raise SampleError(f"{path} is version {(raw.get('metadata') or {}).get('version')}, not {version}")
    return raw


def validate(detail: Mapping[str, Any]) -> Any:
    """The detail checked against its own contract version (exactly, not only the current model)."""
    from pydantic import ValidationError

    from hmskit.contracts import CONTRACTS, ContractError, EventMetadata, parse_detail

    try:
        meta = EventMetadata.model_validate(detail.get("metadata"))
    except ValidationError as exc:
        raise SampleError(f"metadata is invalid: {exc}") from exc
    model = CONTRACTS.get((meta.type, meta.version))
    if model is None:
        known = ", ".join(f"{t} v{v}" for t, v in sorted(CONTRACTS))
        raise SampleError(f"no contract {meta.type} v{meta.version}; known: {known}")
    try:
        model.model_validate(detail.get("data"))
        return parse_detail(dict(detail))
    except (ValidationError, ContractError) as exc:
        raise SampleError(f"{meta.type} v{meta.version} data is invalid: {exc}") from exc


def cmd_events_put(args: argparse.Namespace) -> int:
    from hms.project import find_root

    root = find_root(Path(args.root).resolve())
    try:
        detail = load_event(root, args.sample, args.version)
        if not args.keep_ids:  # a fresh event: consumers deduplicate on event_id
            meta = dict(detail["metadata"])
            meta["event_id"] = uuid.uuid4().hex
            meta["time"] = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            meta["correlation_id"] = args.correlation_id or f"cli-{uuid.uuid4().hex[:12]}"
            detail = {**detail, "metadata": meta}
        elif args.correlation_id:
            detail = {**detail, "metadata": {**detail["metadata"], "correlation_id": args.correlation_id}}
        event = validate(detail)
    except SampleError as exc:
        print(f"hms events put: {exc}", file=sys.stderr)
        return 2
    try:
        answer = _post_json(_api(args.url, "/events"), detail)
    except StackError as exc:
        print(f"hms events put: {exc}", file=sys.stderr)
        return 1
    cid = answer.get("correlation_id")
    print(f"put {event.type} v{event.metadata.version} (event {event.id}) on the bus")
    if cid:
        print(f"trace: {args.url.rstrip('/')}/_hms/#/trace/{cid}  (hms logs --correlation-id {cid})")
    return 0


# -- hms invoke -----------------------------------------------------------------------------------------


def cmd_invoke(args: argparse.Namespace) -> int:
    from hms.manifest import ManifestErrors
    from hms.model import load_platform
    from hms.project import find_root

    root = find_root(Path(args.root).resolve())
    try:
        platform = load_platform(root)
    except ManifestErrors as exc:
        print(f"hms invoke: the manifests are invalid:\n{exc}", file=sys.stderr)
        return 2
    names = [w.name for w in platform.windows]
    if args.window not in names:
        print(f"hms invoke: unknown window {args.window!r}; windows: {', '.join(names)}", file=sys.stderr)
        return 2
    try:
        text = sys.stdin.read() if args.event == "-" else Path(args.event).read_text()
        event = json.loads(text)
    except OSError as exc:
        print(f"hms invoke: cannot read {args.event}: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"hms invoke: the event is not JSON: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_invoke(platform, root, args.window, event, args))


async def _invoke(platform: Any, root: Path, window: str, event: Any, args: argparse.Namespace) -> int:
    from hms.local.errors import WindowFailedError, WorkerError
    from hms.local.provision import plan
    from hms.local.workers import WorkerPool

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    planned = plan(platform, args.endpoint, base_url=args.url, namespace=None)
    pool = WorkerPool(
        platform, env_for=planned.environment_for, root=root, log=log, windows=[window], idle_timeout=0
    )
    await pool.start()
    try:
        state = next((s for s in pool.status() if s.name == window), None)
        if state is None or state.state not in ("ready", "busy"):
            print(
                f"hms invoke: the {window} window did not start: {state.last_error if state else 'no worker'}",
                file=sys.stderr,
            )
            return 1
        result = await pool.invoke(window, event, timeout=args.timeout)
    except WindowFailedError as exc:
        print(json.dumps({"errorType": exc.error_type, "errorMessage": exc.error_message}, indent=2))
        return 1
    except WorkerError as exc:
        print(f"hms invoke: {exc}", file=sys.stderr)
        return 1
    finally:
        await pool.stop()
    print(json.dumps(result, indent=2, default=str))
    return 0


# -- hms openapi ----------------------------------------------------------------------------------------


def cmd_openapi(args: argparse.Namespace) -> int:
    from hms.project import find_root

    root = find_root(Path(args.root).resolve())
    doc_path = root / "docs" / "openapi.json"
    if not doc_path.is_file():
        print("hms openapi: docs/openapi.json does not exist; run `hms template`", file=sys.stderr)
        return 1
    if args.json:
        sys.stdout.write(doc_path.read_text())
        return 0
    doc = json.loads(doc_path.read_text())
    operations = sum(
        1
        for item in (doc.get("paths") or {}).values()
        for m in item
        if m in ("get", "put", "post", "delete", "patch")
    )
    base = args.url.rstrip("/")
    print(f"{doc_path.relative_to(root)}: OpenAPI {doc.get('openapi')}, {operations} operations")
    print(f"document: {base}/_hms/openapi.json")
    print(f"browse:   {base}/_hms/openapi/")
    if args.open:
        import webbrowser

        webbrowser.open(f"{base}/_hms/openapi/")
    return 0


# -- registration ---------------------------------------------------------------------------------------


def _level(text: str) -> str:
    value = text.upper()
    if value == "WARN":
        value = "WARNING"
    if value not in LEVELS:
        raise argparse.ArgumentTypeError(f"one of {', '.join(LEVELS)}")
    return value


def register(subs: Any) -> None:
    stack = argparse.ArgumentParser(add_help=False)
    stack.add_argument(
        "--url",
        default=os.environ.get("HMS_URL", DEFAULT_URL),
        help=f"the running `hms up` (default $HMS_URL, else {DEFAULT_URL})",
    )

    logs = subs.add_parser(
        "logs",
        parents=[stack],
        help="the running stack's log lines: readable, coloured, filtered; -f follows",
    )
    logs.add_argument(
        "windows", nargs="*", metavar="WINDOW", help="only these windows (or gateway, events, outbox, hms)"
    )
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines (Ctrl-C stops)")
    logs.add_argument("--correlation-id", metavar="ID", help="only the lines of one request's trace")
    logs.add_argument("--level", type=_level, help="at least this level (DEBUG, INFO, WARNING, ERROR)")
    logs.add_argument("--json", action="store_true", help="one JSON record a line")
    logs.add_argument("-n", "--lines", type=int, default=100, help="recent lines shown first (default 100)")
    logs.set_defaults(func=cmd_logs)

    events = subs.add_parser(
        "events", help="the local event bus: tail what is published and delivered, put an event"
    )
    actions = events.add_subparsers(dest="events_command", required=True)
    tail = actions.add_parser(
        "tail", parents=[stack], help="each event as it is published, delivered, dead-lettered or redriven"
    )
    tail.add_argument("--type", action="append", metavar="T", help="only this event type (repeat for more)")
    tail.add_argument("--last", type=int, default=0, metavar="N", help="show the last N entries first")
    tail.add_argument("--json", action="store_true", help="one JSON record a line")
    tail.set_defaults(func=cmd_events_tail)
    put = actions.add_parser(
        "put",
        parents=[stack],
        help="validate a stored sample (events/samples/) or a file, then put it on the bus",
    )
    put.add_argument(
        "sample", metavar="SAMPLE|FILE", help="e.g. PaymentCaptured, PaymentCaptured.v1, or a .json file"
    )
    put.add_argument("--version", type=int, help="the sample's contract version (default: the newest stored)")
    put.add_argument(
        "--correlation-id", metavar="ID", help="the correlation id to carry (default: a new one)"
    )
    put.add_argument(
        "--keep-ids",
        action="store_true",
        help="keep the file's event_id and time (consumers will deduplicate it)",
    )
    put.set_defaults(func=cmd_events_put)

    inv = subs.add_parser(
        "invoke", help="run a window's handler once on an event, in its own process, with the local settings"
    )
    inv.add_argument("window")
    inv.add_argument("--event", required=True, metavar="FILE|-", help="the event (JSON); - reads stdin")
    inv.add_argument(
        "--endpoint",
        default=os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
        help="AWS endpoint for the window's calls (default $AWS_ENDPOINT_URL, else hms up's emulator)",
    )
    inv.add_argument(
        "--url",
        default=DEFAULT_URL,
        help=f"the gateway the window calls other windows through (default {DEFAULT_URL})",
    )
    inv.add_argument("--timeout", type=float, default=None, help="seconds (default: the window's timeout)")
    inv.set_defaults(func=cmd_invoke)

    oa = subs.add_parser(
        "openapi", parents=[stack], help="where the running stack serves docs/openapi.json and its UI"
    )
    oa.add_argument("--json", action="store_true", help="print the document itself")
    oa.add_argument("--open", action="store_true", help="open the browsable UI in a browser")
    oa.set_defaults(func=cmd_openapi)
