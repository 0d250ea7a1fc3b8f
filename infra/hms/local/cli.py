"""The local runtime's commands: ``hms up``, ``hms token``, ``hms dlq``; ``hms logs``, ``hms events``,
``hms invoke`` and ``hms openapi`` live in ``hms.local.observe_cli``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any


def cmd_up(args: argparse.Namespace) -> int:
    from hms.local.emulator import EmulatorError, resolve_endpoint
    from hms.local.up import UpError, UpOptions, run
    from hms.project import find_root

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
        emulator=args.emulator,
        tls=args.tls,
        workers_per_window=args.workers,
        concurrency=args.concurrency,
        scale_out_delay=args.scale_out_delay,
        watch=not args.no_watch,
        visibility_timeout=args.visibility_timeout,
        email_sender=args.email_sender,
    )
    try:
        return asyncio.run(run(opts), loop_factory=_loop_factory())
    except UpError as exc:
        print(f"hms up: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _visibility_timeout(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds") from None
    if not 0 <= value <= 43200:
        raise argparse.ArgumentTypeError("must be 0..43200 seconds (SQS's limit)")
    return value


def _loop_factory() -> Any:
    """uvloop when installed (it comes with uvicorn[standard]): the gateway's event loop."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def cmd_token(args: argparse.Namespace) -> int:
    from hms.local.devauth import DevIssuer
    from hms.project import find_root

    root = find_root(Path(args.root).resolve())
    if args.ttl <= 0:
        print("hms token: --ttl must be a positive number of seconds", file=sys.stderr)
        return 2
    issuer = DevIssuer(root / ".hms")
    print(issuer.mint(args.sub, args.scope, ttl=args.ttl))
    return 0


LOCAL_ENDPOINT = "http://127.0.0.1:4566"


def _sqs_client(endpoint: str) -> Any:
    """SQS for ``--endpoint``: ``aws`` is real AWS (the default credential chain), else a URL (or
    ``localstack``) with the emulator's dummy credentials."""
    if endpoint.lower() == "aws":
        import boto3

        return boto3.client("sqs")
    from hms.local.emulator import resolve_endpoint
    from hms.local.provision import aws_client

    url = resolve_endpoint(endpoint)
    assert url is not None
    return aws_client("sqs", url)


