"""The embedded emulators as a table grows: ministack (``hms up``'s default) against moto server.

Each emulator runs as ``hms up`` runs it (``hms.local.emulator.start_emulator``: ministack from its
own virtualenv, moto server from ``.venv``) on a free loopback port. Against a fresh window table
(``hms.local.provision.ensure_table``, as ``hms up`` creates it) the bench measures, with the same
boto3 client:

* ``TransactWriteItems`` of a window's write (a state item and an outbox item, both conditional on
  being new: what every payment, renewal and upload does) and ``Query`` of one owner's newest 20
  items, ``--emulator-samples`` calls each, medians;
* then stores ``--emulator-items`` more items (``BatchWriteItem``, 25 a call) and measures again;
* the emulator process's resident memory (RSS, its whole process tree) at the start and the end.

Goals (issue 8): the median after the fill is at most 1.5x the median on the empty table, and the
emulator's RSS stays at most 300 MB.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
TITLE = "emulator cost as the data grows: ministack vs moto"
RATIO_GOAL = 1.5
RSS_GOAL_MB = 300.0


@dataclass
class Row:
    emulator: str
    transact_empty_ms: float
    transact_full_ms: float
    query_empty_ms: float
    query_full_ms: float
    rss_start_mb: float
    rss_end_mb: float
    fill_s: float

    @property
    def transact_ratio(self) -> float:
        return self.transact_full_ms / self.transact_empty_ms

    @property
    def query_ratio(self) -> float:
        return self.query_full_ms / self.query_empty_ms


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its children (Linux /proc), in MB."""
    total = 0
    pids = [pid]
    seen: set[int] = set()
    while pids:
        p = pids.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            with open(f"/proc/{p}/task/{p}/children") as f:
                pids += [int(c) for c in f.read().split()]
        except OSError:
            continue
    return total / 1024


def median_ms(fn: Any, n: int) -> float:
    samples = []
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def measure(kind: str, items: int, samples: int) -> Row:
    import boto3
    from botocore.config import Config

    from hms.local.emulator import aws_env, start_emulator
    from hms.local.provision import ensure_table

    port = _free_port()
    with start_emulator(kind, port) as emulator:
        env = aws_env(emulator.endpoint)
        ddb = boto3.client(
            "dynamodb",
            endpoint_url=emulator.endpoint,
            region_name=env["AWS_REGION"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            config=Config(retries={"max_attempts": 2, "mode": "standard"}),
        )
        table = f"bench-{uuid.uuid4().hex[:8]}"
        ensure_table(ddb, table)
        rss_start = rss_mb(emulator.pid)
        run = uuid.uuid4().hex[:6]

        def transact(i: int, phase: str) -> None:
            new = "attribute_not_exists(pk)"
            ddb.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": table,
                            "Item": {
                                "pk": {"S": "OWNER#bench"},
                                "sk": {"S": f"PAYMENT#{phase}{run}{i:06d}"},
                                "amount": {"N": "12.50"},
                            },
                            "ConditionExpression": new,
                        }
                    },
                    {
                        "Put": {
                            "TableName": table,
                            "Item": {"pk": {"S": "OUTBOX"}, "sk": {"S": f"EVENT#{phase}{run}{i:06d}"}},
                            "ConditionExpression": new,
                        }
                    },
                ]
            )

        def query(_i: int) -> None:
            ddb.query(
                TableName=table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
                ExpressionAttributeValues={":pk": {"S": "OWNER#bench"}, ":p": {"S": "PAYMENT#"}},
                ScanIndexForward=False,
                Limit=20,
            )

        for i in range(5):  # warm the connection and the emulator's code paths
            transact(i, "w")
        t_empty = median_ms(lambda i: transact(i, "a"), samples)
        q_empty = median_ms(query, samples)
        started = time.perf_counter()
        for start in range(0, items, 25):
            requests = [
                {
                    "PutRequest": {
                        "Item": {
                            "pk": {"S": f"OWNER#c{(start + k) % 500}"},
                            "sk": {"S": f"PAYMENT#{start + k:08d}"},
                            "amount": {"N": "130.00"},
                            "purpose": {"S": "x" * 60},
                        }
                    }
                }
                for k in range(min(25, items - start))
            ]
            pending: dict[str, Any] = {table: requests}
            while pending:
                pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        fill_s = time.perf_counter() - started
        t_full = median_ms(lambda i: transact(i, "b"), samples)
        q_full = median_ms(query, samples)
        return Row(kind, t_empty, t_full, q_empty, q_full, rss_start, rss_mb(emulator.pid), fill_s)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def table(rows: list[Row], args: argparse.Namespace) -> Table:
    t = Table(
        title=f"{TITLE} ({args.emulator_items:,} items stored between the two measures, medians of "
        f"{args.emulator_samples} calls; goals: ratio <= {RATIO_GOAL}, RSS <= {RSS_GOAL_MB:.0f} MB)",
        title_justify="left",
    )
    for col in (
        "emulator",
        "transact empty",
        "transact full",
        "ratio",
        "query empty",
        "query full",
        "ratio",
        "RSS start",
        "RSS end",
        "fill",
    ):
        t.add_column(col, justify="left" if col == "emulator" else "right")

    def mark(ok: bool) -> str:
        return "" if ok else " [red]✗[/]"

    for r in rows:
        t.add_row(
            r.emulator,
            f"{r.transact_empty_ms:.1f} ms",
            f"{r.transact_full_ms:.1f} ms",
            f"{r.transact_ratio:.2f}x{mark(r.transact_ratio <= RATIO_GOAL)}",
            f"{r.query_empty_ms:.1f} ms",
            f"{r.query_full_ms:.1f} ms",
            f"{r.query_ratio:.2f}x{mark(r.query_ratio <= RATIO_GOAL)}",
            f"{r.rss_start_mb:.0f} MB",
            f"{r.rss_end_mb:.0f} MB{mark(r.rss_end_mb <= RSS_GOAL_MB)}",
            f"{r.fill_s:.1f} s",
        )
    return t


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--emulator-items", type=int, default=10_000, help="items stored between the measures (default 10000)"
    )
    parser.add_argument("--emulator-samples", type=int, default=50, help="calls per median (default 50)")
    parser.add_argument(
        "--emulators",
        default="ministack,moto",
        help="which emulators, comma-separated (default ministack,moto)",
    )


def run(args: argparse.Namespace, console: Console) -> list[Table]:
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    rows = []
    for kind in args.emulators.split(","):
        console.print(f"[dim]emulator bench: {kind}, {args.emulator_items:,} items...[/]")
        rows.append(measure(kind.strip(), args.emulator_items, args.emulator_samples))
    return [table(rows, args)]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=TITLE)
    add_arguments(parser)
    console = Console()
    for t in run(parser.parse_args(), console):
        console.print(t)
