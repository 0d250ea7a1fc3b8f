"""``hms up`` start-up: from the command to "ready" (every window answering), on this machine.

Each run starts the real CLI (``hms up --no-watch``: the embedded emulator, provisioning, one warm
environment per window, the gateway) on a fresh copy of the project's ``routes/``, ``functions/``,
``layers/`` and ``events/`` in a new temporary directory (so nothing is provisioned yet, as on a
developer's first ``make up``), polls ``/_hms/health`` every 20 ms until every window is ready, then
stops it. The figure is the median of ``--startup-runs`` runs; the goal (issue 8) is under 3 s.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TITLE = "hms up start-up to ready"
GOAL_S = 3.0


def once(workdir: Path) -> float:
    sys.path.insert(0, str(HERE))
    import subprocess

    from gateway import Started, child_env, free_port, get

    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".mypy_cache")
    for part in ("routes", "functions", "layers", "events"):
        shutil.copytree(ROOT / part, workdir / part, ignore=ignore)
    port, aws_port = free_port(), free_port()
    cmd = [
        sys.executable, "-m", "hms.cli", "--root", str(workdir), "up",
        "--port", str(port), "--aws-port", str(aws_port), "--no-watch",
    ]  # fmt: skip
    log = workdir / "hms-up.log"
    started_at = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=workdir, env=child_env(), stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )
    started = Started("hms up", proc, log)
    try:
        while time.monotonic() - started_at < 60:
            if proc.poll() is not None:
                raise RuntimeError(f"`hms up` exited with code {proc.returncode}:\n{started.log_tail()}")
            try:
                status, body = get(f"http://127.0.0.1:{port}/_hms/health", timeout=1.0)
            except OSError:
                status, body = 0, b""
            if status == 200:
                windows = json.loads(body).get("windows", [])
                if windows and all(w["state"] in ("ready", "busy") for w in windows):
                    return time.monotonic() - started_at
            time.sleep(0.02)
        raise RuntimeError(f"`hms up` was not ready within 60 s:\n{started.log_tail()}")
    finally:
        started.stop()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--startup-runs", type=int, default=5, help="hms up start-ups to time (default 5)")


def run(args: argparse.Namespace, console: Console) -> list[Table]:
    times = []
    for i in range(args.startup_runs):
        with console.status(f"startup bench: run {i + 1}/{args.startup_runs}"):
            with tempfile.TemporaryDirectory(prefix="hms-bench-startup-") as tmp:
                times.append(once(Path(tmp)))
    t = Table(title=f"{TITLE} (a fresh project copy each run; goal < {GOAL_S:g} s)", title_justify="left")
    for col in ("runs", "median", "min", "max", "goal"):
        t.add_column(col, justify="right")
    median = statistics.median(times)
    t.add_row(
        str(len(times)),
        f"{median:.2f} s",
        f"{min(times):.2f} s",
        f"{max(times):.2f} s",
        "[green]met[/]" if median < GOAL_S else "[red]missed[/]",
    )
    return [t]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=TITLE)
    add_arguments(parser)
    c = Console(width=160)
    for table in run(parser.parse_args(), c):
        c.print(table)