def cmd_dlq(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError
    from rich.console import Console

    from hms.local import dlq
    from hms.local.emulator import EmulatorError
    from hms.manifest import ManifestErrors
    from hms.model import load_platform
    from hms.project import find_root

    err = Console(stderr=True, highlight=False)
    out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    root = find_root(Path(args.root).resolve())
    try:
        topology = load_platform(root).topology
    except ManifestErrors as exc:
        print(f"hms dlq: the project is invalid:\n{exc}", file=sys.stderr)
        return 2
    where = "AWS" if args.endpoint.lower() == "aws" else args.endpoint
    try:
        sqs = _sqs_client(args.endpoint)
        if args.dlq_command == "list" and not args.subscription:
            out.print(_counts_table(dlq.dlq_counts(sqs, topology, args.prefix), where))
            return 0
        target = dlq.resolve(topology, args.subscription, args.prefix)
        if args.dlq_command == "list":
            letters = dlq.peek(sqs, target, limit=args.max)
            if not letters:
                out.print(f"no dead letters in {target.dlq_name}")
            else:
                out.print(_letters_table(target, letters))
                out.print(f"`hms dlq redrive {target.name}` moves them back to {target.queue_name}")
            return 0
        result = dlq.redrive(sqs, target, limit=args.max)
        out.print(f"moved {result.moved} message(s) from {target.dlq_name} back to {target.queue_name}")
        for line in result.errors:
            err.print(f"  - {line}")
        if result.failed or result.errors:
            err.print(f"hms dlq: {result.failed} message(s) could not be moved; they are still in the DLQ")
            return 1
        return 0
    except dlq.UnknownSubscriptionError as exc:
        print(f"hms dlq: {exc}", file=sys.stderr)
        return 2
    except (dlq.DlqError, EmulatorError) as exc:
        print(f"hms dlq: {exc}", file=sys.stderr)
        return 1
    except (NoCredentialsError, NoRegionError) as exc:
        print(f"hms dlq: {exc} (configure AWS credentials and a region for --endpoint aws)", file=sys.stderr)
        return 1
    except ClientError as exc:
        print(f"hms dlq: {where}: {exc}", file=sys.stderr)
        return 1
    except BotoCoreError as exc:
        print(
            f"hms dlq: cannot reach {where}: {exc}. Is `hms up` running? Pass --endpoint URL "
            f"(or --endpoint aws).",
            file=sys.stderr,
        )
        return 1


def _counts_table(counts: Any, where: str) -> Any:
    from rich.table import Table

    table = Table(title=f"Dead-letter queues — {where}", title_justify="left")
    table.add_column("subscription", style="bold")
    table.add_column("DLQ", no_wrap=True)
    table.add_column("messages", justify="right")
    table.add_column("in flight", justify="right")
    for c in counts:
        if c.exists:
            style = "bold red" if c.messages else ""
            table.add_row(
                c.target.name,
                c.target.dlq_name,
                f"[{style}]{c.messages}[/]" if style else "0",
                str(c.in_flight),
            )
        else:
            table.add_row(c.target.name, c.target.dlq_name, "[dim]missing[/]", "-")
    return table


def _letters_table(target: Any, letters: Any) -> Any:
    from rich.table import Table

    table = Table(title=f"{target.dlq_name}: {len(letters)} message(s), left in place", title_justify="left")
    table.add_column("message id", no_wrap=True)
    table.add_column("event type")
    table.add_column("event id", no_wrap=True)
    table.add_column("receives", justify="right")
    table.add_column("first sent (UTC)", no_wrap=True)
    table.add_column("body")
    for m in letters:
        table.add_row(
            m.message_id,
            m.event_type or "-",
            m.event_id or "-",
            str(m.receive_count),
            m.sent_at.strftime("%Y-%m-%d %H:%M:%S") if m.sent_at else "-",
            m.excerpt,
        )
    return table


def _scale_out_delay(text: str) -> float:
    """``auto`` or milliseconds; the pool's ``scale_out_delay`` in seconds."""
    from hms.local.workers import AUTO_SCALE_OUT

    if text == "auto":
        return AUTO_SCALE_OUT
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither 'auto' nor a whole number of milliseconds"
        ) from None
    if not 0 <= value <= 10_000:
        raise argparse.ArgumentTypeError("must be 'auto' or between 0 and 10000 milliseconds")
    return value / 1000


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def register(subs: Any) -> None:
    from hms.local import observe_cli
    from hms.local.emulator import DEFAULT_EMULATOR, EMULATORS

    observe_cli.register(subs)

    up = subs.add_parser("up", help="run the whole platform locally (no Docker, no AWS account)")
    up.add_argument("--host", default="127.0.0.1", help="gateway address (default 127.0.0.1)")
    up.add_argument("--port", type=int, default=3000, help="gateway port (default 3000)")
    up.add_argument("--aws-port", type=int, default=4566, help="embedded emulator port (default 4566)")
    up.add_argument(
        "--endpoint",
        default=None,
        help="use an external AWS endpoint instead (a URL, or 'localstack'); default: "
        "AWS_ENDPOINT_URL when set, else the embedded emulator (--emulator)",
    )
    up.add_argument(
        "--emulator",
        choices=EMULATORS,
        default=DEFAULT_EMULATOR,
        help="the embedded emulator when no endpoint is given: ministack (default; constant cost per call, "
        "from .venv-ministack) or moto (moto server)",
    )
    up.add_argument("--tls", action="store_true", help="serve HTTPS with a locally generated CA (.hms/tls/)")
    up.add_argument(
        "--workers",
        type=_positive,
        default=1,
        help="execution environments started with each window and kept warm (default 1); more are added "
        "on demand up to the window's concurrency",
    )
    up.add_argument(
        "--concurrency",
        type=_positive,
        default=None,
        help="the most execution environments of every window (default: each manifest's window.concurrency)",
    )
    up.add_argument(
        "--scale-out-delay",
        type=_scale_out_delay,
        default="auto",
        metavar="MS|auto",
        help="start another execution environment only for a request that waited this long for a busy "
        "one (default auto: as long as the window's last cold start took; 0 starts one at once, as "
        "Lambda does)",
    )
    up.add_argument("--no-watch", action="store_true", help="do not reload manifests and code on change")
    up.add_argument(
        "--visibility-timeout",
        type=_visibility_timeout,
        default=30,
        metavar="SECONDS",
        help="SQS visibility timeout of the subscription queues: how long a failed event waits before "
        "it is delivered again (default 30; 1-2 to watch retries and the DLQ quickly)",
    )
    up.add_argument(
        "--email-sender",
        default="no-reply@hms.local",
        metavar="ADDRESS",
        help="the SES sender identity verified for email windows (default no-reply@hms.local)",
    )
    up.set_defaults(func=cmd_up)

    tok = subs.add_parser("token", help="print a signed dev token for the local gateway")
    tok.add_argument("--sub", required=True, help="the citizen (token subject)")
    tok.add_argument("--scope", action="append", default=[], help="a scope; repeat for more")
    tok.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")
    tok.set_defaults(func=cmd_token)

    where = argparse.ArgumentParser(add_help=False)
    where.add_argument(
        "--endpoint",
        default=LOCAL_ENDPOINT,
        metavar="URL|aws",
        help=f"the AWS endpoint: a URL (default {LOCAL_ENDPOINT}, the emulator of `hms up`), 'localstack', "
        "or 'aws' for real AWS with the default credential chain",
    )
    where.add_argument(
        "--prefix",
        default="hms-",
        help="queue-name prefix (default hms-; in AWS the stack's: --prefix mystack-)",
    )
    dlq = subs.add_parser("dlq", help="dead letters of the event subscriptions: list them, move them back")
    actions = dlq.add_subparsers(dest="dlq_command", required=True)
    ls = actions.add_parser(
        "list",
        parents=[where],
        help="every DLQ with its message count; with a subscription, its messages (left in place)",
    )
    ls.add_argument(
        "subscription", nargs="?", help="e.g. notifications-RenewalSubmitted, or its queue/DLQ name"
    )
    ls.add_argument("--max", type=_positive, default=50, help="messages to show at most (default 50)")
    ls.set_defaults(func=cmd_dlq)
    rd = actions.add_parser(
        "redrive", parents=[where], help="move a subscription's dead letters back to its queue"
    )
    rd.add_argument("subscription", help="e.g. notifications-RenewalSubmitted, or its queue/DLQ name")
    rd.add_argument("--max", type=_positive, default=None, help="move at most N messages (default: all)")
    rd.set_defaults(func=cmd_dlq)
