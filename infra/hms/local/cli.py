"""The local runtime's commands: ``hms up`` and ``hms token``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any


def cmd_up(args: argparse.Namespace) -> int:
    from hms.cli import find_root
    from hms.local.emulator import EmulatorError, resolve_endpoint
    from hms.local.up import UpError, UpOptions, run

    root = find_root(Path(args.root).resolve())
    try:
        endpoint = resolve_endpoint(args.endpoint)
    except EmulatorError as exc:
        print(f"hms up: {exc}", file=sys.stderr)
        return 2
    opts = UpOptions(
        root=root,
        host=args.host,
        port=args.port,
        aws_port=args.aws_port,
        endpoint=endpoint,
        tls=args.tls,
        workers_per_window=args.workers,
        watch=not args.no_watch,
    )
    try:
        return asyncio.run(run(opts), loop_factory=_loop_factory())
    except UpError as exc:
        print(f"hms up: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _loop_factory() -> Any:
    """uvloop when installed (it comes with uvicorn[standard]): the gateway's event loop."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def cmd_token(args: argparse.Namespace) -> int:
    from hms.cli import find_root
    from hms.local.devauth import DevIssuer

    root = find_root(Path(args.root).resolve())
    if args.ttl <= 0:
        print("hms token: --ttl must be a positive number of seconds", file=sys.stderr)
        return 2
    issuer = DevIssuer(root / ".hms")
    print(issuer.mint(args.sub, args.scope, ttl=args.ttl))
    return 0


def register(subs: Any) -> None:
    up = subs.add_parser("up", help="run the whole platform locally (no Docker, no AWS account)")
    up.add_argument("--host", default="127.0.0.1", help="gateway address (default 127.0.0.1)")
    up.add_argument("--port", type=int, default=3000, help="gateway port (default 3000)")
    up.add_argument("--aws-port", type=int, default=4566, help="embedded emulator port (default 4566)")
    up.add_argument(
        "--endpoint",
        default=None,
        help="use an external AWS endpoint instead (a URL, or 'localstack'); default: "
        "AWS_ENDPOINT_URL when set, else the embedded moto server",
    )
    up.add_argument("--tls", action="store_true", help="serve HTTPS with a locally generated CA (.hms/tls/)")
    up.add_argument("--workers", type=int, default=1, help="worker processes per window (default 1)")
    up.add_argument("--no-watch", action="store_true", help="do not reload manifests and code on change")
    up.set_defaults(func=cmd_up)

    tok = subs.add_parser("token", help="print a signed dev token for the local gateway")
    tok.add_argument("--sub", required=True, help="the citizen (token subject)")
    tok.add_argument("--scope", action="append", default=[], help="a scope; repeat for more")
    tok.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")
    tok.set_defaults(func=cmd_token)
