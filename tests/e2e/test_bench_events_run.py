"""The events bench end to end with tiny counts against a real `hms up`: it runs, every event,
renewal and payment arrives, and it cleans up. Never a timing assertion."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from helpers import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

TINY = [
    "--events-count", "20", "--events-rate", "50", "--events-fanout-count", "5",
    "--events-renewals", "2", "--events-payments", "3", "--events-warmup", "3",
]  # fmt: skip


def test_the_events_bench_runs_end_to_end_with_tiny_counts() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "HMS_"))}
    env["COLUMNS"] = "200"

    done = subprocess.run(
        [sys.executable, "bench/run.py", "--only", "events", *TINY],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    flat = " ".join(out.split())  # rich wraps titles and captions to the table's width
    for title in ("1. Local publish -> consumer start", "2. End-to-end renewal", "3. Outbox relay"):
        assert title in flat, out
    assert "relay contribution = p50" in flat
    assert "2/2 renewals" in flat
    for trouble in ("missing", "nothing arrived", "never listed", "answered 429", "clean-up", "Traceback"):
        assert trouble not in out, out
    assert "events took" in out
